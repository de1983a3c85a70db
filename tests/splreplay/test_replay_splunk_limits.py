"""Conformance: the limits and behaviours splreplay models because Splunk documents them.

Each test names the Splunk page it follows (limits.conf.spec, transforms.conf.spec,
savedsearches.conf.spec in the Admin Manual; command pages of the Search Reference; "The
sequence of search-time operations" in the Knowledge Manager Manual).
"""
import json

import pytest

from replay_helpers import bare_app, ev, run
from splreplay.cli import main
from splreplay.errors import ConfigError
from splreplay.limits import Limits
from splreplay.runner import Replay


def _big_record(pad):
    """A record whose 'late' key comes after ``pad`` characters of request parameters."""
    return ev(eventName="RunInstances", early="yes",
              requestParameters={"blob": "x" * pad}, late="yes")


def test_json_extraction_stops_at_the_byte_limit():
    # limits.conf.spec [spath] extraction_cutoff (5000) and [kv] maxchars (10240): automatic
    # JSON extraction reads only the start of _raw; keys past it are not extracted.
    small, big = _big_record(100), _big_record(6000)
    rows = run("* | table eventName early late", [small])
    assert rows == [{"eventName": "RunInstances", "early": "yes", "late": "yes"}]
    rows = run("* | table eventName early late", [big])
    assert rows == [{"eventName": "RunInstances", "early": "yes"}]


def test_json_extraction_limit_counts_bytes_and_can_be_raised_with_limits(tmp_path):
    # Multi-byte characters count as bytes (the spec speaks of bytes).
    rec = ev(early="yes", requestParameters={"blob": "\u00e9" * 2600}, late="yes")
    assert len(json.dumps(rec, ensure_ascii=False)) < 5000
    assert "late" not in run("* | table early late", [rec])[0]
    limits = tmp_path / "limits.conf"
    limits.write_text("[spath]\nextraction_cutoff = 20000\n[kv]\nmaxchars = 20000\n")
    r = Replay(bare_app(), warn=lambda m: None, limits=Limits.from_file(str(limits)))
    assert r.spl("* | table early late", r.events_from_records([rec]))[0]["late"] == "yes"
    # the stricter of the two applies: raising only one changes nothing
    limits.write_text("[kv]\nmaxchars = 20000\n")
    r = Replay(bare_app(), warn=lambda m: None, limits=Limits.from_file(str(limits)))
    assert "late" not in r.spl("* | table early late", r.events_from_records([rec]))[0]


def test_json_extraction_keeps_every_complete_value_before_the_cut():
    # Array items before the cut are extracted; the one the cut goes through is not.
    items = [{"instanceId": "i-%04d" % i, "pad": "p" * 90} for i in range(80)]
    rec = ev(eventName="RunInstances",
             responseElements={"instancesSet": {"items": items}})
    rows = run("* | eval n=mvcount('responseElements.instancesSet.items{}.instanceId') "
               "| table n", [rec])
    n = int(rows[0]["n"])
    assert 0 < n < 80
    raw = json.dumps(rec, ensure_ascii=False)
    # every id fully inside the first 5000 bytes, and none after it
    inside = sum(1 for i in range(80) if raw.index('"i-%04d"' % i) + 8 <= 5000)
    assert n == inside


def test_spath_extract_all_stops_at_extraction_cutoff():
    # limits.conf.spec [spath] extraction_cutoff: "For 'extract-all' spath extraction mode,
    # only apply extraction to the first <integer> number of bytes."
    doc = json.dumps({"a": "1", "pad": "x" * 6000, "b": "2"})
    rows = run("| makeresults | eval j=%s | spath input=j | table a b" % json.dumps(doc), [])
    assert rows == [{"a": "1"}]
    # a path (not extract-all) is not cut
    rows = run("| makeresults | eval j=%s | spath input=j path=b | table b" % json.dumps(doc), [])
    assert rows == [{"b": "2"}]


def test_inline_extract_runs_before_json_extraction():
    # Knowledge Manager Manual, "The sequence of search-time operations": EXTRACT- before
    # automatic key-value (KV_MODE=json) extraction; a JSON field is not there for "in".
    app = bare_app(props="[aws:cloudtrail]\nKV_MODE = json\n"
                         "EXTRACT-a = (?<from_json>.+) in eventName\n"
                         "EXTRACT-b = \"eventName\": \"(?<from_raw>[A-Za-z]+)\"\n")
    r = Replay(app, warn=lambda m: None)
    rows = r.spl("* | table from_json from_raw", r.events_from_records([ev(eventName="Stop")]))
    assert rows == [{"from_raw": "Stop"}]


def test_lookup_max_matches_defaults_to_100():
    # transforms.conf.spec max_matches: "Default: 100 if the lookup is not temporal", the
    # first matches in file order.
    table = "ip,tag\n" + "".join("10.0.0.1,t%03d\n" % i for i in range(150))
    rows = run("| makeresults | eval ip=\"10.0.0.1\" | lookup tags ip OUTPUT tag "
               "| eval n=mvcount(tag), first=mvindex(tag, 0), last=mvindex(tag, -1) "
               "| table n first last", [],
               transforms="[tags]\nfilename = tags.csv\n", lookups={"tags.csv": table})
    assert rows == [{"n": 100, "first": "t000", "last": "t099"}]
    rows = run("| makeresults | eval ip=\"10.0.0.1\" | lookup tags ip OUTPUT tag "
               "| eval n=mvcount(tag) | table n", [],
               transforms="[tags]\nfilename = tags.csv\nmax_matches = 120\n",
               lookups={"tags.csv": table})
    assert rows == [{"n": 120}]


def test_automatic_lookups_must_not_depend_on_each_other():
    # Splunk does not guarantee the order of automatic lookups (props.conf.spec LOOKUP-);
    # a lookup reading another's output would give order-dependent results: refused.
    app = bare_app(props="[aws:cloudtrail]\nKV_MODE = json\n"
                         "LOOKUP-a = first ip OUTPUT zone\nLOOKUP-b = second zone OUTPUT owner\n",
                   transforms="[first]\nfilename = first.csv\n[second]\nfilename = second.csv\n",
                   lookups={"first.csv": "ip,zone\n1.1.1.1,dmz\n",
                            "second.csv": "zone,owner\ndmz,ops\n"})
    r = Replay(app, warn=lambda m: None)
    with pytest.raises(ConfigError, match="LOOKUP-b reads zone, which LOOKUP-a writes"):
        r.events_from_records([ev(ip="1.1.1.1")])


def test_perc_is_nearest_rank_and_median_the_higher_middle_value():
    # Search Reference, perc: under 1,000 distinct values, the nearest-rank method; median:
    # with an even count "the higher of the two values".
    recs = [ev("2024-01-01T00:00:%02dZ" % i, v=str(x)) for i, x in enumerate([1, 2, 3, 4])]
    r = run("* | stats median(v) AS med perc50(v) AS p50 p75(v) AS p75 perc99(v) AS p99 "
            "upperperc25(v) AS u25 exactperc50(v) AS e50", recs)[0]
    assert r == {"med": 3, "p50": 2, "p75": 3, "p99": 4, "u25": 1, "e50": 2.5}


def test_streamstats_without_window_uses_max_stream_window(tmp_path):
    # Search Reference, streamstats: without window= or time_window= "the default of 10,000
    # events set by the max_stream_window in the limits.conf file applies".
    limits = tmp_path / "limits.conf"
    limits.write_text("[stats]\nmax_stream_window = 5\n")
    r = Replay(bare_app(), warn=lambda m: None, limits=Limits.from_file(str(limits)))
    rows = r.spl("| makeresults count=8 | streamstats count AS n max(_time) AS t | table n", [])
    assert [x["n"] for x in rows] == [1, 2, 3, 4, 5, 5, 5, 5]
    rows = r.spl("| makeresults count=8 | streamstats current=false count AS n | table n", [])
    assert [x.get("n") for x in rows] == [0, 1, 2, 3, 4, 5, 5, 5]
    # window= larger than the limit is capped by it
    rows = r.spl("| makeresults count=8 | streamstats window=50 count AS c | table c", [])
    assert [x["c"] for x in rows] == [1, 2, 3, 4, 5, 5, 5, 5]


def test_streamstats_default_window_is_10000():
    rows = run("| makeresults count=10002 | streamstats count AS c | tail 3 | table c", [])
    assert [x["c"] for x in rows] == [10000, 10000, 10000]


def test_eventstats_stops_adding_fields_past_maxresultrows(tmp_path):
    # limits.conf.spec [eventstats] maxresultrows; Search Reference, eventstats: past its
    # limit "the eventstats command processor stops adding the requested fields".
    limits = tmp_path / "limits.conf"
    limits.write_text("[eventstats]\nmaxresultrows = 3\n")
    r = Replay(bare_app(), warn=lambda m: None, limits=Limits.from_file(str(limits)))
    rows = r.spl("| makeresults count=5 | streamstats count AS n "
                 "| eventstats count AS total | table n total", [])
    assert rows == [{"n": 1, "total": 3}, {"n": 2, "total": 3}, {"n": 3, "total": 3},
                    {"n": 4}, {"n": 5}]


def test_mvexpand_drops_results_without_the_field():
    # Search Reference, mvexpand: one result per value of the field; a result without the
    # field has no value to expand and is not returned.
    rows = run("* | mvexpand v{} | table k v{}", [
        ev("2024-01-01T00:00:01Z", k="one", v=["a", "b"]),
        ev("2024-01-01T00:00:02Z", k="two", v=["c"]),
        ev("2024-01-01T00:00:03Z", k="three")])
    assert rows == [{"k": "two", "v{}": "c"}, {"k": "one", "v{}": "a"}, {"k": "one", "v{}": "b"}]


def test_iplocation_writes_empty_strings_that_are_not_null():
    # Search Reference, iplocation: the location fields are added to every result with an
    # address; what the database does not know is an empty string, not null, so coalesce()
    # and isnull() do not skip it (a country baseline then learns "" unless guarded).
    rows = run("| makeresults | eval ip=\"10.1.2.3\" | iplocation ip "
               "| eval c=coalesce(Country, \"none\"), nul=if(isnull(Country), 1, 0) "
               "| table c nul", [])
    assert rows == [{"c": "", "nul": 0}]


def test_json_null_and_empty_string_values():
    # JSON null is extracted as the text "null" and "" as an empty value (splreplay keeps
    # both as values, so a search must test for them rather than rely on isnull()).
    rows = run("* | eval a=if(isnull(errorCode), \"null\", \"value:\" . errorCode), "
               "b=if(isnull(errorMessage), \"null\", \"value:\" . errorMessage) | table a b",
               [ev(errorCode=None, errorMessage="")])
    assert rows == [{"a": "value:null", "b": "value:"}]


def test_limits_file_refuses_what_it_does_not_apply(tmp_path):
    limits = tmp_path / "limits.conf"
    limits.write_text("[kv]\nmaxcols = 10\n")
    with pytest.raises(ConfigError, match=r"\[kv\] maxcols is not a setting splreplay applies"):
        Limits.from_file(str(limits))
    limits.write_text("[kv]\nmaxchars = lots\n")
    with pytest.raises(ConfigError, match="not an integer"):
        Limits.from_file(str(limits))


def test_cli_limits_option(tmp_path, capsys):
    events = tmp_path / "e.json"
    events.write_text(json.dumps({"Records": [_big_record(6000)]}))
    limits = tmp_path / "limits.conf"
    limits.write_text("[spath]\nextraction_cutoff = 100000\n[kv]\nmaxchars = 100000\n")
    app = bare_app()
    assert main(["--app", app, "--events", str(events), "--spl", "* | table late"]) == 0
    assert json.loads(capsys.readouterr().out) == {"search_name": "adhoc"}
    assert main(["--app", app, "--events", str(events), "--limits", str(limits),
                 "--spl", "* | table late"]) == 0
    assert json.loads(capsys.readouterr().out) == {"search_name": "adhoc", "late": "yes"}
    limits.write_text("[search]\nmax_count = 1\n")
    assert main(["--app", app, "--events", str(events), "--limits", str(limits),
                 "--spl", "* | table late"]) == 2


def test_saved_search_keys_the_spec_does_not_define_are_refused():
    # savedsearches.conf.spec: Splunk ignores an undefined setting; splreplay refuses it so a
    # misspelt schedule or window cannot pass unseen.
    app = bare_app(savedsearches="[S]\nsearch = | makeresults\nenableSched = 1\n"
                                 "dispatch.earliest = -1h\naction.email.to = a@b\n")
    r = Replay(app, warn=lambda m: None)
    with pytest.raises(ConfigError, match="dispatch.earliest is not defined by "
                                          "savedsearches.conf.spec"):
        r.compile_saved("S", 0)
    app = bare_app(savedsearches="[S]\nsearch = | makeresults\nenableSched = 1\n"
                                 "dispatch.earliest_time = -1h\naction.email.to = a@b\n")
    rows = Replay(app, warn=lambda m: None).compile_saved("S", 0).run([])
    assert len(rows) == 1
    # is_scheduled is not a savedsearches.conf setting (enableSched is)
    app = bare_app(savedsearches="[S]\nsearch = | makeresults\nis_scheduled = 1\n")
    with pytest.raises(ConfigError, match="is_scheduled is not defined"):
        Replay(app, warn=lambda m: None).compile_saved("S", 0)
