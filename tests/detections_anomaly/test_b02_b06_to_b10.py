"""Replay cases for B02 (countries) and the count policies B06-B10, baselines built first with
the support searches and chained to the detection through --state."""
import re

import pytest

from anomaly_replay import (ACCOUNT, BERLIN, LYON, NEW_YORK, PARIS, SYDNEY, Scenario,
                            autoscaling_role_identity, epoch, login, record, service_identity)

DAY = 86400
T0 = epoch("2024-03-05T10:00:00Z")   # the detection hour is 10:00-11:00
NOW = T0 + 3600
H0 = T0 - 30 * DAY


def daily(days, make, start=H0):
    out = []
    for d in range(days):
        out.extend(make(start + d * DAY + 3600))
    return out


def with_baselines(tmp_path, history, recent, search, lookups=None, days_before=0):
    sc = Scenario(tmp_path, lookups)
    sc.baselines(history, T0 - 60)
    return sc.run(search, recent, NOW)


# ---- B02 -----------------------------------------------------------------------------------

B02 = "TrailWatch - Activity from infrequent country"
FR_HISTORY = daily(30, lambda t: [login(t, ip=PARIS), login(t, "bob", SYDNEY)])

B02_POSITIVE = {
    "new_country_us": [login(T0, ip=NEW_YORK)],
    "new_country_germany": [login(T0, ip=BERLIN)],
    "federation_from_new_country": [record(T0, "AssumeRoleWithSAML", "sts.amazonaws.com", ip=NEW_YORK)],
    "ipv6_new_country_portugal": [login(T0, ip="2001:db8:1::5")],
}
B02_NEGATIVE = {
    "usual_country": [login(T0, ip=PARIS)],
    "other_city_same_country": [login(T0, ip=LYON)],
    "failed_login_new_country": [login(T0, ip=NEW_YORK, ok=False)],
    "non_interactive_call_new_country": [record(T0, "DescribeInstances", "ec2.amazonaws.com", ip=NEW_YORK)],
}


@pytest.mark.parametrize("case", sorted(B02_POSITIVE))
def test_b02_alerts(tmp_path, case):
    rows = with_baselines(tmp_path, FR_HISTORY, B02_POSITIVE[case], B02)
    assert len(rows) == 1 and rows[0]["policy_id"] == "B02" and rows[0]["user"] == "alice", rows


@pytest.mark.parametrize("case", sorted(B02_NEGATIVE))
def test_b02_quiet(tmp_path, case):
    assert with_baselines(tmp_path, FR_HISTORY, B02_NEGATIVE[case], B02) == []


def test_b02_learning_period_and_forgotten_country(tmp_path):
    young = daily(3, lambda t: [login(t, "newbie", PARIS)], start=T0 - 3 * DAY)
    assert with_baselines(tmp_path / "a", young, [login(T0, "newbie", NEW_YORK)], B02) == []
    # The US was used 60 days ago: beyond the 30-day history, so new again.
    old_us = [login(H0 - 30 * DAY, ip=NEW_YORK)] + FR_HISTORY
    assert len(with_baselines(tmp_path / "b", old_us, [login(T0, ip=NEW_YORK)], B02)) == 1


# ---- counts: helpers ----------------------------------------------------------------------

def terminate(t, n, user="alice", **kw):
    items = [{"instanceId": "i-%04d%08x" % (k, int(t) % 99999999)} for k in range(n)]
    return record(t, "TerminateInstances", "ec2.amazonaws.com", user=user,
                  req={"instancesSet": {"items": items}},
                  resp={"instancesSet": {"items": items}}, **kw)


def run_instances(t, n, user="alice", itype="t3.micro", error=None, **kw):
    items = [{"instanceId": "i-%04d%08x" % (k, int(t) % 99999999)} for k in range(n)]
    return record(t, "RunInstances", "ec2.amazonaws.com", user=user, error=error,
                  req={"instanceType": itype, "minCount": n, "maxCount": n},
                  resp=None if error else {"instancesSet": {"items": items}}, **kw)


def delete_objects(t, keys, user="alice", **kw):
    return record(t, "DeleteObjects", "s3.amazonaws.com", user=user,
                  req={"bucketName": "data", "delete": {"Object": [{"key": "k%05d" % k} for k in range(keys)], "quiet": True}},
                  extra={"eventCategory": "Data", "managementEvent": False}, **kw)


def iam_call(t, name="AttachUserPolicy", user="alice", **kw):
    return record(t, name, "iam.amazonaws.com", user=user, req={"userName": "x"}, **kw)


def spread(t, n, make):
    return [make(t + 60 + i * 30) for i in range(n)]


# ---- B09 -----------------------------------------------------------------------------------

B09 = "TrailWatch - Multiple delete VM activities"
B09_HISTORY = daily(30, lambda t: [terminate(t, 1), terminate(t + 600, 2, "bob")])

B09_POSITIVE = {
    "one_call_many_instances": [terminate(T0 + 60, 12)],
    "many_calls": spread(T0, 8, lambda t: terminate(t, 1)),
    "new_user_past_learning_never_terminated": [terminate(T0 + 60, 9, "carol")],
    "bob_ten_times_usual": [terminate(T0 + 60, 20, "bob")],
}
B09_NEGATIVE = {
    "usual_amount": [terminate(T0 + 60, 2)],
    "below_floor_but_unusual": [terminate(T0 + 60, 4)],
    "autoscaling_service_role": [terminate(T0 + 60, 30, identity=autoscaling_role_identity())],
    "aws_service_principal": [terminate(T0 + 60, 30, identity=service_identity("autoscaling.amazonaws.com"))],
    "failed_attempt": [terminate(T0 + 60, 30, error="UnauthorizedOperation")],
}
CAROL = daily(30, lambda t: [record(t, "DescribeInstances", "ec2.amazonaws.com", user="carol")])


@pytest.mark.parametrize("case", sorted(B09_POSITIVE))
def test_b09_alerts(tmp_path, case):
    rows = with_baselines(tmp_path, B09_HISTORY + CAROL, B09_POSITIVE[case], B09)
    assert len(rows) == 1 and rows[0]["policy_id"] == "B09", rows
    assert int(rows[0]["count"]) >= 5  # instance ids counted, not calls


@pytest.mark.parametrize("case", sorted(B09_NEGATIVE))
def test_b09_quiet(tmp_path, case):
    assert with_baselines(tmp_path, B09_HISTORY + CAROL, B09_NEGATIVE[case], B09) == []


def test_b09_learning_period_is_quiet(tmp_path):
    young = daily(3, lambda t: [terminate(t, 1, "dan")], start=T0 - 3 * DAY)
    assert with_baselines(tmp_path, young, [terminate(T0 + 60, 40, "dan")], B09) == []


def test_b09_counts_instance_ids(tmp_path):
    rows = with_baselines(tmp_path, B09_HISTORY, [terminate(T0 + 60, 12)], B09)
    assert rows[0]["count"] == "12" or rows[0]["count"] == 12
    assert "12 instances terminated in the hour" in rows[0]["reason"]


# ---- B10 -----------------------------------------------------------------------------------

B10 = "TrailWatch - Unusual multiple VM creation activities"
B10_HISTORY = daily(30, lambda t: [run_instances(t, 2), run_instances(t, 1, "bob", "g5.xlarge")])
OTHER_ACCOUNT = "444455556666"
B10_BASELINES = ("User activity", "Hourly counts", "Account instance types")

B10_POSITIVE = {
    "many_instances_one_call": [run_instances(T0 + 60, 25)],
    "failed_attempts_counted": spread(T0, 6, lambda t: run_instances(t, 5, error="InstanceLimitExceeded")),
    "first_gpu_type": [run_instances(T0 + 60, 1, itype="p4d.24xlarge")],
    "gpu_type_new_for_bob": [run_instances(T0 + 60, 1, "bob", "p5.48xlarge")],
    # g5 is known in ACCOUNT (bob), never launched by anyone in OTHER_ACCOUNT.
    "g5_new_for_the_account": [run_instances(T0 + 60, 1, "alice", "g5.xlarge", account=OTHER_ACCOUNT)],
}
B10_NEGATIVE = {
    "usual_amount": [run_instances(T0 + 60, 2)],
    "known_gpu_type_for_bob": [run_instances(T0 + 60, 1, "bob", "g5.xlarge")],
    # alice never launched g5, but bob does daily in the same account: not new for the account.
    "gpu_type_new_for_alice_known_to_account": [run_instances(T0 + 60, 1, "alice", "g5.xlarge")],
    "autoscaling": [run_instances(T0 + 60, 40, identity=autoscaling_role_identity())],
    "below_floor": [run_instances(T0 + 60, 8)],
}


def b10_run(tmp_path, history, recent):
    sc = Scenario(tmp_path)
    sc.baselines(history, T0 - 60, names=B10_BASELINES)
    return sc.run(B10, recent, NOW)


@pytest.mark.parametrize("case", sorted(B10_POSITIVE))
def test_b10_alerts(tmp_path, case):
    other = daily(30, lambda t: [run_instances(t, 1, account=OTHER_ACCOUNT)])
    rows = b10_run(tmp_path, B10_HISTORY + other, B10_POSITIVE[case])
    assert len(rows) == 1 and rows[0]["policy_id"] == "B10", rows


@pytest.mark.parametrize("case", sorted(B10_NEGATIVE))
def test_b10_quiet(tmp_path, case):
    assert b10_run(tmp_path, B10_HISTORY, B10_NEGATIVE[case]) == []


def test_b10_gpu_new_for_the_account_whoever_launches(tmp_path):
    # Account with only t3 history: alice's first g5 alerts, as a GPU type new to the account.
    history = daily(30, lambda t: [run_instances(t, 2), run_instances(t, 1, "bob")])
    rows = b10_run(tmp_path / "a", history, [run_instances(T0 + 60, 1, "alice", "g5.2xlarge")])
    assert len(rows) == 1 and rows[0]["user"] == "alice", rows
    assert "GPU instance type g5.2xlarge never launched in account %s" % ACCOUNT in rows[0]["reason"]
    # Alice launched p3 last week: bob's first p3 is new for bob, not for the account.
    week_ago = history + [run_instances(T0 - 7 * DAY, 1, "alice", "p3.2xlarge")]
    assert b10_run(tmp_path / "b", week_ago, [run_instances(T0 + 60, 1, "bob", "p3.2xlarge")]) == []
    # p3 launched 100 days ago only: beyond the 90-day history, so new again.
    old = [run_instances(H0 - 70 * DAY, 1, "alice", "p3.2xlarge")] + history
    assert len(b10_run(tmp_path / "c", old, [run_instances(T0 + 60, 1, "bob", "p3.2xlarge")])) == 1


def test_b10_gpu_quiet_during_account_learning_period(tmp_path):
    young = daily(3, lambda t: [run_instances(t, 1, account=OTHER_ACCOUNT)], start=T0 - 3 * DAY)
    recent = [run_instances(T0 + 60, 1, "alice", "g5.xlarge", account=OTHER_ACCOUNT)]
    assert b10_run(tmp_path, young, recent) == []


# ---- B08 -----------------------------------------------------------------------------------

B08 = "TrailWatch - Unusual multiple storage deletion activities"
B08_HISTORY = daily(30, lambda t: [delete_objects(t, 20),
                                   record(t + 60, "DeleteSnapshot", "ec2.amazonaws.com", req={"snapshotId": "snap-1"})])

B08_POSITIVE = {
    "delete_objects_counts_keys": [delete_objects(T0 + 60, 1500)],
    "many_delete_objects_calls": spread(T0, 3, lambda t: delete_objects(t, 400)),
    "many_buckets": [record(T0 + 60 + i, "DeleteBucket", "s3.amazonaws.com", req={"bucketName": "b%d" % i}) for i in range(12)],
    "many_snapshots": [record(T0 + 60 + i, "DeleteSnapshot", "ec2.amazonaws.com", req={"snapshotId": "snap-%d" % i}) for i in range(15)],
}
B08_NEGATIVE = {
    "usual_object_deletes": [delete_objects(T0 + 60, 25)],
    "unusual_but_below_object_floor": [delete_objects(T0 + 60, 900)],
    "few_buckets": [record(T0 + 60 + i, "DeleteBucket", "s3.amazonaws.com", req={"bucketName": "b%d" % i}) for i in range(3)],
    "failed_deletes": [delete_objects(T0 + 60, 5000, error="AccessDenied")],
}


@pytest.mark.parametrize("case", sorted(B08_POSITIVE))
def test_b08_alerts(tmp_path, case):
    rows = with_baselines(tmp_path, B08_HISTORY, B08_POSITIVE[case], B08)
    assert len(rows) == 1 and rows[0]["policy_id"] == "B08", rows


@pytest.mark.parametrize("case", sorted(B08_NEGATIVE))
def test_b08_quiet(tmp_path, case):
    assert with_baselines(tmp_path, B08_HISTORY, B08_NEGATIVE[case], B08) == []


# ---- B07 -----------------------------------------------------------------------------------

B07 = "TrailWatch - Unusual administrative activities"
B07_HISTORY = daily(30, lambda t: [iam_call(t + i * 60) for i in range(3)] +
                    [iam_call(t, "CreateAccessKey", "bob")])

B07_POSITIVE = {
    "burst_of_admin_calls": spread(T0, 40, lambda t: iam_call(t)),
    "three_first_time_actions": [iam_call(T0 + 60, n) for n in ("CreateUser", "CreateLoginProfile", "PutUserPolicy")],
    "burst_in_kms_and_network": spread(T0, 15, lambda t: record(t, "ScheduleKeyDeletion", "kms.amazonaws.com", req={"keyId": "k"})) +
    spread(T0 + 900, 15, lambda t: record(t, "AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", req={"groupId": "sg-1"})),
    "bob_many_new_actions": [iam_call(T0 + 60, n, "bob") for n in ("DeleteTrail", "StopLogging", "DeleteDetector", "DeleteConfigRule")],
}
B07_NEGATIVE = {
    "usual_amount": spread(T0, 3, lambda t: iam_call(t)),
    "reads_are_not_admin": spread(T0, 50, lambda t: record(t, "ListUsers", "iam.amazonaws.com")),
    "two_first_time_actions": [iam_call(T0 + 60, n) for n in ("CreateUser", "CreateLoginProfile")],
    "learning_user": [iam_call(T0 + 60 + i, "Create%d" % i, "newbie") for i in range(30)],
}


@pytest.mark.parametrize("case", sorted(B07_POSITIVE))
def test_b07_alerts(tmp_path, case):
    rows = with_baselines(tmp_path, B07_HISTORY, B07_POSITIVE[case], B07)
    assert len(rows) == 1 and rows[0]["policy_id"] == "B07", rows


@pytest.mark.parametrize("case", sorted(B07_NEGATIVE))
def test_b07_quiet(tmp_path, case):
    assert with_baselines(tmp_path, B07_HISTORY, B07_NEGATIVE[case], B07) == []


# ---- Baseline - User admin actions (read by B07's first-time rule) -------------------------

USER_ACTIONS = "TrailWatch - Baseline - User admin actions"


def test_user_actions_baseline_holds_admin_calls_only(tmp_path):
    # Two runs, as the schedule makes them: the second merges into what the first wrote.
    # RunInstances (any type, by an admin or not) and read calls must not become rows.
    first = [iam_call(H0 + 3600), iam_call(H0 + 7200), iam_call(H0 + 5400, "CreateAccessKey"),
             run_instances(H0 + 3600, 2), run_instances(H0 + 4000, 1, "bob", "g5.xlarge"),
             record(H0 + 3700, "ListUsers", "iam.amazonaws.com")]
    second = [iam_call(T0 - 600), iam_call(T0 - 300, "DeleteTrail", "bob"),
              run_instances(T0 - 500, 1, itype="p4d.24xlarge"), run_instances(T0 - 400, 3, "bob")]
    sc = Scenario(tmp_path)
    sc.run(USER_ACTIONS, first, H0 + 3 * 3600)
    sc.run(USER_ACTIONS, second, T0)
    rows = sc.lookup("trailwatch_baseline_user_actions")
    got = {(r["user"], r["eventName"]): (float(r["first_seen"]), float(r["last_seen"])) for r in rows}
    assert got == {
        ("alice", "AttachUserPolicy"): (H0 + 3600, T0 - 600),
        ("alice", "CreateAccessKey"): (H0 + 5400, H0 + 5400),
        ("bob", "DeleteTrail"): (T0 - 300, T0 - 300),
    }, rows


# ---- B06 -----------------------------------------------------------------------------------

B06 = "TrailWatch - Multiple failed login attempts"
B06_HISTORY = daily(30, lambda t: [login(t, ip=PARIS), login(t + 60, ip=PARIS, ok=False)])
ROOT = {"type": "Root", "arn": "arn:aws:iam::%s:root" % ACCOUNT, "accountId": ACCOUNT, "principalId": ACCOUNT}

HIDDEN = {"type": "IAMUser", "principalId": "", "accountId": ACCOUNT,
          "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}
B06_POSITIVE = {
    "user_ten_failures": spread(T0, 10, lambda t: login(t, ip=PARIS, ok=False)),
    "spraying_five_users_one_ip": [login(T0 + 60 + i, "user%d" % i, NEW_YORK, ok=False) for i in range(5)],
    "ip_twenty_failures": [login(T0 + 60 + i, "u%d" % (i % 4), SYDNEY, ok=False) for i in range(20)],
    "root_five_in_15_minutes": [login(T0 + 60 + i * 60, "root", BERLIN, ok=False, identity=ROOT) for i in range(5)],
    # CloudTrail hides user names that do not exist: each hidden name counts as one tried
    "spraying_five_hidden_names_one_ip": [login(T0 + 60 + i, "x", NEW_YORK, ok=False, identity=HIDDEN)
                                          for i in range(5)],
}
B06_NEGATIVE = {
    "few_failures": spread(T0, 3, lambda t: login(t, ip=PARIS, ok=False)),
    "successes": spread(T0, 30, lambda t: login(t, ip=PARIS)),
    "four_users_one_ip": [login(T0 + 60 + i, "user%d" % i, NEW_YORK, ok=False) for i in range(4)],
    "root_four_failures": [login(T0 + 60 + i * 60, "root", BERLIN, ok=False, identity=ROOT) for i in range(4)],
    "four_hidden_names_one_ip": [login(T0 + 60 + i, "x", NEW_YORK, ok=False, identity=HIDDEN)
                                 for i in range(4)],
}


@pytest.mark.parametrize("case", sorted(B06_POSITIVE))
def test_b06_alerts(tmp_path, case):
    rows = with_baselines(tmp_path, B06_HISTORY, B06_POSITIVE[case], B06)
    assert len(rows) >= 1 and all(r["policy_id"] == "B06" for r in rows), rows


@pytest.mark.parametrize("case", sorted(B06_NEGATIVE))
def test_b06_quiet(tmp_path, case):
    assert with_baselines(tmp_path, B06_HISTORY, B06_NEGATIVE[case], B06) == []


@pytest.mark.parametrize("failures, alerts", [(4, False), (5, True), (9, True)])
def test_b06_above_the_users_own_99th_percentile(tmp_path, failures, alerts):
    # alice fails once in each active hour (mean 1): P(X >= 4) = 0.019 is within her 99th
    # percentile, P(X >= 5) = 0.0037 is above it. Below every window threshold (10 a user).
    rows = with_baselines(tmp_path, B06_HISTORY,
                          spread(T0, failures, lambda t: login(t, ip=PARIS, ok=False)), B06)
    if not alerts:
        assert rows == []
        return
    assert len(rows) == 1 and rows[0]["policy_id"] == "B06", rows
    reason = " ".join(rows[0]["reason"]) if isinstance(rows[0]["reason"], list) else rows[0]["reason"]
    # method=poisson: the reason names the Poisson test only (the one that decides).
    assert re.search(r"above the user's baseline: %d failed sign-ins in the hour \(usual: median 1, "
                     r"MAD 0; mean 1\): Poisson p [0-9.e-]+ below 0\.01$" % failures, reason), reason
    assert "user: " not in reason, reason
