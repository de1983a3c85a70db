"""Replay cases for B01, B03 (IP categories, IPv6), B05 (terminated users) and B11 (regions)."""
import pytest

from anomaly_replay import (ACCOUNT, INTEL, INTEL6, PARIS, TOR, TOR6, CORP_VPN, Scenario, epoch,
                            login, record, service_identity, sso_identity)

T0 = epoch("2024-03-05T08:00:00Z")
NOW = T0 + 3600


def s3_put(t, user="alice", ip=PARIS, **kw):
    return record(t, "PutBucketTagging", "s3.amazonaws.com", user=user, ip=ip,
                  req={"bucketName": "reports"}, **kw)


def describe(t, user="alice", ip=PARIS, **kw):
    return record(t, "DescribeInstances", "ec2.amazonaws.com", user=user, ip=ip, **kw)


# ---- B01 / B03 --------------------------------------------------------------------------

B01 = "TrailWatch - Activity from anonymous IP addresses"
B03 = "TrailWatch - Activity from suspicious IP addresses"

IP_POSITIVE = {
    B01: {"tor_console_login": [login(T0, ip=TOR)],
          "tor_write_call": [s3_put(T0, ip=TOR)],
          "ipv6_vpn_read": [describe(T0, ip=TOR6)],
          "root_over_tor": [login(T0, "root", TOR, identity={"type": "Root", "arn": "arn:aws:iam::%s:root" % ACCOUNT, "accountId": ACCOUNT, "principalId": ACCOUNT})]},
    B03: {"intel_console_login": [login(T0, ip=INTEL)],
          "intel_write_call": [s3_put(T0, "bob", INTEL)],
          "ipv6_intel_more_specific_than_vpn": [describe(T0, ip=INTEL6)],
          "sso_user_from_intel": [describe(T0, ip=INTEL, identity=sso_identity("erin@example.com"))]},
}
IP_NEGATIVE = {
    "office_ip": [login(T0, ip=PARIS)],
    "corporate_vpn": [login(T0, ip=CORP_VPN)],
    "failed_call_from_listed_ip": [s3_put(T0, ip=TOR, error="AccessDenied"), s3_put(T0, ip=INTEL, error="AccessDenied")],
    "aws_service_from_listed_ip": [describe(T0, ip=TOR, identity=service_identity("ec2.amazonaws.com")),
                                   describe(T0, ip=INTEL, identity=service_identity("ec2.amazonaws.com"))],
    "aws_internal": [describe(T0, ip="AWS Internal")],
    "service_hostname": [describe(T0, ip="cloudformation.amazonaws.com")],
}


@pytest.mark.parametrize("search, case", [(s, c) for s in (B01, B03) for c in sorted(IP_POSITIVE[s])])
def test_ip_category_alerts(tmp_path, search, case):
    rows = Scenario(tmp_path).run(search, IP_POSITIVE[search][case], NOW)
    assert len(rows) == 1, rows
    assert rows[0]["policy_id"] == ("B01" if search == B01 else "B03")
    assert rows[0]["target_type"] == "src_ip"


@pytest.mark.parametrize("search", [B01, B03])
@pytest.mark.parametrize("case", sorted(IP_NEGATIVE))
def test_ip_category_quiet(tmp_path, search, case):
    assert Scenario(tmp_path).run(search, IP_NEGATIVE[case], NOW) == []


def test_b01_tor_is_not_b03_and_shared_ips_are_suppressed(tmp_path):
    sc = Scenario(tmp_path)
    assert sc.run(B03, [login(T0, ip=TOR)], NOW) == []
    shared = [login(T0 + i, "user%d" % i, TOR) for i in range(5)]
    assert sc.run(B01, shared, NOW) == []
    rows = sc.run(B01, shared[:4], NOW)
    assert sorted(r["user"] for r in rows) == ["user0", "user1", "user2", "user3"]


# ---- B05 ----------------------------------------------------------------------------------

B05 = "TrailWatch - Activity performed by terminated user"
TERMINATED = ("iam_user,sso_user,email,access_key_id,terminated_at,source,note\n"
              "mallory,,,,2024-03-01T17:00:00Z,HR,left\n"
              ",erin@example.com,,,2024-03-02T00:00:00Z,Okta,left\n"
              ",,,AKIAOLDKEYQQQQQQQQQQ,2024-03-03T00:00:00Z,manual,key of a leaver\n"
              ",,frank@example.com,,2024-03-04T00:00:00Z,HR,left\n"
              "trent,,,,2024-03-09T00:00:00Z,HR,leaves next week\n")

B05_POSITIVE = {
    "iam_user_after_termination": [describe(T0, "mallory")],
    "sso_session_after_termination": [s3_put(T0, identity=sso_identity("erin@example.com"))],
    "old_access_key": [describe(T0, "ci", extra={"userIdentity": {"type": "IAMUser", "userName": "ci", "accountId": ACCOUNT,
                                                                  "arn": "arn:aws:iam::%s:user/ci" % ACCOUNT, "principalId": "AIDACI",
                                                                  "accessKeyId": "AKIAOLDKEYQQQQQQQQQQ"}})],
    "email_as_sso_session_name_case_insensitive": [login(T0, identity=sso_identity("Frank@Example.com"))],
}
B05_NEGATIVE = {
    "not_listed": [describe(T0, "alice")],
    "before_termination_time": [describe(T0, "trent")],
    "failed_call": [describe(T0, "mallory", error="AccessDenied")],
    "aws_service": [describe(T0, "mallory", identity=service_identity())],
}


@pytest.mark.parametrize("case", sorted(B05_POSITIVE))
def test_b05_alerts(tmp_path, case):
    rows = Scenario(tmp_path, {"trailwatch_terminated_users.csv": TERMINATED}).run(B05, B05_POSITIVE[case], NOW)
    assert len(rows) == 1 and rows[0]["policy_id"] == "B05", rows
    assert "terminated" in rows[0]["description"]


@pytest.mark.parametrize("case", sorted(B05_NEGATIVE))
def test_b05_quiet(tmp_path, case):
    assert Scenario(tmp_path, {"trailwatch_terminated_users.csv": TERMINATED}).run(B05, B05_NEGATIVE[case], NOW) == []


def test_b05_write_call_is_critical(tmp_path):
    rows = Scenario(tmp_path, {"trailwatch_terminated_users.csv": TERMINATED}).run(B05, [s3_put(T0, "mallory")], NOW)
    assert rows[0]["severity"] == "critical" and "matched on IAM user" in rows[0]["reason"]


# ---- B11 ----------------------------------------------------------------------------------

B11 = "TrailWatch - Unusual region for cloud resource"
DAY = 86400
H0 = T0 - 30 * DAY


def run_instances(t, region="us-east-1", user="alice", **kw):
    return record(t, "RunInstances", "ec2.amazonaws.com", user=user, region=region,
                  req={"instanceType": "t3.micro", "minCount": 1, "maxCount": 1},
                  resp={"instancesSet": {"items": [{"instanceId": "i-%08x" % int(t)}]}}, **kw)


def history(days=30):
    out = []
    for d in range(days):
        out.append(run_instances(H0 + d * DAY, "us-east-1"))
        out.append(record(H0 + d * DAY + 60, "CreateBucket", "s3.amazonaws.com", region="eu-west-1",
                          req={"bucketName": "b%d" % d}))
    return out


def b11(tmp_path, recent, hist=None):
    sc = Scenario(tmp_path)
    sc.baselines(hist if hist is not None else history(), T0 - 3600, names=("Account regions",))
    return sc.run(B11, recent, NOW)


B11_POSITIVE = {
    "instance_in_new_region": [run_instances(T0, "ap-southeast-2")],
    "bucket_in_new_region": [record(T0, "CreateBucket", "s3.amazonaws.com", region="sa-east-1", req={"bucketName": "x"})],
    "lambda_in_new_region": [record(T0, "CreateFunction20150331", "lambda.amazonaws.com", region="me-south-1", req={"functionName": "f"})],
    "enable_region": [record(T0, "EnableRegion", "account.amazonaws.com", region="us-east-1", req={"regionName": "af-south-1"})],
}
B11_NEGATIVE = {
    "known_region": [run_instances(T0, "us-east-1")],
    "known_region_other_service": [record(T0, "CreateVolume", "ec2.amazonaws.com", region="eu-west-1", req={"size": 8})],
    "global_service_iam": [record(T0, "CreateUser", "iam.amazonaws.com", region="ap-east-1", req={"userName": "x"})],
    "read_call_in_new_region": [record(T0, "DescribeInstances", "ec2.amazonaws.com", region="ap-southeast-2")],
    "failed_creation": [run_instances(T0, "ap-southeast-2", error="UnauthorizedOperation")],
}


@pytest.mark.parametrize("case", sorted(B11_POSITIVE))
def test_b11_alerts(tmp_path, case):
    rows = b11(tmp_path, B11_POSITIVE[case])
    assert len(rows) == 1 and rows[0]["policy_id"] == "B11" and rows[0]["target_type"] == "region", rows


@pytest.mark.parametrize("case", sorted(B11_NEGATIVE))
def test_b11_quiet(tmp_path, case):
    assert b11(tmp_path, B11_NEGATIVE[case]) == []


def test_b11_learning_period_keeps_a_young_account_quiet(tmp_path):
    young = [run_instances(T0 - 5 * DAY + d * DAY, "us-east-1") for d in range(5)]
    assert b11(tmp_path, [run_instances(T0, "ap-southeast-2")], hist=young) == []


def test_b11_baseline_is_readable_and_bounded_by_forget_window(tmp_path):
    sc = Scenario(tmp_path)
    old = [run_instances(T0 - 200 * DAY, "eu-north-1")]
    sc.baselines(old + history(), T0 - 3600, names=("Account regions",))
    rows = sc.lookup("trailwatch_baseline_account_regions")
    assert sorted(r["region"] for r in rows) == ["eu-west-1", "us-east-1"]
    assert all(r["aws_account_id"] == ACCOUNT for r in rows)
