"""aws_iam_inventory from the built add-on against moto: one trailwatch:iam:user event per
IAM user, with what enrichment and the notify action need; and the admin-policy rule."""
import json
import sys

import boto3
import pytest
from inputs_helpers import read_log, run_snapshot

INPUT = "aws_iam_inventory"
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


def iam_client(url, key="AKIAIOSFODNN7EXAMPLE", secret="setup-secret-not-checked"):
    return boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)


def doc(action, resource="*", effect="Allow"):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": action, "Resource": resource}]})


def run(splunkd, tmp_path, splunk_home, url, python=sys.executable):
    return run_snapshot(splunkd, tmp_path, splunk_home, url, INPUT, "iam", "trailwatch:iam:user",
                        "user_name", python)


def test_one_event_per_user_with_keys_mfa_console_tags_and_admin_policies(
        installed, tmp_path, splunk_home, moto):
    iam = iam_client(moto.url)
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=ADMIN_ARN)
    iam.create_group(GroupName="iam-team")
    iam.put_group_policy(GroupName="iam-team", PolicyName="all-iam", PolicyDocument=doc("iam:*"))

    iam.create_user(UserName="alice", Tags=[{"Key": "email", "Value": "alice@example.com"},
                                            {"Key": "team", "Value": "platform"}])
    iam.add_user_to_group(GroupName="admins", UserName="alice")
    iam.create_login_profile(UserName="alice", Password="Sup3r-secret-pw!")
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-phone")[
        "VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial, AuthenticationCode1="123456",
                          AuthenticationCode2="654321")
    active = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    old = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="alice", AccessKeyId=old, Status="Inactive")

    iam.create_user(UserName="bob", Tags=[{"Key": "Email", "Value": "bob@example.com"}])
    iam.put_user_policy(UserName="bob", PolicyName="everything", PolicyDocument=doc("*"))
    iam.create_login_profile(UserName="bob", Password="An0ther-secret-pw!")

    carol_policy = iam.create_policy(PolicyName="StarStar", PolicyDocument=doc(["*:*"]))["Policy"]["Arn"]
    iam.create_user(UserName="carol")
    iam.attach_user_policy(UserName="carol", PolicyArn=carol_policy)

    readonly = iam.create_policy(PolicyName="ReadS3", PolicyDocument=doc("s3:Get*"))["Policy"]["Arn"]
    iam.create_user(UserName="dave", Path="/contractors/")
    iam.attach_user_policy(UserName="dave", PolicyArn=readonly)
    iam.put_user_policy(UserName="dave", PolicyName="denied-all", PolicyDocument=doc("*", effect="Deny"))

    iam.create_user(UserName="eve")
    iam.add_user_to_group(GroupName="iam-team", UserName="eve")

    users = run(installed, tmp_path, splunk_home, moto.url)

    assert set(users) == {"alice", "bob", "carol", "dave", "eve"}
    alice = users["alice"]
    assert alice["user_arn"] == "arn:aws:iam::123456789012:user/alice"
    assert alice["aws_account_id"] == "123456789012" and alice["account"] == "prod"
    assert alice["email"] == "alice@example.com" and alice["tags"]["team"] == "platform"
    assert alice["console_access"] is True and alice["mfa_enabled"] is True
    assert alice["mfa_devices"] == [serial]
    keys = {k["access_key_id"]: k for k in alice["access_keys"]}
    assert keys[active]["status"] == "Active" and keys[old]["status"] == "Inactive"
    assert alice["active_access_keys"] == 1
    assert alice["groups"] == ["admins"]
    assert alice["is_admin"] is True
    assert alice["admin_policies"] == [{
        "name": "AdministratorAccess", "arn": ADMIN_ARN, "kind": "attached",
        "source": "group:admins",
        "reason": "AWS managed policy granting all actions on all resources"}]

    bob = users["bob"]
    assert bob["email"] == "bob@example.com"
    assert bob["console_access"] is True and bob["mfa_enabled"] is False
    assert bob["inline_policies"] == ["everything"]
    assert [(p["name"], p["kind"], p["source"]) for p in bob["admin_policies"]] == [
        ("everything", "inline", "user")]

    assert [p["name"] for p in users["carol"]["admin_policies"]] == ["StarStar"]
    assert users["carol"]["console_access"] is False

    dave = users["dave"]
    assert dave["is_admin"] is False and dave["path"] == "/contractors/"
    assert dave["attached_policies"] == [{"name": "ReadS3", "arn": readonly}]

    eve = users["eve"]
    assert eve["is_admin"] is True
    assert "full IAM" not in eve["admin_policies"][0]["reason"]  # the document's own reason
    assert "iam:*" in eve["admin_policies"][0]["reason"]
    assert eve["admin_policies"][0]["source"] == "group:iam-team"
    for user in users.values():
        assert user["read_errors"] == []
        assert "Sup3r" not in json.dumps(user)

    log = read_log(splunk_home, INPUT, "iam")
    assert "5 users, 4 with administrator-level policies, 1 with console access but no MFA" in log
    assert "ERROR" not in log and "WARNING" not in log


def test_runs_on_splunk_pythons(splunk_python, installed, tmp_path, splunk_home, moto):
    iam_client(moto.url).create_user(UserName="py-user")
    users = run(installed, tmp_path, splunk_home, moto.url, python=splunk_python)
    assert users["py-user"]["is_admin"] is False


def test_missing_permissions_are_logged_per_user_and_fields_left_unknown(
        installed, tmp_path, splunk_home, moto_iam):
    from inputs_helpers import store_account

    admin = iam_client(moto_iam.url, *moto_iam.admin_key)
    admin.create_user(UserName="frank")
    key_id, secret = moto_iam.make_user("inventory-partial", ["iam:ListUsers", "iam:ListUserTags"])
    store_account(installed, key_id=key_id, secret=secret)
    users = run(installed, tmp_path, splunk_home, moto_iam.url)
    frank = users["frank"]
    assert frank["mfa_enabled"] is None and frank["console_access"] is None
    assert any(e.startswith("iam:ListMFADevices") for e in frank["read_errors"])
    log = read_log(splunk_home, INPUT, "iam")
    assert "IAM user frank of account 123456789012: could not read" in log
    assert secret not in log


def test_no_permission_to_list_users_is_one_clear_error(installed, tmp_path, splunk_home, moto_iam):
    from inputs_helpers import store_account

    key_id, secret = moto_iam.make_user("inventory-none", ["sts:GetCallerIdentity"])
    store_account(installed, key_id=key_id, secret=secret)
    assert run(installed, tmp_path, splunk_home, moto_iam.url) == {}
    log = read_log(splunk_home, INPUT, "iam")
    assert "is not allowed to call iam:ListUsers" in log


@pytest.mark.parametrize("document, admin", [
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, True),
    ({"Statement": {"Effect": "Allow", "Action": ["s3:*", "*:*"], "Resource": ["*"]}}, True),
    ({"Statement": [{"Effect": "Allow", "Action": "IAM:*", "Resource": "*"}]}, True),
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]}, False),
    ({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}, False),
    ({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}, False),
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                     "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}, True),
    ('{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}', True),
    ("not json", False),
])
def test_admin_reason(document, admin):
    from trailwatch.ingest.iam_inventory import admin_reason

    assert (admin_reason(document) is not None) is admin
