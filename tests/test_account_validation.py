"""Account validation on save, against moto STS enforcing IAM authentication on 127.0.0.1.

Every case also checks that the secret access key (and external id, proxy password) never
appears in a log line or in the message shown to the admin.
"""
import json
import logging
import os
import subprocess

import pytest
from http_proxy import ForwardProxy
from moto_fixtures import ACCOUNT_ID, free_port

from addon import APP_BIN, APP_LIB
from trailwatch.aws.session import AccountConfig, ProxyConfig
from trailwatch.aws.validation import AccountValidationError, validate_account
from trailwatch.splunk.account_rest import AccountRejected, merge_fields, validate_payload


@pytest.fixture
def debug_logs(caplog):
    """Everything logged at DEBUG from here on; call .clear() after test set-up."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret(secret, *texts):
    for text in texts:
        assert secret not in text


def test_good_keys(moto_iam, aws_endpoint, debug_logs):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("tw-good")
    debug_logs.clear()
    identity = validate_account(AccountConfig("prod", key, secret))
    assert identity.arn == "arn:aws:iam::%s:user/tw-good" % ACCOUNT_ID
    assert identity.account_id == ACCOUNT_ID
    assert "validated: acts as arn:aws:iam::%s:user/tw-good" % ACCOUNT_ID in debug_logs.text
    assert_no_secret(secret, debug_logs.text)


def test_unknown_access_key(moto_iam, aws_endpoint, debug_logs):
    aws_endpoint(moto_iam.url)
    secret = "unknownSecretValue/1234567890abcdefghijkl"
    with pytest.raises(AccountValidationError) as err:
        validate_account(AccountConfig("prod", "AKIAZZZZZZZZZZZZZZZZ", secret))
    assert err.value.code == "InvalidClientTokenId"
    assert "does not recognise access key ID AKIAZZZZZZZZZZZZZZZZ" in str(err.value)
    assert_no_secret(secret, str(err.value), debug_logs.text)


def test_wrong_secret(moto_iam, aws_endpoint, debug_logs):
    aws_endpoint(moto_iam.url)
    key, real_secret = moto_iam.make_user("tw-wrong-secret")
    debug_logs.clear()
    wrong = real_secret[::-1]
    with pytest.raises(AccountValidationError) as err:
        validate_account(AccountConfig("prod", key, wrong))
    assert err.value.code == "SignatureDoesNotMatch"
    assert "secret access key does not match access key ID %s" % key in str(err.value)
    assert_no_secret(wrong, str(err.value), debug_logs.text)
    assert_no_secret(real_secret, str(err.value), debug_logs.text)


def test_assume_role_without_external_id(moto_iam, aws_endpoint, debug_logs):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("tw-assume", ["sts:AssumeRole"])
    role = moto_iam.make_role("TrailWatchRead", "arn:aws:iam::%s:user/tw-assume" % ACCOUNT_ID)
    debug_logs.clear()
    identity = validate_account(AccountConfig("prod", key, secret, role_arn=role))
    assert identity.arn == "arn:aws:sts::%s:assumed-role/TrailWatchRead/trailwatch-prod" % ACCOUNT_ID
    assert identity.role_arn == role
    assert_no_secret(secret, debug_logs.text)


def test_assume_role_with_external_id(moto_iam, aws_endpoint, debug_logs):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("tw-ext", ["sts:AssumeRole"])
    role = moto_iam.make_role("TrailWatchExt", "arn:aws:iam::%s:user/tw-ext" % ACCOUNT_ID,
                              external_id="corp-7f3a9c")
    debug_logs.clear()
    identity = validate_account(
        AccountConfig("prod", key, secret, role_arn=role, external_id="corp-7f3a9c"))
    assert identity.arn.startswith("arn:aws:sts::%s:assumed-role/TrailWatchExt/" % ACCOUNT_ID)
    with pytest.raises(AccountValidationError) as err:
        validate_account(AccountConfig("prod", key, secret, role_arn=role, external_id="guess-000"))
    assert err.value.code == "AccessDenied"
    assert "not allowed to assume role %s" % role in str(err.value)
    assert "external id that does not match" in str(err.value)
    assert_no_secret("guess-000", str(err.value), debug_logs.text)
    assert_no_secret("corp-7f3a9c", str(err.value), debug_logs.text)
    assert_no_secret(secret, str(err.value), debug_logs.text)


def test_user_without_assume_permission(moto_iam, aws_endpoint):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("tw-noperm")
    role = moto_iam.make_role("Unreachable", "arn:aws:iam::%s:user/tw-noperm" % ACCOUNT_ID)
    with pytest.raises(AccountValidationError) as err:
        validate_account(AccountConfig("prod", key, secret, role_arn=role))
    assert err.value.code == "AccessDenied"
    assert "sts:AssumeRole on the role" in str(err.value)


def test_network_error_names_endpoint_not_secret(aws_endpoint, debug_logs):
    url = aws_endpoint("http://127.0.0.1:%d" % free_port())  # nothing listens there
    secret = "networkSecret/abcdefghijklmnopqrstuvwxyz12"
    with pytest.raises(AccountValidationError) as err:
        validate_account(AccountConfig("prod", "AKIAIOSFODNN7EXAMPLE", secret), connect_timeout=2)
    assert err.value.code == "NetworkError"
    assert "Could not reach %s" % url in str(err.value)
    assert_no_secret(secret, str(err.value), debug_logs.text)


def test_validation_goes_through_the_proxy(moto_iam, aws_endpoint, debug_logs):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("tw-proxied")
    debug_logs.clear()
    proxy = ForwardProxy(credentials=("svc-tw", "Pr0xyPassw0rd!"))
    try:
        good = ProxyConfig("127.0.0.1", proxy.port, "http", "svc-tw", "Pr0xyPassw0rd!")
        validate_account(AccountConfig("prod", key, secret), proxy=good)
        assert len(proxy.forwarded) == 1
        bad = ProxyConfig("127.0.0.1", proxy.port, "http", "svc-tw", "wrong-proxy-pass")
        with pytest.raises(AccountValidationError) as err:
            validate_account(AccountConfig("prod", key, secret), proxy=bad)
        assert "proxy http://svc-tw@127.0.0.1:%d" % proxy.port in str(err.value)
        assert_no_secret("wrong-proxy-pass", str(err.value), debug_logs.text)
        assert_no_secret("Pr0xyPassw0rd!", str(err.value), debug_logs.text)
        assert_no_secret(secret, debug_logs.text)
    finally:
        proxy.close()


def test_unreachable_proxy(aws_endpoint, moto_endpoint):
    aws_endpoint(moto_endpoint.url)
    dead = ProxyConfig("127.0.0.1", free_port(), "http", "svc", "DeadProxyPass1")
    with pytest.raises(AccountValidationError) as err:
        validate_account(AccountConfig("prod", "AKIAIOSFODNN7EXAMPLE", "s" * 40), proxy=dead,
                         connect_timeout=2)
    assert "proxy http://svc@127.0.0.1:%d" % dead.port in str(err.value)
    assert "DeadProxyPass1" not in str(err.value)


# --- the form's edit flow: an unchanged secret comes back masked ---------------------------

STORED = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "stored-secret",
          "role_arn": "", "external_id": "stored-ext", "partition": "aws", "region": "eu-west-1"}


def test_edit_without_retyping_the_secret_uses_the_stored_one():
    payload = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "******",
               "external_id": "******", "region": "eu-west-2"}
    merged = merge_fields(payload, STORED)
    assert merged["aws_secret_access_key"] == "stored-secret"
    assert merged["external_id"] == "stored-ext"
    assert merged["region"] == "eu-west-2"
    assert merged["partition"] == "aws"


def test_edit_clearing_the_external_id_clears_it():
    merged = merge_fields({"external_id": ""}, STORED)
    assert merged["external_id"] == ""


def test_validate_payload_edit_flow_against_moto(moto_iam, aws_endpoint):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("tw-edit")
    stored = {"aws_access_key_id": key, "aws_secret_access_key": secret, "partition": "aws",
              "region": "us-east-1"}
    identity = validate_payload("prod", {"aws_secret_access_key": "******", "region": "us-west-2"},
                                stored, proxy_fields={})
    assert identity.arn.endswith(":user/tw-edit")
    with pytest.raises(AccountRejected, match="secret access key does not match"):
        validate_payload("prod", {"aws_secret_access_key": "typed-wrong"}, stored, {})
    with pytest.raises(AccountRejected, match="not in partition aws-us-gov"):
        validate_payload("prod", {"partition": "aws-us-gov"}, stored, {})


def test_validation_runs_on_splunk_pythons(splunk_python, moto_iam, aws_endpoint, tmp_path):
    """The bundled lib/ and our package work on the interpreters Splunk ships (3.9, 3.13)."""
    url = aws_endpoint(moto_iam.url)
    user = "tw-py" + splunk_python.rsplit("python", 1)[-1].replace(".", "")
    key, secret = moto_iam.make_user(user)
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, sys; sys.path[:0] = [%r, %r]\n"
        "from trailwatch.aws.session import AccountConfig\n"
        "from trailwatch.aws.validation import validate_account\n"
        "acct = AccountConfig('prod', sys.argv[1], sys.stdin.read())\n"
        "print(json.dumps({'arn': validate_account(acct).arn, 'py': sys.version_info[:2]}))\n"
        % (APP_LIB, APP_BIN)
    )
    env = dict(os.environ, AWS_ENDPOINT_URL=url)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([splunk_python, str(probe), key], input=secret.encode(),
                            capture_output=True, env=env, cwd=APP_BIN, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    out = json.loads(result.stdout)
    assert out["arn"] == "arn:aws:iam::%s:user/%s" % (ACCOUNT_ID, user)
    assert out["py"][:2] == [int(x) for x in splunk_python.rsplit("python", 1)[-1].split(".")]
    assert secret not in result.stderr.decode()


PROXY_PASSWORD = "p@ss/w0rd:secret"
PROXY_PASSWORD_IN_URL = "p%40ss%2Fw0rd%3Asecret"


@pytest.mark.parametrize("host", ["::1]", "[::1", "a..b", "999.1.1.1", "1:2"])
def test_a_proxy_host_urls_cannot_hold_is_refused_without_the_password(host, debug_logs):
    """The attack: a proxy host that passed the form but not URL parsing made the HTTP
    library's error quote the proxy URL, password percent-encoded, into the Accounts form's
    message (and logs, audit events).  Now the host is refused by name, before any URL is
    built, and neither form of the password appears anywhere."""
    fields = {"proxy_enabled": "1", "proxy_url": host, "proxy_port": "3128",
              "proxy_username": "svc", "proxy_password": PROXY_PASSWORD}
    stored = {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "s" * 40,
              "partition": "aws", "region": "us-east-1"}
    with pytest.raises(AccountRejected) as err:
        validate_payload("prod", {"aws_secret_access_key": "******"}, stored, fields)
    assert "Proxy host %r is not a host name" % host in str(err.value)
    assert_no_secret(PROXY_PASSWORD, str(err.value), debug_logs.text)
    assert_no_secret(PROXY_PASSWORD_IN_URL, str(err.value), debug_logs.text)


@pytest.mark.parametrize("host, url_host", [("proxy.example.com", "proxy.example.com"),
                                            ("10.0.0.8", "10.0.0.8"), ("::1", "[::1]"),
                                            ("[fd00::8]", "[fd00::8]")])
def test_proxy_hosts_urls_hold_are_kept(host, url_host):
    proxy = ProxyConfig(host, 3128, "http", "svc", PROXY_PASSWORD)
    assert proxy.display() == "http://svc@%s:3128" % url_host


def test_the_percent_encoded_proxy_password_is_redacted_too():
    from trailwatch import redact

    ProxyConfig("proxy.example.com", 3128, "http", "svc", PROXY_PASSWORD)
    text = redact.scrub("Failed to parse: http://svc:%s@proxy:3128 (%s)"
                        % (PROXY_PASSWORD_IN_URL, PROXY_PASSWORD))
    assert text == "Failed to parse: http://svc:%s@proxy:3128 (%s)" % (redact.MASK, redact.MASK)
