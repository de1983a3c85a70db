"""The three commands as splunkd runs them: the built add-on's scripts in a subprocess,
search command protocol v2 (getinfo, then execute chunks)."""
import csv
import io
import os

import pytest

from command_protocol import messages_of, overlay_app, rows_of, run_command
from splunkd_double import SplunkdDouble

RANGES_CSV = (
    "range,category,list,provider,description\n"
    "198.51.100.0/24,corporate,office-egress,Example Corp,head office\n"
    "203.0.113.0/24,anonymous,tor-exits,Tor,\n"
    "203.0.113.77,suspicious,threat-intel,Intel feed,\n"
    "2001:db8::/32,cloud_provider,aws-ranges,AWS,\n"
)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return overlay_app(tmp_path_factory.mktemp("app"))


def kv_splunkd(app_dir, ranges_csv):
    """A started splunkd double with the add-on's collections and the admin's IP ranges."""
    double = SplunkdDouble()
    double.start()
    double.load_conf_dir(os.path.join(app_dir, "default"))
    for row in csv.DictReader(io.StringIO(ranges_csv)):
        double.kv_insert("trailwatch_ip_ranges", row)
    return double


@pytest.fixture(scope="module")
def splunkd(app):
    double = kv_splunkd(app, RANGES_CSV)
    yield double
    double.stop()
    double.assert_clean()


def errors(info, answers):
    return [text for level, text in messages_of(info, answers) if level in ("ERROR", "FATAL")]


def warnings(info, answers):
    return [text for level, text in messages_of(info, answers) if level == "WARN"]


# ---- trailwatchipclass -------------------------------------------------------------------

def test_ipclass_getinfo_runs_on_the_search_head(app):
    info, _answers, proc = run_command("trailwatchipclass.py", [], [], app_dir=app)
    # splunklib answers type=stateful for distributed=false: the search head runs it, where
    # the KV store holds the admin's ranges.
    assert info.metadata["type"] == "stateful"
    assert "required_fields" not in info.metadata
    assert proc.returncode == 0


def test_ipclass_labels_ipv4_ipv6_most_specific_and_skips_non_ips(app, splunkd, splunk_python):
    rows = [{"src_ip": "198.51.100.20", "user": "a"}, {"src_ip": "203.0.113.77", "user": "b"},
            {"src_ip": "203.0.113.5", "user": "c"}, {"src_ip": "2001:db8:5::1", "user": "d"},
            {"src_ip": "AWS Internal", "user": "e"}, {"src_ip": "ec2.amazonaws.com", "user": "f"},
            {"src_ip": "192.0.2.1", "user": "g"}, {"user": "h"}]
    info, answers, proc = run_command("trailwatchipclass.py", ["field=src_ip"], rows,
                                      python=splunk_python, app_dir=app, splunkd=splunkd)
    assert proc.returncode == 0, proc.stderr_text()
    out = {r["user"]: r for r in rows_of(answers)}
    assert [out[u].get("ip_category") for u in "abcdefgh"] == [
        "corporate", "suspicious", "anonymous", "cloud_provider", None, None, None, None]
    assert out["b"]["ip_list"] == "threat-intel" and out["b"]["ip_provider"] == "Intel feed"
    assert out["a"]["src_ip"] == "198.51.100.20"  # fields pass through


def test_ipclass_multivalue_field_and_prefix(app, splunkd):
    rows = [{"ips": ["10.0.0.1", "203.0.113.9"]}]
    _info, answers, _proc = run_command("trailwatchipclass.py", ["field=ips", "prefix=src_"],
                                        rows, app_dir=app, splunkd=splunkd)
    assert rows_of(answers)[0]["src_category"] == "anonymous"


@pytest.mark.parametrize("args, message", [
    (["field=bad field"], "trailwatchipclass: field must be a field name, not 'bad field'"),
    (["prefix=9x"], "trailwatchipclass: prefix must be a field name"),
    (["colour=red"], "Unrecognized option: colour=red"),
])
def test_ipclass_bad_options_fail_with_a_clear_error(app, args, message):
    info, answers, proc = run_command("trailwatchipclass.py", args, [{"src_ip": "1.1.1.1"}], app_dir=app)
    assert any(message in e for e in errors(info, answers)), messages_of(info, answers)
    assert proc.returncode != 0 and not answers


def test_ipclass_empty_input_and_missing_field(app):
    info, answers, proc = run_command("trailwatchipclass.py", [], [], app_dir=app)
    assert proc.returncode == 0 and rows_of(answers) == [] and not errors(info, answers)
    info, answers, proc = run_command("trailwatchipclass.py", ["field=nothere"], [{"a": "1"}], app_dir=app)
    assert rows_of(answers) == [{"a": "1"}]
    assert any("no record has a value in field 'nothere'" in w for w in warnings(info, answers))


def test_ipclass_reports_bad_rows_in_the_lookup(tmp_path):
    app = overlay_app(tmp_path, {"trailwatch_ip_feed_bad.csv":
                                 "range,category\n10.0.0.0/8,risky\nnonsense,risky\n"})
    info, answers, proc = run_command("trailwatchipclass.py", ["field=ip"], [{"ip": "10.1.1.1"}],
                                      app_dir=app)
    assert rows_of(answers)[0]["ip_list"] == "trailwatch_ip_feed_bad"
    assert any("skipped a range: 'nonsense'" in w for w in warnings(info, answers))


def test_ipclass_skips_an_unusable_lookup_and_says_why(tmp_path):
    app = overlay_app(tmp_path, {"trailwatch_ip_feed_cidr.csv": "cidr,category\n10.0.0.0/8,risky\n",
                                 "trailwatch_ip_feed_good.csv": "range,category\n10.0.0.0/8,anonymous\n"})
    with open(os.path.join(app, "lookups", "trailwatch_ip_feed_latin1.csv"), "wb") as handle:
        handle.write(b"range,category,provider\n192.0.2.0/24,risky,Caf\xe9\n")
    info, answers, proc = run_command("trailwatchipclass.py", ["field=ip"], [{"ip": "10.1.1.1"}],
                                      app_dir=app)
    assert proc.returncode == 0, proc.stderr_text()
    assert rows_of(answers)[0]["ip_category"] == "anonymous"
    found = warnings(info, answers)
    assert any("skipped a lookup: trailwatch_ip_feed_cidr.csv has no 'range' column" in w
               for w in found), found
    assert any("skipped a lookup: trailwatch_ip_feed_latin1.csv: 'utf-8' codec can't decode" in w
               for w in found), found


def test_ipclass_admin_ranges_come_from_the_kv_store_and_win_over_feeds(tmp_path):
    app = overlay_app(tmp_path, {"trailwatch_ip_feed_intel.csv":
                                 "range,category,provider\n198.51.100.0/24,suspicious,Intel\n"})
    double = kv_splunkd(app, RANGES_CSV)
    try:
        info, answers, proc = run_command("trailwatchipclass.py", ["field=ip"],
                                          [{"ip": "198.51.100.7"}, {"ip": "203.0.113.77"}],
                                          app_dir=app, splunkd=double)
        reads = double.find_requests("GET", "/servicesNS/nobody/TA-trailwatch/storage/"
                                     "collections/data/trailwatch_ip_ranges")
    finally:
        double.stop()
    double.assert_clean()
    assert proc.returncode == 0, proc.stderr_text()
    out = rows_of(answers)
    assert (out[0]["ip_category"], out[0]["ip_list"]) == ("corporate", "office-egress")
    assert out[1]["ip_category"] == "suspicious"
    assert reads, "the command did not read the collection through splunkd's REST API"


def test_ipclass_says_when_the_kv_store_cannot_be_read_and_still_uses_feeds(tmp_path):
    app = overlay_app(tmp_path, {"trailwatch_ip_feed_tor.csv": "range,category\n192.0.2.0/24,anonymous\n"})
    # no splunkd: the address in the search info answers nothing
    info, answers, proc = run_command("trailwatchipclass.py", ["field=ip"], [{"ip": "192.0.2.9"}],
                                      app_dir=app)
    assert proc.returncode == 0, proc.stderr_text()
    assert rows_of(answers)[0]["ip_category"] == "anonymous"
    assert any("the admin's IP ranges were not applied: cannot read the KV store collection "
               "trailwatch_ip_ranges" in w for w in warnings(info, answers)), messages_of(info, answers)


# ---- trailwatchtravel --------------------------------------------------------------------

def login(t, user, ip, lat, lon, city, country, category=""):
    return {"_time": str(t), "user": user, "src_ip": ip, "lat": str(lat), "lon": str(lon),
            "City": city, "Country": country, "ip_category": category,
            "aws_account_id": "111122223333", "eventName": "ConsoleLogin"}


PARIS = (48.8566, 2.3522, "Paris", "France")
NEW_YORK = (40.7128, -74.0060, "New York", "United States")
BERLIN = (52.52, 13.405, "Berlin", "Germany")
SYDNEY = (-33.8688, 151.2093, "Sydney", "Australia")


def test_travel_getinfo_is_events_with_required_fields(app):
    info, _answers, proc = run_command("trailwatchtravel.py", ["keep=userIdentity.arn"], [], app_dir=app)
    assert info.metadata["type"] == "events"
    assert info.metadata["required_fields"][:7] == ["_time", "user", "src_ip", "lat", "lon", "City", "Country"]
    assert "ip_category" in info.metadata["required_fields"]
    assert "userIdentity.arn" in info.metadata["required_fields"]
    assert proc.returncode == 0


def test_travel_newest_first_input_gives_both_ends_and_speed(app, splunk_python):
    # Splunk hands events newest first.
    rows = [login(1700007200, "alice", "203.0.113.50", *NEW_YORK),
            login(1700000000, "alice", "198.51.100.7", *PARIS),
            login(1700000100, "bob", "198.51.100.8", *PARIS)]
    info, answers, proc = run_command("trailwatchtravel.py", [], rows,
                                      python=splunk_python, app_dir=app)
    assert proc.returncode == 0, proc.stderr_text()
    out = rows_of(answers)
    assert len(out) == 1
    r = out[0]
    assert (r["from_ip"], r["from_city"], r["from_country"]) == ("198.51.100.7", "Paris", "France")
    assert (r["to_ip"], r["to_city"], r["to_country"]) == ("203.0.113.50", "New York", "United States")
    assert float(r["from_time"]) == 1700000000 and float(r["to_time"]) == 1700007200
    assert float(r["distance_km"]) == pytest.approx(5837, abs=10)  # Paris - New York
    assert float(r["speed_kmh"]) == pytest.approx(5837 / 2, abs=5)
    assert r["travel_severity"] == "high" and r["aws_account_id"] == "111122223333"
    assert "impossible travel: Paris, France (198.51.100.7) to New York" in r["travel_reason"]


def test_travel_keep_carries_fields_from_both_logins(app):
    rows = [dict(login(0, "a", "192.0.2.1", *PARIS), tw_event_id="ev-paris"),
            dict(login(600, "a", "192.0.2.2", *SYDNEY), tw_event_id="ev-sydney")]
    _i, answers, proc = run_command("trailwatchtravel.py", ["keep=tw_event_id"], rows, app_dir=app)
    out = rows_of(answers)
    assert proc.returncode == 0 and len(out) == 1
    assert (out[0]["from_tw_event_id"], out[0]["tw_event_id"]) == ("ev-paris", "ev-sydney")


def test_travel_relay_same_ip_borders_and_all(app):
    rows = [login(0, "u1", "198.51.100.9", *PARIS, category="corporate"),
            login(600, "u1", "203.0.113.9", *SYDNEY),
            login(0, "u2", "192.0.2.1", *PARIS), login(600, "u2", "192.0.2.1", *SYDNEY),
            login(0, "u3", "192.0.2.2", *PARIS), login(600, "u3", "192.0.2.3", *BERLIN)]
    _i, answers, _p = run_command("trailwatchtravel.py", [], rows, app_dir=app)
    assert [r["user"] for r in rows_of(answers)] == ["u3"]
    _i, answers, _p = run_command("trailwatchtravel.py", ["ignore_borders=true", "relay_action=lower"],
                                  rows, app_dir=app)
    out = rows_of(answers)
    assert [(r["user"], r["travel_severity"]) for r in out] == [("u1", "low")]
    _i, answers, _p = run_command("trailwatchtravel.py", ["all=true"], rows, app_dir=app)
    reasons = {r["user"]: r["travel_reason"] for r in rows_of(answers)}
    assert reasons["u2"].startswith("same IP address") and "VPN or relay" in reasons["u1"]


@pytest.mark.parametrize("args, message", [
    (["max_speed=fast"], "trailwatchtravel: max_speed must be a number of at least 0, not 'fast'"),
    (["min_distance=-1"], "min_distance must be a number of at least 0"),
    (["relay_action=ignore"], "relay_action must be one of drop, lower, not 'ignore'"),
    (["relay_categories=vpn"], "relay_categories must be one of risky, anonymous"),
    (["ignore_borders=maybe"], "ignore_borders must be true or false"),
    (["speed=1"], "Unrecognized option: speed=1"),
])
def test_travel_bad_options_fail_with_a_clear_error(app, args, message):
    info, answers, proc = run_command("trailwatchtravel.py", args, [], app_dir=app)
    assert any(message in e for e in errors(info, answers)), messages_of(info, answers)
    assert proc.returncode != 0


def test_travel_empty_input_and_missing_location(app):
    info, answers, proc = run_command("trailwatchtravel.py", [], [], app_dir=app)
    assert proc.returncode == 0 and rows_of(answers) == [] and not errors(info, answers)
    info, answers, proc = run_command("trailwatchtravel.py", [], [{"_time": "1", "user": "a"}],
                                      app_dir=app)
    assert rows_of(answers) == []
    assert any("run iplocation" in w for w in warnings(info, answers))


def test_travel_state_spans_chunks(app):
    rows = [login(0, "a", "192.0.2.1", *PARIS), login(600, "a", "192.0.2.2", *SYDNEY)]
    _i, answers, _p = run_command("trailwatchtravel.py", [], rows, chunk=1, app_dir=app)
    assert [r["user"] for r in rows_of(answers)] == ["a"]


# ---- trailwatchscore ---------------------------------------------------------------------

def test_score_getinfo_and_scores(app, splunk_python):
    rows = [{"user": "a", "count": "30", "median": "2", "mad": "1", "mean": "2", "days": "20"},
            {"user": "b", "count": "30", "median": "2", "mad": "1", "mean": "2", "days": "3"},
            {"user": "c", "count": "4", "median": "2", "mad": "1", "mean": "2", "days": "20"},
            {"user": "d", "count": "11", "median": "10", "mad": "2", "mean": "10", "days": "20"}]
    info, answers, proc = run_command("trailwatchscore.py", ["floor=5", "label=instances terminated"],
                                      rows, python=splunk_python, app_dir=app)
    assert info.metadata["type"] == "streaming" and proc.returncode == 0, proc.stderr_text()
    out = {r["user"]: r for r in rows_of(answers)}
    assert [out[u]["score_state"] for u in "abcd"] == ["anomalous", "learning", "below_floor", "normal"]
    assert out["a"]["score_anomalous"] == "1" and float(out["a"]["score_robust_z"]) == pytest.approx(18.886, abs=1e-3)
    assert out["a"]["score_reason"].startswith("30 instances terminated (usual: median 2, MAD 1; mean 2)")


def test_score_renamed_fields_and_method(app):
    rows = [{"n": "12", "p50": "10", "dev": "2", "avg": "2", "age": "30"}]
    _i, answers, _p = run_command("trailwatchscore.py", ["count=n", "median=p50", "mad=dev", "mean=avg",
                                                         "days=age", "method=robust", "prefix=s_"],
                                  rows, app_dir=app)
    assert rows_of(answers)[0]["s_state"] == "normal"


def test_score_multivalue_fields_count_by_their_first_value(app):
    rows = [{"user": "mv", "count": ["30", "1"], "median": ["2", "40"], "mad": "1", "mean": "2",
             "days": "20"},
            {"user": "single", "count": "30", "median": "2", "mad": "1", "mean": "2", "days": "20"}]
    _i, answers, proc = run_command("trailwatchscore.py", ["floor=5"], rows, app_dir=app)
    out = {r["user"]: r for r in rows_of(answers)}
    assert proc.returncode == 0, proc.stderr_text()
    assert out["mv"]["score_state"] == "anomalous"
    assert {k: v for k, v in out["mv"].items() if k.startswith("score_")} == \
        {k: v for k, v in out["single"].items() if k.startswith("score_")}


@pytest.mark.parametrize("args, message", [
    (["p=2"], "trailwatchscore: p must be a number from 0 to 1, not '2'"),
    (["method=mean"], "method must be one of either, both, robust, poisson"),
    (["min_days=1.5"], "min_days must be a whole number of at least 0"),
    (["count=a b"], "count must be a field name"),
])
def test_score_bad_options_fail_with_a_clear_error(app, args, message):
    info, answers, proc = run_command("trailwatchscore.py", args, [], app_dir=app)
    assert any(message in e for e in errors(info, answers)), messages_of(info, answers)
    assert proc.returncode != 0


def test_score_empty_input_and_missing_fields(app):
    info, answers, proc = run_command("trailwatchscore.py", [], [], app_dir=app)
    assert proc.returncode == 0 and rows_of(answers) == []
    info, answers, proc = run_command("trailwatchscore.py", [], [{"user": "x"}], app_dir=app)
    assert rows_of(answers)[0]["score_state"] == "no_count"
    assert any("no record has a value in the count field 'count'" in w for w in warnings(info, answers))
