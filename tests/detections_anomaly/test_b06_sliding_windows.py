"""B06 (Multiple failed login attempts) with sliding windows: bursts that clock-hour or
clock-quarter buckets would split, near misses just over the window, and the hand-over between
two hourly runs (the search looks back two hours and alerts on the last one)."""
import pytest

from anomaly_replay import ACCOUNT, BERLIN, LYON, NEW_YORK, PARIS, SYDNEY, Scenario, epoch, login

B06 = "TrailWatch - Multiple failed login attempts"
T0 = epoch("2024-03-05T10:00:00Z")   # the run at 11:05 alerts on 10:00-11:00
NOW = T0 + 3600
MIN = 60
DAY = 86400
ROOT = {"type": "Root", "arn": "arn:aws:iam::%s:root" % ACCOUNT, "accountId": ACCOUNT,
        "principalId": ACCOUNT}
# alice has a month of one success and one failure a day; carol is new (still learning, so
# trailwatchscore stays quiet and only the window thresholds can alert for her)
HISTORY = [rec for d in range(30)
           for rec in (login(T0 - 30 * DAY + d * DAY + 3600, ip=PARIS),
                       login(T0 - 30 * DAY + d * DAY + 3660, ip=PARIS, ok=False))]


def run(tmp_path, recent):
    sc = Scenario(tmp_path)
    sc.baselines(HISTORY, T0 - 60)
    return sc.run(B06, recent, NOW)


def fails(start, n, step, user="carol", ip=LYON, **kw):
    return [login(start + i * step, user, ip, ok=False, **kw) for i in range(n)]


def reasons(rows):
    out = []
    for r in rows:
        v = r.get("reason")
        out.extend(v if isinstance(v, list) else [v])
    return out


POSITIVE = {
    # 5 failures at 09:50-09:58 and 5 at 10:00-10:08: 5 per clock hour, 10 in 18 minutes
    "user_ten_across_the_hour": (fails(T0 - 10 * MIN, 10, 2 * MIN),
                                 "user: 10 failures in 60 minutes"),
    # 10 failures over 59 minutes, 09:58 to 10:57
    "user_ten_in_59_minutes": (fails(T0 - 2 * MIN, 10, 59 * MIN / 9),
                               "user: 10 failures in 60 minutes"),
    # root at 10:10, 10:12, ..., 10:18: 3 and 2 per clock quarter, 5 in 8 minutes
    "root_five_across_a_quarter": (fails(T0 + 10 * MIN, 5, 2 * MIN, user="root", ip=BERLIN,
                                         identity=ROOT), "root: 5 failures in 15 minutes"),
    # 3 user names at 09:55-09:57 and 2 at 10:01-10:02 from one IP: 5 names in 8 minutes
    "spraying_across_the_hour": (
        [login(T0 - 5 * MIN + i * MIN, "spray%d" % i, NEW_YORK, ok=False) for i in range(3)]
        + [login(T0 + MIN + i * MIN, "spray%d" % (3 + i), NEW_YORK, ok=False) for i in range(2)],
        "spraying: 5 user names from one IP in 60 minutes"),
    # 20 failures of 4 users from one IP, 10 before and 10 after 10:00
    "ip_twenty_across_the_hour": (
        [login(T0 - 10 * MIN + i * MIN, "ipu%d" % (i % 4), SYDNEY, ok=False) for i in range(20)],
        "IP: 20 failures in 60 minutes"),
}

NEGATIVE = {
    # 10 failures over 61 minutes (09:55 to 10:56): at most 9 in any 60 minutes
    "user_ten_in_61_minutes": fails(T0 - 5 * MIN, 10, 61 * MIN / 9),
    # root: 5 failures over 16 minutes (10:10 to 10:26): at most 4 in any 15 minutes
    "root_five_in_16_minutes": fails(T0 + 10 * MIN, 5, 4 * MIN, user="root", ip=BERLIN,
                                     identity=ROOT),
    # 10 failures at 09:20-09:29: the 10:05 run alerted on them; the 11:05 run does not again
    "burst_of_the_previous_hour": fails(T0 - 40 * MIN, 10, MIN),
}


@pytest.mark.parametrize("case", sorted(POSITIVE))
def test_sliding_windows_catch_what_clock_buckets_split(tmp_path, case):
    recent, reason = POSITIVE[case]
    rows = run(tmp_path, recent)
    assert rows and all(r["policy_id"] == "B06" for r in rows), rows
    assert reason in reasons(rows), rows


@pytest.mark.parametrize("case", sorted(NEGATIVE))
def test_near_misses_stay_quiet(tmp_path, case):
    assert run(tmp_path, NEGATIVE[case]) == []


def test_alert_keeps_the_failures_of_the_qualifying_window_only(tmp_path):
    # a failure at 10:55 is in no 60-minute window with 10 failures (09:55-10:55 holds 8): it
    # is not part of the alert; one at 10:50 would be (09:52-10:50 holds 10)
    recent = fails(T0 - 10 * MIN, 10, 2 * MIN) + fails(T0 + 55 * MIN, 1, MIN)
    rows = run(tmp_path, recent)
    assert len(rows) == 1, rows
    assert rows[0]["count"] == 5   # 10:00-10:08 (09:50-09:58 belong to the previous run)
    rows = run(tmp_path / "b", fails(T0 - 10 * MIN, 10, 2 * MIN) + fails(T0 + 50 * MIN, 1, MIN))
    assert len(rows) == 1 and rows[0]["count"] == 6, rows


def test_alice_baseline_case_still_alerts_within_one_hour(tmp_path):
    rows = run(tmp_path, fails(T0 + MIN, 10, 30, user="alice", ip=PARIS))
    assert "user: 10 failures in 60 minutes" in reasons(rows), rows
