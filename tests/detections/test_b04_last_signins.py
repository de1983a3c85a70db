"""B04's state: the support search "TrailWatch - Support - Last sign-ins" keeps each user's latest
successful interactive sign-in of the last 25 hours in the KV store lookup
trailwatch_b04_last_signins, and B04 pairs a new sign-in with it.

The searches run in-process through splreplay's Replay over the built add-on, with B04's test
GeoIP database and IP ranges (detections/b04_impossible_travel/), sharing one --state folder.
How the scheduler's windows make the two work together is the backtest's part
(test_backtest_late_events.py)."""
import os
import sys

import pytest

from detection_cases import DETECTIONS, TESTS, app_with_lookups

sys.path.insert(0, os.path.join(TESTS, "detections_anomaly"))
try:
    from anomaly_replay import epoch, record
finally:
    sys.path.pop(0)
from splreplay.runner import Replay  # noqa: E402

SUPPORT = "TrailWatch - Support - Last sign-ins"
STATE = "trailwatch_b04_last_signins"
# places of detections/b04_impossible_travel/geoip.json; CORPORATE is in its IP ranges
PARIS, NEW_YORK, BERLIN, SYDNEY = "203.0.113.10", "203.0.113.70", "203.0.113.130", "198.51.100.10"
CORPORATE = "198.51.100.200"


def console(when, user, ip, success=True):
    """A console sign-in; a failed one as CloudTrail writes it (no errorCode)."""
    outcome = "Success" if success else "Failure"
    extra = {"eventType": "AwsConsoleSignIn", "readOnly": False,
             "additionalEventData": {"MFAUsed": "Yes"}}
    if not success:
        extra["errorMessage"] = "Failed authentication"
    return record(epoch(when), "ConsoleLogin", "signin.amazonaws.com", user=user, ip=ip,
                  resp={"ConsoleLogin": outcome}, extra=extra)


def saml(when, user, ip):
    return record(epoch(when), "AssumeRoleWithSAML", "sts.amazonaws.com", user=user, ip=ip,
                  resp={"credentials": {"accessKeyId": "ASIAEXAMPLE"}})


@pytest.fixture
def replay(folder_geoip, tmp_path):
    app = app_with_lookups("B04", str(tmp_path))
    return Replay(app, state_dir=str(tmp_path / "state"), geoip=folder_geoip("B04"),
                  warn=lambda m: None)


def run(replay, name, records, now):
    return replay.run_saved([name], replay.events_from_records(records), epoch(now))


def kept(replay):
    """{user: row} of the collection, as B04 reads it."""
    rows = replay.spl("| inputlookup %s" % STATE, [])
    assert len({r["user"] for r in rows}) == len(rows), rows  # one row per user
    return {r["user"]: r for r in rows}


def test_merging_keeps_each_users_latest_interactive_sign_in_of_25_hours(replay):
    first = [console("2024-03-04T12:00:00Z", "bob", NEW_YORK),
             console("2024-03-05T08:00:00Z", "alice", PARIS),
             console("2024-03-05T09:00:00Z", "carol", PARIS)]
    run(replay, SUPPORT, first, "2024-03-05T10:00:00Z")
    assert sorted(kept(replay)) == ["alice", "bob", "carol"]

    alice_ny = console("2024-03-05T12:00:00Z", "alice", NEW_YORK)
    frank_vpn = console("2024-03-05T13:00:00Z", "frank", CORPORATE)
    gina = saml("2024-03-05T13:30:00Z", "gina", BERLIN)
    run(replay, SUPPORT, [
        alice_ny,                                                 # newer than her row
        console("2024-03-05T07:00:00Z", "carol", SYDNEY),         # delivered late, older
        console("2024-03-05T11:00:00Z", "frank", PARIS), frank_vpn,  # the later one is kept
        gina,                                                     # federation is interactive
        console("2024-03-05T13:00:00Z", "dave", SYDNEY, success=False),
        record(epoch("2024-03-05T13:00:00Z"), "ListBuckets", "s3.amazonaws.com", user="erin",
               ip=SYDNEY),                                        # not a sign-in
        console("2024-03-05T13:00:00Z", "henry", "10.0.0.8"),     # no public address
    ], "2024-03-05T14:00:00Z")
    rows = kept(replay)
    # bob's sign-in (03-04 12:00) is older than -25h@h of 14:00 (03-04 13:00): forgotten
    assert sorted(rows) == ["alice", "carol", "frank", "gina"]
    assert rows["carol"]["src_ip"] == PARIS and rows["carol"]["signin_time"] == \
        str(epoch("2024-03-05T09:00:00Z"))
    alice = rows["alice"]
    assert (alice["tw_event_id"], alice["src_ip"], alice["signin_time"]) == \
        (alice_ny["eventID"], NEW_YORK, str(epoch("2024-03-05T12:00:00Z")))
    assert (alice["City"], alice["Country"], alice["eventName"]) == \
        ("New York", "United States", "ConsoleLogin")
    assert alice["lat"] and alice["lon"] and alice["user_type"] == "IAMUser"
    assert alice["aws_account_id"] == "111122223333" and alice["region"] == "us-east-1"
    assert alice["user_arn"].endswith(":user/alice")
    assert rows["frank"]["tw_event_id"] == frank_vpn["eventID"]
    assert (rows["frank"]["ip_category"], rows["frank"]["ip_list"]) == ("corporate", "office-vpn")
    assert rows["gina"]["eventName"] == "AssumeRoleWithSAML"


def test_b04_pairs_a_new_sign_in_with_the_kept_one(replay):
    alice_ny = console("2024-03-05T12:00:00Z", "alice", NEW_YORK)
    carol = console("2024-03-05T12:10:00Z", "carol", PARIS)
    run(replay, SUPPORT, [alice_ny, carol], "2024-03-05T13:00:00Z")
    sydney = console("2024-03-05T15:00:00Z", "alice", SYDNEY)
    # alice's New York sign-in comes from the state only; carol's, kept and also in B04's own
    # events, is one sign-in, not a pair
    rows = run(replay, DETECTIONS["B04"][1], [sydney, carol], "2024-03-05T16:00:00Z")
    assert [(r["user"], r["from_ip"], r["to_ip"], r["severity"]) for r in rows] == \
        [("alice", NEW_YORK, SYDNEY, "high")]
    assert rows[0]["first_seen"] == "2024-03-05T12:00:00+0000"
