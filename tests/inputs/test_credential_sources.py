"""Accounts without long-lived keys: the instance/container role of the Splunk host and the
host's default credential chain, each optionally followed by a role assumed with an external
id; validated on save, and collecting, against IAM-enforcing moto and a loopback instance
metadata service (imds_double.py) that hands out the credentials moto's STS issued for an
"instance role". No internet: every endpoint is on 127.0.0.1."""
import datetime
import json
import sys
import uuid

import pytest
from inputs_helpers import (ACCOUNT_CONF, input_definition, input_env, install_app, parse_stream,
                            run_input)

from imds_double import ImdsDouble

ACCOUNT = "123456789012"
INSTANCE_ACTIONS = ["sts:GetCallerIdentity", "sts:AssumeRole", "iam:List*", "iam:Get*"]


class InstanceRole(object):
    """A role moto knows, whose temporary credentials the IMDS double hands out as an
    instance profile's, each time freshly assumed (as EC2 rotates them)."""

    def __init__(self, moto_iam):
        self.name = "tw-instance-%s" % uuid.uuid4().hex[:8]
        self.arn = moto_iam.make_role(self.name, "arn:aws:iam::%s:user/admin" % ACCOUNT,
                                      actions=INSTANCE_ACTIONS)
        self._sts = moto_iam.client("sts")
        self.issued = []

    def credentials(self):
        found = self._sts.assume_role(RoleArn=self.arn, RoleSessionName="i-0abc1234def567890")
        creds = found["Credentials"]
        self.issued.append(creds["AccessKeyId"])
        return (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"],
                datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6))


@pytest.fixture
def instance(moto_iam):
    role = InstanceRole(moto_iam)
    imds = ImdsDouble(role.name, role.credentials).start()
    role.imds = imds
    yield role
    imds.stop()


@pytest.fixture
def host(aws_endpoint, moto_iam, monkeypatch):
    """This process as a Splunk host on EC2: AWS endpoints at moto, metadata service (when a
    test points it somewhere) on the loopback."""
    aws_endpoint(moto_iam.url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    monkeypatch.setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1")

    def metadata_at(url):
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
    return metadata_at


def account(source, **fields):
    from trailwatch.aws.session import AccountConfig

    return AccountConfig.from_conf("ec2", dict({"credential_source": source, "region": "us-east-1"},
                                               **fields))


def test_instance_role_validates_with_imdsv2(host, instance):
    from trailwatch.aws.validation import validate_account

    host(instance.imds.url)
    identity = validate_account(account("instance_role"))
    assert identity.arn == "arn:aws:sts::%s:assumed-role/%s/i-0abc1234def567890" % (ACCOUNT, instance.name)
    assert identity.role_arn is None
    # IMDSv2: a session token first, then the credential GETs carrying it.
    assert instance.imds.requests[0][:2] == ("PUT", "/latest/api/token")
    assert all(had_token for method, _, had_token in instance.imds.requests if method == "GET")
    assert len(instance.issued) == 1


def test_instance_role_then_role_with_external_id(host, instance, moto_iam):
    from trailwatch.aws.validation import AccountValidationError, validate_account

    host(instance.imds.url)
    # The trust policy names the instance's role session (moto matches principals exactly;
    # AWS accepts an assumed-role session ARN as a principal too).
    session_arn = "arn:aws:sts::%s:assumed-role/%s/i-0abc1234def567890" % (ACCOUNT, instance.name)
    target = moto_iam.make_role("tw-audit-%s" % uuid.uuid4().hex[:8], session_arn,
                                external_id="corp-7f3a", actions=["sts:GetCallerIdentity"])
    identity = validate_account(account("instance_role", role_arn=target, external_id="corp-7f3a"))
    assert identity.role_arn == target
    assert identity.arn.startswith("arn:aws:sts::%s:assumed-role/%s/" % (ACCOUNT, target.rsplit("/", 1)[1]))
    with pytest.raises(AccountValidationError) as failed:
        validate_account(account("instance_role", role_arn=target, external_id="corp-wrong"))
    assert failed.value.code == "AccessDenied"
    assert "corp-wrong" not in str(failed.value)
    assert "The credentials of the instance or container role of this Splunk host work" in str(failed.value)


def test_instance_role_without_one_says_what_to_fix(host):
    from trailwatch.aws.validation import AccountValidationError, validate_account

    closed = ImdsDouble("none", None).start()
    url = closed.url
    closed.stop()  # nothing listens there any more: no instance profile, no metadata service
    host(url)
    with pytest.raises(AccountValidationError) as failed:
        validate_account(account("instance_role"))
    assert failed.value.code == "NoCredentials"
    assert "uses the instance or container role of this Splunk host, but the host has none" in str(failed.value)


def test_default_chain_takes_the_hosts_credentials_and_stored_keys_never_do(host, moto_iam, monkeypatch):
    from trailwatch.aws.validation import validate_account

    name = "tw-host-%s" % uuid.uuid4().hex[:8]
    key_id, secret = moto_iam.make_user(name, ["sts:GetCallerIdentity"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    host("http://127.0.0.1:9")
    identity = validate_account(account("default_chain"))
    assert identity.arn == "arn:aws:iam::%s:user/%s" % (ACCOUNT, name)
    # The default source is the stored keys: the host's environment is not used for them.
    stored_name = "tw-stored-%s" % uuid.uuid4().hex[:8]
    stored = moto_iam.make_user(stored_name, ["sts:GetCallerIdentity"])
    identity = validate_account(account("", aws_access_key_id=stored[0], aws_secret_access_key=stored[1]))
    assert identity.arn == "arn:aws:iam::%s:user/%s" % (ACCOUNT, stored_name)


def test_validation_on_save_for_each_kind(host, instance, moto_iam, monkeypatch):
    from trailwatch.splunk.account_rest import AccountRejected, validate_payload

    host(instance.imds.url)
    key_id, secret = moto_iam.make_user("tw-keys-%s" % uuid.uuid4().hex[:8], ["sts:GetCallerIdentity"])
    saved = {
        "access_keys": {"aws_access_key_id": key_id, "aws_secret_access_key": secret},
        "instance_role": {"aws_access_key_id": "", "aws_secret_access_key": ""},
        "default_chain": {},
    }
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    for source, fields in saved.items():
        payload = dict(fields, credential_source=source, partition="aws", region="us-east-1")
        identity = validate_payload("acct", payload, None, {})
        assert identity.account_id == ACCOUNT, source
    with pytest.raises(AccountRejected) as rejected:
        validate_payload("acct", {"credential_source": "access_keys", "partition": "aws",
                                  "region": "us-east-1"}, None, {})
    assert "has no access key ID" in str(rejected.value)
    with pytest.raises(AccountRejected) as rejected:
        validate_payload("acct", {"credential_source": "ambient", "region": "us-east-1"}, None, {})
    assert "'ambient' is not one of access_keys, instance_role, default_chain" in str(rejected.value)


def test_instance_role_account_collects(splunkd, instance, moto_iam, tmp_path):
    install_app(splunkd)
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "ec2", {
        "credential_source": "instance_role", "aws_access_key_id": "", "aws_secret_access_key": "",
        "role_arn": "", "external_id": "", "partition": "aws", "region": "us-east-1"})
    person = "tw-person-%s" % uuid.uuid4().hex[:8]
    moto_iam.client("iam").create_user(UserName=person)
    home = tmp_path / "splunk"
    (home / "var" / "log" / "splunk").mkdir(parents=True)
    env = input_env(home, moto_iam.url)
    env.update({"AWS_EC2_METADATA_DISABLED": "false",
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": instance.imds.url})
    stdin = input_definition(splunkd, "aws_iam_inventory", "iam", {"account": "ec2", "index": "aws"},
                             tmp_path)
    result = run_input(sys.executable, "aws_iam_inventory", stdin, env)
    assert result.returncode == 0, result.stderr.decode()
    users = {json.loads(e["data"])["user_name"] for e in parse_stream(result.stdout)}
    assert person in users
    assert instance.issued and instance.imds.requests
