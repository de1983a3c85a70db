"""What the baseline searches keep in their lookups (the detections' cases under
detections/b*/cases/ replay them as setup runs; here the lookups themselves are read)."""
from anomaly_replay import ACCOUNT, Scenario, epoch, record

DAY = 86400
T0 = epoch("2024-03-05T10:00:00Z")
H0 = T0 - 30 * DAY


def run_instances(t, n=1, user="alice", itype="t3.micro", region="us-east-1"):
    items = [{"instanceId": "i-%04d%08x" % (k, int(t) % 99999999)} for k in range(n)]
    return record(t, "RunInstances", "ec2.amazonaws.com", user=user, region=region,
                  req={"instanceType": itype, "minCount": n, "maxCount": n},
                  resp={"instancesSet": {"items": items}})


def iam_call(t, name="AttachUserPolicy", user="alice"):
    return record(t, name, "iam.amazonaws.com", user=user, req={"userName": "x"})


def test_account_regions_baseline_is_readable_and_bounded_by_forget_window(tmp_path):
    history = [run_instances(T0 - 200 * DAY, region="eu-north-1")]
    for d in range(30):
        history.append(run_instances(H0 + d * DAY, region="us-east-1"))
        history.append(record(H0 + d * DAY + 60, "CreateBucket", "s3.amazonaws.com",
                              region="eu-west-1", req={"bucketName": "b%d" % d}))
    sc = Scenario(tmp_path)
    sc.run("TrailWatch - Baseline - Account regions", history, T0 - 3600)
    rows = sc.lookup("trailwatch_baseline_account_regions")
    assert sorted(r["region"] for r in rows) == ["eu-west-1", "us-east-1"]
    assert all(r["aws_account_id"] == ACCOUNT for r in rows)


def test_user_actions_baseline_holds_admin_calls_only(tmp_path):
    # Two runs, as the schedule makes them: the second merges into what the first wrote.
    # RunInstances (any type, by an admin or not) and read calls must not become rows.
    first = [iam_call(H0 + 3600), iam_call(H0 + 7200), iam_call(H0 + 5400, "CreateAccessKey"),
             run_instances(H0 + 3600, 2), run_instances(H0 + 4000, 1, "bob", "g5.xlarge"),
             record(H0 + 3700, "ListUsers", "iam.amazonaws.com")]
    second = [iam_call(T0 - 600), iam_call(T0 - 300, "DeleteTrail", "bob"),
              run_instances(T0 - 500, 1, itype="p4d.24xlarge"), run_instances(T0 - 400, 3, "bob")]
    sc = Scenario(tmp_path)
    sc.run("TrailWatch - Baseline - User admin actions", first, H0 + 3 * 3600)
    sc.run("TrailWatch - Baseline - User admin actions", second, T0)
    rows = sc.lookup("trailwatch_baseline_user_actions")
    got = {(r["user"], r["eventName"]): (float(r["first_seen"]), float(r["last_seen"])) for r in rows}
    assert got == {
        ("alice", "AttachUserPolicy"): (H0 + 3600, T0 - 600),
        ("alice", "CreateAccessKey"): (H0 + 5400, H0 + 5400),
        ("bob", "DeleteTrail"): (T0 - 300, T0 - 300),
    }, rows
