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
import sys

import pytest

from detection_cases import (BY_NAME, DETECTIONS, POLICIES, SUPPORT, TOOLS,
                             app_with_lookups, event_ids, load_cases, mismatches, set_up_alone,
                             values)

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.backtest import Backtest, IndexDelay  # noqa: E402
from splreplay.cron import Cron  # noqa: E402
from splreplay.events import parse_time  # noqa: E402
from splreplay.runner import Replay  # noqa: E402
from splreplay.timeutil import relative_time  # noqa: E402
from twcontent import render  # noqa: E402
from twcontent.model import load_profiles  # noqa: E402

CASES = [(pid, name) for pid in sorted(POLICIES) for name, _, _ in load_cases(pid)]
DELAYS = ("p50=3m,p99=14m,max=30m", "fixed=30m")
PROFILES = load_profiles()


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
# Every B detection (B01, B03, B05 and B07 with the hourly activity summary they read, which
# runs as the support search they require).
B_BACKTESTED = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11")
LATEST_DELAY = 30 * 60  # the largest delay of DELAYS
WORST, DRAWN = "fixed=30m", "p50=3m,p99=14m,max=30m"


def _settings(name):
    """A saved search's scheduling settings, rendered from its source as the build does."""
    return dict(render.schedule_settings(BY_NAME[name], PROFILES))


def _span(policy_id, records):
    """(from, to) of a B case's backtest: from its first event until every run that judges
    its latest event, indexed 30 minutes late, has run: the first run after that and the
    overlapping runs of the next two clock hours (B04's 25-hour window is cut there: the later
    runs see the same events and the same pairs, which its 25-hour throttle suppresses)."""
    times = [parse_time(r["eventTime"]) for r in records]
    last = max(times)
    earliest = _settings(DETECTIONS[policy_id][1])["dispatch.earliest_time"]
    reach = last - relative_time(last, earliest)
    return (min(times) // 600) * 600, last + LATEST_DELAY + min(reach, 2 * 3600) + 3600


def _first_runs(policy_id, records, delay):
    """Per search of the backtest and record, the first run that selects it (the backtest's rule: in the
    run's event-time window, indexed before its dispatch.index_latest and not after the run).
    The runs that select a record are then the following runs whose event-time window holds
    it (one, with tiling index-time windows), which does not depend on the delay: two delays
    giving the same first runs give every run the same events (and what a summary search
    writes the same index time), so the same alerts."""
    out = []
    for name in _searches(policy_id):
        out += _search_first_runs(name, records, delay, _span(policy_id, records))
    return out


def _search_first_runs(name, records, delay, span):
    settings = _settings(name)
    runs = Cron(settings["cron_schedule"]).times(*span)
    bound = {k: settings.get("dispatch." + k) for k in ("earliest_time", "latest_time",
                                                          "index_latest")}
    draw = IndexDelay(delay, seed=1)
    out = []
    for r in records:
        when = parse_time(r["eventTime"])
        indexed = int(when + draw.delay(r["eventID"]))
        out.append(next((t for t in runs
                         if relative_time(t, bound["earliest_time"]) <= when
                         < relative_time(t, bound["latest_time"] or "now")
                         and indexed < min(relative_time(t, bound["index_latest"])
                                           if bound["index_latest"] else math.inf, t + 1)),
                        None))
    return out


def _b_params():
    """Every B case with the worst case (every event 30 minutes late), and with the drawn
    delays only where they change which run first sees an event."""
    out = []
    for pid in B_BACKTESTED:
        for name, _, records in load_cases(pid):
            delays = [WORST]
            if _first_runs(pid, records, DRAWN) != _first_runs(pid, records, WORST):
                delays.append(DRAWN)
            out += [pytest.param(pid, name, d, id="%s/%s-%s" % (pid, name, d)) for d in delays]
    return out


def test_every_anomaly_detection_is_backtested():
    assert sorted(pid for pid in DETECTIONS if pid[0] == "B") == list(B_BACKTESTED)


def _searches(policy_id):
    """The detection and the support searches (not the baselines) it names in `requires`,
    supports first."""
    name = DETECTIONS[policy_id][1]
    return [n for n in BY_NAME[name].get("requires") or [] if BY_NAME[n].kind == "support"] \
        + [name]


def backtest_b_case(policy_id, case, records, delay, geoip, work, searches=None):
    """The detection's alerts; ``searches``: what the backtest runs (default: _searches)."""
    # the case's lookups and setup steps as the case runner has them
    app, state = set_up_alone(policy_id, case, geoip, work)
    path = os.path.join(work, "case.json")
    with open(path, "w") as handle:
        json.dump({"Records": records}, handle)
    name = DETECTIONS[policy_id][1]
    replay = Replay(app, state_dir=state, geoip=geoip, warn=lambda m: None)
    start, end = _span(policy_id, records)
    out = io.StringIO()
    bt = Backtest(replay, searches or _searches(policy_id), start, end,
                  IndexDelay(delay, seed=1), out)
    bt.run([path])
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert not [x for x in lines if x["type"] == "error"], lines
    return [x["result"] for x in lines if x["type"] == "alert" and x["search_name"] == name]


@pytest.mark.parametrize("policy_id,case_name,delay", _b_params())
def test_anomaly_case_alerts_once_with_late_events(policy_id, case_name, delay, folder_geoip,
                                                   tmp_path):
    case, records = next((c, r) for n, c, r in load_cases(policy_id) if n == case_name)
    alerts = backtest_b_case(policy_id, case, records, delay, folder_geoip(policy_id),
                             str(tmp_path))
    judge(case_name, case, records, alerts)


def test_b04_pairs_sign_ins_hours_apart_only_through_the_last_sign_ins_it_keeps(folder_geoip,
                                                                                 tmp_path):
    """B04 reads two clock hours of sign-ins plus each user's last sign-in that the support
    search "Last sign-ins" keeps. Its case p5 (Sydney, then Berlin ten hours later) alerts
    exactly once with that search (test_anomaly_case_alerts_once_with_late_events); without
    it, as when an admin leaves it disabled, no run of B04 sees both sign-ins: no alert."""
    case, records = next((c, r) for n, c, r in load_cases("B04")
                         if n == "p5_sydney_then_berlin_in_10h")
    assert "TrailWatch - Support - Last sign-ins" in _searches("B04")
    alone = backtest_b_case("B04", case, records, WORST, folder_geoip("B04"), str(tmp_path),
                            searches=[DETECTIONS["B04"][1]])
    assert alone == []
