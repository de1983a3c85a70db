"""moto in server mode on 127.0.0.1, as a child process (never the internet).

Two flavours:
- `moto_endpoint`: permissive moto (no authentication), shared by the session;
- `moto_iam`: a fresh moto that enforces IAM authentication and signatures once set up, so
  bad keys, bad secrets and denied AssumeRole calls fail the way AWS fails them. It comes with
  an `admin` user; `make_user()` creates users with keys and inline policies.
"""
import json
import os

import pytest
from splunk_runner.moto_server import MotoServer, free_port  # noqa: F401

ACCOUNT_ID = "123456789012"


def _raw_client(url, service, key_id, secret, token=None):
    # Set-up clients use boto3 directly, not the session factory under test.
    import boto3

    return boto3.session.Session().client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
    )


class MotoIam(object):
    """IAM-enforcing moto with an admin user, and helpers to create principals."""

    def __init__(self, server):
        self.server = server
        self.url = server.url
        iam = _raw_client(self.url, "iam", "AKIAIOSFODNN7EXAMPLE", "bootstrap-secret-not-checked")
        iam.create_user(UserName="admin")
        iam.put_user_policy(UserName="admin", PolicyName="everything",
                            PolicyDocument=json.dumps(allow(["*"])))
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        self.admin_key = (key["AccessKeyId"], key["SecretAccessKey"])

    def client(self, service):
        return _raw_client(self.url, service, *self.admin_key)

    def make_user(self, name, actions=()):
        iam = self.client("iam")
        iam.create_user(UserName=name)
        if actions:
            iam.put_user_policy(UserName=name, PolicyName="trailwatch-test",
                                PolicyDocument=json.dumps(allow(actions)))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def make_role(self, name, trusted_arn, external_id=None, actions=()):
        statement = {"Effect": "Allow", "Principal": {"AWS": trusted_arn},
                     "Action": "sts:AssumeRole"}
        if external_id:
            statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
        iam = self.client("iam")
        arn = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )["Role"]["Arn"]
        if actions:
            iam.put_role_policy(RoleName=name, PolicyName="trailwatch-test",
                                PolicyDocument=json.dumps(allow(actions)))
        return arn


def allow(actions):
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}


@pytest.fixture(scope="session")
def moto_endpoint():
    server = MotoServer(auth=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def moto_iam():
    server = MotoServer(auth=True)
    try:
        yield MotoIam(server)
    finally:
        server.stop()


@pytest.fixture
def aws_endpoint(monkeypatch):
    """Point the add-on's sessions at a given moto URL (through AWS_ENDPOINT_URL)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

    def point(url):
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        return url

    return point
