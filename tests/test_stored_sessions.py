"""Stored account (splunkd double) -> session (factory) -> AWS (moto)."""
import pytest
from moto_fixtures import ACCOUNT_ID
from splunkd_double.fixtures import splunkd  # noqa: F401

from trailwatch.aws.session import AccountError
from trailwatch.splunk import config
from trailwatch.splunk.sessions import SessionProvider, open_session

ACCOUNTS = "ta_trailwatch_account"
SETTINGS = "ta_trailwatch_settings"


def store(splunkd, name, key, secret, **extra):  # noqa: F811
    fields = {"aws_access_key_id": key, "aws_secret_access_key": secret, "role_arn": "",
              "external_id": "", "partition": "aws", "region": "us-east-1"}
    fields.update(extra)
    splunkd.add_ucc_stanza(ACCOUNTS, name, fields,
                           encrypted=("aws_secret_access_key", "external_id"))


def test_open_session_for_a_stored_account(splunkd, moto_iam, aws_endpoint):  # noqa: F811
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("stored-user")
    store(splunkd, "prod", key, secret)
    session = open_session(splunkd.session_key, splunkd.uri, "prod")
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn == "arn:aws:iam::%s:user/stored-user" % ACCOUNT_ID


def test_open_session_uses_the_stored_proxy(splunkd, moto_endpoint, aws_endpoint):  # noqa: F811
    from http_proxy import ForwardProxy

    aws_endpoint(moto_endpoint.url)
    proxy = ForwardProxy()
    try:
        store(splunkd, "prod", "AKIAIOSFODNN7EXAMPLE", "s" * 40)
        splunkd.add_ucc_stanza(SETTINGS, "proxy", {
            "proxy_enabled": "1", "proxy_type": "http", "proxy_url": "127.0.0.1",
            "proxy_port": str(proxy.port), "proxy_username": "", "proxy_password": ""},
            encrypted=("proxy_password",))
        open_session(splunkd.session_key, splunkd.uri, "prod").client("s3").list_buckets()
        assert len(proxy.forwarded) == 1
    finally:
        proxy.close()


def test_missing_and_broken_accounts_say_what_to_fix(splunkd):  # noqa: F811
    store(splunkd, "broken", "AKIAIOSFODNN7EXAMPLE", "s" * 40, region="cn-north-1")
    with pytest.raises(config.ConfigError, match="'nope' is not configured"):
        open_session(splunkd.session_key, splunkd.uri, "nope")
    with pytest.raises(AccountError, match="not in partition aws"):
        open_session(splunkd.session_key, splunkd.uri, "broken")


def test_provider_reuses_sessions_and_finds_accounts_by_id(splunkd, moto_iam, aws_endpoint):  # noqa: F811
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("provider-user", ["sts:AssumeRole"])
    store(splunkd, "keys", key, secret)
    store(splunkd, "other", key, secret,
          role_arn="arn:aws:iam::210987654321:role/Remote")
    provider = SessionProvider(splunkd.session_key, splunkd.uri)
    assert provider.get("keys") is provider.get("keys")
    assert provider.account_for_id(ACCOUNT_ID) == "keys"
    assert provider.account_for_id("210987654321") == "other"
    assert provider.account_for_id("999999999999") is None
    assert sorted(provider.stored_accounts()) == ["keys", "other"]


def test_provider_gives_the_account_to_check_before_its_session(splunkd, moto_iam, aws_endpoint):  # noqa: F811
    """Inputs validate an account with AWS before they take its session: one read of the
    stored account serves both."""
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("checked-user")
    store(splunkd, "prod", key, secret, region="eu-west-1")
    provider = SessionProvider(splunkd.session_key, splunkd.uri, session_name="trailwatch-ct")
    account = provider.account("prod")
    assert (account.name, account.access_key_id, account.region) == ("prod", key, "eu-west-1")
    assert provider.account("prod") is account
    assert provider.proxy() is None
    session = provider.get("prod")
    assert session.account is account
    assert session.client("sts").get_caller_identity()["Arn"].endswith(":user/checked-user")
    with pytest.raises(config.ConfigError, match="'nope' is not configured"):
        provider.account("nope")
