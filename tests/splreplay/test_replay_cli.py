"""End to end: the CLI in a subprocess, as ./build.sh replay runs it."""
import gzip
import json
import os
import subprocess
import sys

import pytest

import cloudtrail_samples as samples
from replay_helpers import FIXTURE_APP, TOOLS


def cli(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = TOOLS
    return subprocess.run([sys.executable, "-m", "splreplay", "--app", FIXTURE_APP] + list(args),
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def jsonl(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def trail_dir(tmp_path):
    """The scenario delivered as S3 CloudTrail log files: one plain, one gzip."""
    recs = samples.scenario()
    d = tmp_path / "AWSLogs"
    d.mkdir()
    (d / "111122223333_CloudTrail_us-east-1_20240305T0900Z_a.json").write_text(
        json.dumps({"Records": recs[:7]}))
    with gzip.open(d / "111122223333_CloudTrail_us-east-1_20240305T0915Z_b.json.gz", "wt") as h:
        json.dump({"Records": recs[7:]}, h)
    return d


def test_saved_search_produces_the_expected_rows(trail_dir):
    res = cli("--events", str(trail_dir), "--search", "TW Test - Root console sign-in failures")
    assert res.returncode == 0, res.stderr
    assert jsonl(res.stdout) == [
        {"search_name": "TW Test - Root console sign-in failures", "policy_id": "A01",
         "severity": "high", "tw_user": "root", "src_ip": "203.0.113.9", "count": "2",
         "first_seen": "1709629205", "last_seen": "1709629240"},
        {"search_name": "TW Test - Root console sign-in failures", "policy_id": "A01",
         "severity": "critical", "tw_user": "root", "src_ip": "203.0.113.200", "count": "1",
         "first_seen": "1709629270", "last_seen": "1709629270"},
    ]


def test_security_group_search_handles_nested_flat_and_ipv6_shapes(trail_dir):
    res = cli("--events", str(trail_dir), "--search", "TW Test - Security group opened to the world")
    assert res.returncode == 0, res.stderr
    got = [(r["tw_user"], r["requestParameters.groupId"], r["cidr"], r["ports"])
           for r in jsonl(res.stdout)]
    assert sorted(got) == [
        ("alice", "sg-0fedcba9876543210", "0.0.0.0/0", "23"),          # flat shape
        ("carol@example.com", "sg-0a1b2c3d4e5f60718", "0.0.0.0/0", "22"),
        ("carol@example.com", "sg-0a1b2c3d4e5f60718", "::/0", "3389"),  # IPv6
    ]  # the failed (UnauthorizedOperation) call to port 445 is not there


def test_several_searches_all_and_adhoc(trail_dir):
    res = cli("--events", str(trail_dir), "--search", "TW Test - Busy users",
              "--search", "TW Test - Terminated user activity",
              "--spl", "`trailwatch_cloudtrail` eventName=StopLogging | table eventName tw_user")
    assert res.returncode == 0, res.stderr
    rows = jsonl(res.stdout)
    assert [r["search_name"] for r in rows] == ["TW Test - Busy users"] * 4 + [
        "TW Test - Terminated user activity", "adhoc"]
    assert rows[-2]["event_names"] == ["CreateUser", "ListUsers", "StopLogging"]
    assert rows[-1] == {"search_name": "adhoc", "eventName": "StopLogging", "tw_user": "mallory"}
    res = cli("--events", str(trail_dir), "--all")
    # without --geoip, iplocation finds no location (as for an address the database lacks)
    # and says so once on stderr; the searches still run
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("no --geoip database given") == 1


def test_now_and_relative_time(trail_dir):
    q = "`trailwatch_cloudtrail` earliest=-10m | stats count"
    res = cli("--events", str(trail_dir), "--spl", q)
    assert jsonl(res.stdout) == [{"search_name": "adhoc", "count": "4"}]  # now = latest event (09:31)
    res = cli("--events", str(trail_dir), "--spl", q, "--now", "2024-03-05T09:05:00Z")
    assert jsonl(res.stdout) == [{"search_name": "adhoc", "count": "14"}]
    res = cli("--events", str(trail_dir), "--spl", "| makeresults | eval t=now() | table t",
              "--now", "2024-03-05T09:05:00+00:00")
    assert jsonl(res.stdout) == [{"search_name": "adhoc", "t": "1709629500"}]


def test_state_chains_outputlookup_across_runs(trail_dir, tmp_path):
    state = tmp_path / "state"
    q1 = "`trailwatch_cloudtrail` | stats count by tw_user | outputlookup tw_seen_users.csv"
    assert cli("--events", str(trail_dir), "--state", str(state), "--spl", q1).returncode == 0
    assert (state / "lookups" / "tw_seen_users.csv").exists()
    q2 = "| inputlookup tw_seen_users.csv | where count >= 4 | table tw_user"
    res = cli("--events", str(trail_dir), "--state", str(state), "--spl", q2)
    assert jsonl(res.stdout) == [{"search_name": "adhoc", "tw_user": "root"}]


def test_events_output_carries_time_and_raw(trail_dir):
    res = cli("--events", str(trail_dir), "--spl", "eventName=StopLogging")
    row = jsonl(res.stdout)[0]
    assert row["_time"] == "2024-03-05T09:20:00.000+00:00"
    assert json.loads(row["_raw"])["eventName"] == "StopLogging"
    assert row["userIdentity.userName"] == "mallory"


def test_table_format(trail_dir):
    res = cli("--events", str(trail_dir), "--search", "TW Test - Busy users", "--format", "table")
    assert res.returncode == 0
    assert res.stdout.splitlines()[0] == "== TW Test - Busy users: 4 result(s)"
    assert "carol@example.com" in res.stdout


def test_zero_rows_is_success(trail_dir):
    res = cli("--events", str(trail_dir), "--spl", "eventName=NoSuchThing")
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""


def test_bad_json_line_names_file_and_line(tmp_path):
    p = tmp_path / "events.jsonl"
    good = json.dumps(samples.scenario()[0])
    p.write_text(good + "\n" + good + "\n" + good[:-5] + "\n")
    res = cli("--events", str(p), "--spl", "*")
    assert res.returncode == 2
    assert "events.jsonl: invalid JSON on line 3" in res.stderr
    assert res.stdout == ""


def test_corrupt_gzip_and_missing_file(tmp_path):
    p = tmp_path / "x.json.gz"
    p.write_bytes(gzip.compress(b'{"Records": []}')[:12])
    res = cli("--events", str(p), "--spl", "*")
    assert res.returncode == 2 and "x.json.gz" in res.stderr and "gzip" in res.stderr
    res = cli("--events", str(tmp_path / "nope.json"), "--spl", "*")
    assert res.returncode == 2 and "no such file or directory" in res.stderr


def test_unknown_saved_search(trail_dir):
    res = cli("--events", str(trail_dir), "--search", "TW Test - Does not exist")
    assert res.returncode == 2
    assert "no saved search named 'TW Test - Does not exist'" in res.stderr
    assert "TW Test - Busy users" in res.stderr  # lists what exists


def test_unsupported_command_and_function(trail_dir):
    res = cli("--events", str(trail_dir), "--spl", "* | stats count | transaction user")
    assert res.returncode == 3
    assert "command 'transaction' is not implemented" in res.stderr
    assert "position 18" in res.stderr
    res = cli("--events", str(trail_dir), "--spl", '* | eval x=printf("%s", user)')
    assert res.returncode == 3 and "printf() is not implemented" in res.stderr
    res = cli("--events", str(trail_dir), "--spl", "* | dedup user sortby -_time")
    assert res.returncode == 3 and "sortby is not implemented" in res.stderr


def test_nothing_is_printed_when_a_later_search_is_refused(trail_dir):
    # every search is compiled before any runs, so a refused one stops the whole run
    res = cli("--events", str(trail_dir), "--search", "TW Test - Busy users",
              "--spl", "* | chart count by user")
    assert res.returncode == 3 and res.stdout == ""


def test_usage_errors():
    res = cli("--events", "x")
    assert res.returncode == 2 and "--search NAME, --all or --spl" in res.stderr
    res = cli("--spl", "*", "--format", "xml")
    assert res.returncode == 2


def test_all_with_geoip_and_state(trail_dir, tmp_path):
    from splreplay.mmdb_writer import city, write_mmdb
    db = write_mmdb(str(tmp_path / "city.mmdb"),
                    {"203.0.113.0/24": city("Berlin", "Germany", "DE", 52.52, 13.405)})
    res = cli("--events", str(trail_dir), "--all", "--geoip", db, "--state", str(tmp_path / "st"))
    assert res.returncode == 0, res.stderr
    names = {r["search_name"] for r in jsonl(res.stdout)}
    assert "TW Test - Build user country baseline" in names
    assert "TW Test - Tagged by Python command" in names
    assert (tmp_path / "st" / "lookups" / "tw_user_countries.csv").exists()
