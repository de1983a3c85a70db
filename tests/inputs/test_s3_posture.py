"""aws_s3_posture from the built add-on against moto: one trailwatch:s3:posture event per
bucket, public or not and why; and the assessment rules directly (moto does not judge
"public" or enforce Block Public Access the way S3 does)."""
import json
import sys
from urllib.parse import urlsplit

import boto3
import pytest
from inputs_helpers import read_log, run_snapshot

INPUT = "aws_s3_posture"
PUBLIC_READ = {"Version": "2012-10-17", "Statement": [{
    "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::%s/*"}]}


def _unprefixed(request, **_kwargs):
    parts = urlsplit(request.url)
    label, _dot, rest = parts.netloc.partition(".")
    if label.isdigit():
        request.url = parts._replace(netloc=rest).geturl()


def clients(url, key="AKIAIOSFODNN7EXAMPLE", secret="setup-secret-not-checked"):
    kwargs = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                  aws_secret_access_key=secret)
    control = boto3.client("s3control", **kwargs)
    control.meta.events.register("before-sign.s3-control", _unprefixed)
    return boto3.client("s3", **kwargs), control


def policy(bucket, **statement):
    document = json.loads(json.dumps(PUBLIC_READ).replace("%s", bucket))
    document["Statement"][0].update(statement)
    return json.dumps(document)


def run(splunkd, tmp_path, splunk_home, url, python=sys.executable):
    return run_snapshot(splunkd, tmp_path, splunk_home, url, INPUT, "posture",
                        "trailwatch:s3:posture", "bucket_name", python)


def test_one_event_per_bucket_saying_whether_and_why_it_is_public(
        installed, tmp_path, splunk_home, moto):
    s3, _control = clients(moto.url)
    s3.create_bucket(Bucket="private-data")
    s3.create_bucket(Bucket="acl-public")
    s3.put_bucket_acl(Bucket="acl-public", ACL="public-read")
    s3.create_bucket(Bucket="policy-public", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"})
    s3.put_bucket_policy(Bucket="policy-public", Policy=policy("policy-public"))
    s3.put_bucket_website(Bucket="policy-public",
                          WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    s3.create_bucket(Bucket="vpc-only")
    s3.put_bucket_policy(Bucket="vpc-only", Policy=policy(
        "vpc-only", Condition={"StringEquals": {"aws:SourceVpc": "vpc-0abc1234"}}))
    s3.create_bucket(Bucket="blocked")
    s3.put_bucket_policy(Bucket="blocked", Policy=policy("blocked"))
    s3.put_public_access_block(Bucket="blocked", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    s3.create_bucket(Bucket="acls-off")
    s3.put_bucket_acl(Bucket="acls-off", ACL="public-read-write")
    s3.put_bucket_ownership_controls(Bucket="acls-off", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})

    found = run(installed, tmp_path, splunk_home, moto.url)

    assert set(found) == {"private-data", "acl-public", "policy-public", "vpc-only", "blocked",
                          "acls-off"}
    private = found["private-data"]
    assert private["effective_public"] is False and private["public_via"] == []
    assert private["aws_account_id"] == "123456789012" and private["account"] == "prod"
    assert private["bucket_arn"] == "arn:aws:s3:::private-data"

    acl = found["acl-public"]
    assert acl["acl_public"] is True and acl["effective_public"] is True
    assert acl["acl_public_grants"] == [{
        "grantee": "AllUsers", "grantee_uri": "http://acs.amazonaws.com/groups/global/AllUsers",
        "permission": "READ"}]

    public = found["policy-public"]
    assert public["region"] == "eu-west-1" and public["website_hosting"] is True
    assert public["policy_public"] is True and public["effective_public"] is True
    assert public["policy_public_statements"][0]["sid"] == "PublicRead"
    assert "Principal \"*\" without a Condition" in public["policy_public_reason"]
    assert public["aws_policy_status_public"] is True

    assert found["vpc-only"]["policy_public"] is False
    assert found["vpc-only"]["effective_public"] is False

    blocked = found["blocked"]
    assert blocked["policy_public"] is True and blocked["effective_public"] is False
    assert blocked["neutralised_by"] == ["policy: RestrictPublicBuckets (bucket)"]
    assert blocked["bucket_public_access_block"]["RestrictPublicBuckets"] is True

    off = found["acls-off"]
    assert off["acl_public"] is True and off["acls_disabled"] is True
    assert off["effective_public"] is False
    assert off["object_ownership"] == "BucketOwnerEnforced"

    log = read_log(splunk_home, INPUT, "posture")
    assert "6 buckets, 2 effectively public, 0 unknown" in log
    assert "n_events=6" in log


def test_account_level_block_neutralises_public_acls(installed, tmp_path, splunk_home, moto):
    s3, control = clients(moto.url)
    s3.create_bucket(Bucket="acl-public")
    s3.put_bucket_acl(Bucket="acl-public", ACL="public-read")
    control.put_public_access_block(AccountId="123456789012", PublicAccessBlockConfiguration={
        "IgnorePublicAcls": True, "BlockPublicAcls": True, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False})
    event = run(installed, tmp_path, splunk_home, moto.url)["acl-public"]
    assert event["account_public_access_block"]["IgnorePublicAcls"] is True
    assert event["effective_public"] is False
    assert event["neutralised_by"] == ["acl: IgnorePublicAcls (account)"]


def test_runs_on_splunk_pythons(splunk_python, installed, tmp_path, splunk_home, moto):
    s3, _control = clients(moto.url)
    s3.create_bucket(Bucket="py-bucket")
    found = run(installed, tmp_path, splunk_home, moto.url, python=splunk_python)
    assert found["py-bucket"]["effective_public"] is False


def test_missing_permissions_leave_fields_unknown_and_are_logged(
        installed, tmp_path, splunk_home, moto_iam):
    from inputs_helpers import store_account

    admin, _control = clients(moto_iam.url, *moto_iam.admin_key)
    admin.create_bucket(Bucket="half-readable")
    admin.put_bucket_policy(Bucket="half-readable", Policy=policy("half-readable"))
    key_id, secret = moto_iam.make_user("posture-partial", [
        "s3:ListAllMyBuckets", "s3:GetBucketLocation", "s3:GetBucketAcl"])
    store_account(installed, key_id=key_id, secret=secret)
    found = run(installed, tmp_path, splunk_home, moto_iam.url)
    event = found["half-readable"]
    assert event["policy_public"] is None and event["effective_public"] is None
    calls = {e["call"] for e in event["read_errors"]}
    assert "s3:GetBucketPolicy" in calls
    log = read_log(splunk_home, INPUT, "posture")
    assert "Bucket half-readable of account 123456789012: could not read" in log
    assert "s3:GetAccountPublicAccessBlock" in log
    assert secret not in log


# ------------------------------------------------------------------------ rules, directly
def _assess(**reads):
    from trailwatch.ingest import s3_posture

    account = reads.pop("account_block", None)
    known = reads.pop("account_known", True)
    base = {"acl": {"Grants": []}, "policy": None, "policy_status": False, "block": None,
            "ownership": None, "website": False, "region": "us-east-1", "errors": {}}
    base.update(reads)
    for name in [k for k, v in base.items() if v == "unreadable"]:
        del base[name]
        base["errors"]["s3:" + name] = "AccessDenied"
    return s3_posture.assess({"Name": "b"}, base, account, known)


ALL_USERS = {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
             "Permission": "READ"}
AUTHENTICATED = {"Grantee": {"Type": "Group",
                             "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},
                 "Permission": "WRITE"}


@pytest.mark.parametrize("reads, expected", [
    (dict(), False),
    (dict(acl={"Grants": [AUTHENTICATED]}), True),
    (dict(acl={"Grants": [ALL_USERS]}, block={"IgnorePublicAcls": True}), False),
    (dict(acl={"Grants": [ALL_USERS]}, account_block={"IgnorePublicAcls": True}), False),
    (dict(acl={"Grants": [ALL_USERS]}, block={"BlockPublicAcls": True}), True),  # blocks new only
    (dict(policy=json.loads(policy("b"))), True),
    (dict(policy=json.loads(policy("b")), account_block={"RestrictPublicBuckets": True}), False),
    (dict(policy=json.loads(policy("b")), block={"BlockPublicPolicy": True}), True),
    (dict(policy=json.loads(policy("b", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/4"}}))),
     True),  # wider than /8: anyone
    (dict(policy=json.loads(policy("b", Condition={"IpAddress": {"aws:SourceIp": "10.1.0.0/16"}}))),
     False),
    (dict(policy=json.loads(policy("b", Effect="Deny"))), False),
    (dict(acl="unreadable"), None),
    (dict(policy="unreadable", policy_status=True), True),  # AWS's verdict stands in
    (dict(policy="unreadable", policy_status="unreadable"), None),
    (dict(acl={"Grants": [ALL_USERS]}, account_known=False), None),
    (dict(acl={"Grants": [ALL_USERS]}, block={"IgnorePublicAcls": True}, account_known=False),
     False),
])
def test_effective_public(reads, expected):
    assert _assess(**reads)["effective_public"] is expected
