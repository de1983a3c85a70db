"""Each policy's labelled cases through the scheduler-faithful backtest, with CloudTrail's
delivery delay: every positive case alerts exactly once, every near-miss stays quiet.

Each case runs alone (so one case's throttling cannot hide another's alert), with the support
searches that keep the detections' lookups, over the saved searches' own cron times and
dispatch windows, with index times drawn from
``p50=3m,p99=14m,max=30m`` and, as the worst case, every event indexed 30 minutes late.

The anomaly (B) detections' cases first run their setup steps (baselines over history) as the
case runner does, then the detection runs at its cron times from the case's first event until
the last run whose event-time window still reaches the latest event indexed 30 minutes late.
"""
import io
import json
import math
import os
import shutil
import sys

import pytest

from detection_cases import (BY_NAME, DETECTIONS, POLICIES, SUPPORT, TOOLS, APP_DIR,
                             app_with_lookups, event_ids, load_cases, mismatches, set_up_alone,
                             values)

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.backtest import Backtest, IndexDelay  # noqa: E402
from splreplay.events import parse_time  # noqa: E402
from splreplay.runner import Replay  # noqa: E402
from splreplay.timeutil import relative_time  # noqa: E402

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
# lookup the support search "Trail buckets" keeps over the same index-time windows, one minute
# before A02: the cases whose delays put the two calls in different windows check that.


@pytest.mark.parametrize("policy_id,case_name,delay",
                         [(p, n, d) for d in DELAYS for p, n in CASES],
                         ids=["%s/%s-%s" % (p, n, d) for d in DELAYS for p, n in CASES])
def test_case_alerts_once_with_late_events(policy_id, case_name, delay, geoip, tmp_path):
    case, records = next((c, r) for n, c, r in load_cases(policy_id) if n == case_name)
    alerts = backtest_case(policy_id, records, delay, geoip, str(tmp_path))
    judge(case_name, case, records, alerts)


def judge(case_name, case, records, alerts):
    """Every alert is of the case's records; a positive alerts exactly as often as expected,
    with the expected severity and user; a near-miss not at all."""
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


# ---- anomaly (B) detections ----
# The B detections judged here. B01, B03 and B07 are not: they are judged with the hourly
# summary search they read, together with the baselines (a listed exclusion, not a skip; the
# test below keeps the two lists covering every B detection).
B_BACKTESTED = ("B02", "B04", "B05", "B06", "B08", "B09", "B10", "B11")
B_JUDGED_WITH_SUMMARY = ("B01", "B03", "B07")
B_CASES = [(pid, name) for pid in B_BACKTESTED for name, _, _ in load_cases(pid)]
LATEST_DELAY = 30 * 60  # the largest delay of DELAYS


def test_every_anomaly_detection_is_backtested_or_listed():
    b = sorted(pid for pid in DETECTIONS if pid[0] == "B")
    assert sorted(B_BACKTESTED + B_JUDGED_WITH_SUMMARY) == b


def _needed_support(search):
    """The support searches (not the baselines) the detection names in `requires`."""
    return [n for n in BY_NAME[search].get("requires") or [] if BY_NAME[n].kind == "support"]


def _reach(replay, name, at):
    """How far before its run a run of the saved search reaches by event time (seconds)."""
    earliest = replay.app.saved_search_settings(name).get("dispatch.earliest_time")
    return at - relative_time(at, earliest) if earliest else math.inf


@pytest.fixture(scope="module")
def set_up_case(folder_geoip, tmp_path_factory):
    """Runs a B case's lookups and setup steps once (shared by both delays); -> its work folder."""
    done = {}

    def get(policy_id, case_name, case):
        if (policy_id, case_name) not in done:
            work = str(tmp_path_factory.mktemp("setup-" + policy_id))
            set_up_alone(policy_id, case, folder_geoip(policy_id), work)
            done[policy_id, case_name] = work
        return done[policy_id, case_name]
    return get


def backtest_b_case(policy_id, records, delay, geoip, setup_work, work):
    state = os.path.join(work, "state")
    shutil.copytree(os.path.join(setup_work, "state"), state)
    path = os.path.join(work, "case.json")
    with open(path, "w") as handle:
        json.dump({"Records": records}, handle)
    name = DETECTIONS[policy_id][1]
    replay = Replay(APP_DIR, state_dir=state, geoip=geoip, warn=lambda m: None)
    times = [parse_time(r["eventTime"]) for r in records]
    start = (min(times) // 600) * 600
    # until every run that judges the latest event, indexed late, has run: the first run
    # after its index time and the overlapping runs whose event-time window (up to 3 clock
    # hours here; B04's 25-hour one is cut there) still reaches it
    end = max(times) + LATEST_DELAY + min(_reach(replay, name, max(times)), 3 * 3600) + 3600
    out = io.StringIO()
    bt = Backtest(replay, [name] + _needed_support(name), start, end,
                  IndexDelay(delay, seed=1), out)
    bt.run([path])
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert not [x for x in lines if x["type"] == "error"], lines
    return [x["result"] for x in lines if x["type"] == "alert" and x["search_name"] == name]


@pytest.mark.parametrize("policy_id,case_name,delay",
                         [(p, n, d) for d in DELAYS for p, n in B_CASES],
                         ids=["%s/%s-%s" % (p, n, d) for d in DELAYS for p, n in B_CASES])
def test_anomaly_case_alerts_once_with_late_events(policy_id, case_name, delay, folder_geoip,
                                                   set_up_case, tmp_path):
    case, records = next((c, r) for n, c, r in load_cases(policy_id) if n == case_name)
    setup_work = set_up_case(policy_id, case_name, case)
    alerts = backtest_b_case(policy_id, records, delay, folder_geoip(policy_id), setup_work,
                             str(tmp_path))
    judge(case_name, case, records, alerts)
