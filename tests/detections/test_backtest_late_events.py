"""Each policy's labelled cases through the scheduler-faithful backtest, with CloudTrail's
delivery delay: every positive case alerts exactly once, every near-miss stays quiet.

Each case runs alone (so one case's throttling cannot hide another's alert), with the support
searches that keep the detections' lookups, over the saved searches' own cron times and
dispatch windows, with index times drawn from
``p50=3m,p99=14m,max=30m`` and, as the worst case, every event indexed 30 minutes late.
"""
import io
import json
import os
import sys

import pytest

from detection_cases import (POLICIES, SUPPORT, TOOLS, app_with_lookups, event_ids,
                             load_cases, mismatches, values)

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.backtest import Backtest, IndexDelay  # noqa: E402
from splreplay.events import parse_time  # noqa: E402
from splreplay.runner import Replay  # noqa: E402

CASES = [(pid, name) for pid in sorted(POLICIES) for name, _, _ in load_cases(pid)]
DELAYS = ("p50=3m,p99=14m,max=30m", "fixed=30m")


def backtest_case(policy_id, records, delay, geoip, work):
    path = os.path.join(work, "case.json")
    with open(path, "w") as handle:
        json.dump({"Records": records}, handle)
    times = [parse_time(r["eventTime"]) for r in records]
    start = (min(times) // 600) * 600
    end = max(times) + 90 * 60  # the latest index time, its window, and a margin
    replay = Replay(app_with_lookups(policy_id, work), state_dir=os.path.join(work, "state"),
                    geoip=geoip, warn=lambda m: None)
    out = io.StringIO()
    # with the support searches that keep the lookups the detections read
    bt = Backtest(replay, [POLICIES[policy_id][1]] + list(SUPPORT), start, end,
                  IndexDelay(delay, seed=1), out)
    bt.run([path])
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert not [x for x in lines if x["type"] == "error"], lines
    return [x["result"] for x in lines if x["type"] == "alert"]


# A02 learns a trail's bucket from a CreateTrail/PutBucketPolicy in the same run, or from the
# lookup the daily support search keeps: when CloudTrail delivers the two calls in different
# 10-minute index windows, the lifecycle change is judged before its bucket is known. Fixing it
# needs a schedule change (the support search learning every 10 minutes, before A02), which the
# schedule profiles do not allow yet: a known misfire, kept visible (strict: the test fails once
# it is fixed, so the mark is then removed). Which delays split the two calls depends on the
# seed; with seed 1 it is this one.
LATE_MISFIRES = {"A02/p12_short_lifecycle_on_bucket_whose_policy_admits_cloudtrail-fixed=30m"}


def _params():
    out = []
    for delay in DELAYS:
        for pid, name in CASES:
            marks = ()
            if "%s/%s-%s" % (pid, name, delay) in LATE_MISFIRES:
                marks = pytest.mark.xfail(strict=True, reason="A02 trail bucket learnt in "
                                          "another index window (see LATE_MISFIRES)")
            out.append(pytest.param(pid, name, delay, marks=marks,
                                    id="%s/%s-%s" % (pid, name, delay)))
    return out


@pytest.mark.parametrize("policy_id,case_name,delay", _params())
def test_case_alerts_once_with_late_events(policy_id, case_name, delay, geoip, tmp_path):
    case, records = next((c, r) for n, c, r in load_cases(policy_id) if n == case_name)
    alerts = backtest_case(policy_id, records, delay, geoip, str(tmp_path))
    ids = event_ids(records)
    for row in alerts:
        assert set(values(row.get("event_ids"))) <= ids, row
    expected = case["expect"]
    if not expected:
        assert alerts == [], "near-miss %s alerted: %s" % (case_name, alerts)
        return
    assert len(alerts) == len(expected), "expected %d alert(s), got %d: %s" % (
        len(expected), len(alerts), alerts)
    for want in expected:
        key = {k: want[k] for k in ("severity", "user")}
        assert any(not mismatches(key, row) for row in alerts), (want, alerts)


SUPPORT_AND_READERS = ("TrailWatch - Support - Latest S3 posture",
                       "TrailWatch - Support - Trail buckets",
                       "TrailWatch - Support - Public route tables",
                       "TrailWatch - S3 bucket is publicly accessible",
                       "TrailWatch - CloudTrail configuration changes",
                       "TrailWatch - Virtual private network changes")


def test_support_searches_that_find_nothing_keep_their_lookups_usable(tmp_path):
    # outputlookup with no results empties the lookup unless override_if_empty=false (Search
    # Reference, outputlookup); a header-less lookup then fails every run of the detection
    # that reads it. A day without posture snapshots, trails or routes must not do that.
    _, _, records = load_cases("A01")[0]
    path = str(tmp_path / "events.json")
    with open(path, "w") as handle:
        json.dump({"Records": records}, handle)
    start = parse_time("2024-05-14T00:00:00Z")
    replay = Replay(app_with_lookups("A01", str(tmp_path)), state_dir=str(tmp_path / "state"),
                    warn=lambda m: None)
    out = io.StringIO()
    bt = Backtest(replay, list(SUPPORT_AND_READERS), start, start + 86400, IndexDelay(), out)
    bt.run([path])
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x for x in lines if x["type"] == "error"] == []
    runs = {x["search_name"]: x["runs"] for x in lines if x["type"] == "summary"}
    assert all(runs[name] >= 1 for name in SUPPORT_AND_READERS), runs
