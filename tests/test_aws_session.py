"""The session factory (trailwatch.aws.session) against moto on 127.0.0.1."""
import datetime
import logging

import botocore.credentials
import pytest
from http_proxy import ForwardProxy
from moto_fixtures import ACCOUNT_ID

from trailwatch.aws import session as tw_session
from trailwatch.aws.session import AccountConfig, AccountError, ProxyConfig, RoleLink, build_session


def account(key, secret, **kw):
    return AccountConfig("prod", key, secret, **kw)


def test_keys_only_session_uses_stored_keys_not_the_environment(moto_iam, aws_endpoint, monkeypatch):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("collector-keys")
    # Credentials in the Splunk host's environment must never be picked up instead.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_iam.admin_key[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_iam.admin_key[1])
    session = build_session(account(key, secret))
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn == "arn:aws:iam::%s:user/collector-keys" % ACCOUNT_ID


def test_client_config_is_adaptive_with_user_agent(moto_endpoint, aws_endpoint):
    aws_endpoint(moto_endpoint.url)
    session = build_session(account("AKIAIOSFODNN7EXAMPLE", "s" * 40))
    client = session.client("s3")
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] >= 2
    assert client.meta.endpoint_url == moto_endpoint.url
    assert "TrailWatch" in client.meta.config.user_agent_appid


def test_service_specific_endpoint_override(moto_endpoint, aws_endpoint, monkeypatch):
    aws_endpoint("http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_endpoint.url)
    session = build_session(account("AKIAIOSFODNN7EXAMPLE", "s" * 40))
    assert session.client("sts").meta.endpoint_url == moto_endpoint.url
    assert session.client("iam").meta.endpoint_url == "http://127.0.0.1:9"


def test_partition_endpoints_without_override(aws_endpoint):
    aws_endpoint("unused")
    import os

    os.environ.pop("AWS_ENDPOINT_URL")
    gov = build_session(account("AKIAIOSFODNN7EXAMPLE", "s" * 40, partition="aws-us-gov",
                                region="us-gov-west-1"))
    assert gov.client("sts").meta.endpoint_url == "https://sts.us-gov-west-1.amazonaws.com"
    china = build_session(account("AKIAIOSFODNN7EXAMPLE", "s" * 40, partition="aws-cn"))
    assert china.region == "cn-north-1"
    assert china.client("s3").meta.endpoint_url.endswith(".amazonaws.com.cn")
    with pytest.raises(AccountError, match="not in partition aws-cn"):
        china.client("s3", region="eu-west-1")


@pytest.mark.parametrize("fields, message", [
    ({"partition": "aws-cn", "region": "us-east-1"}, "region us-east-1 is not in partition aws-cn"),
    ({"region": "moon-1"}, "not an AWS region code"),
    ({"partition": "aws-mars"}, "partition 'aws-mars' is not one of"),
    ({"role_arn": "arn:aws:iam::12:role/x"}, "is not an IAM role ARN"),
    ({"role_arn": "arn:aws-cn:iam::123456789012:role/x"}, "belongs to partition aws-cn"),
])
def test_account_shape_errors_say_what_to_fix(fields, message):
    with pytest.raises(AccountError, match=message):
        account("AKIAIOSFODNN7EXAMPLE", "s" * 40, **fields)


def test_account_repr_never_shows_the_secret():
    acct = account("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalrXUtnFEMI" not in repr(acct)


def test_assume_role_with_external_id(moto_iam, aws_endpoint):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("collector-ext", ["sts:AssumeRole"])
    role = moto_iam.make_role("TrailWatchReadExt", "arn:aws:iam::%s:user/collector-ext" % ACCOUNT_ID,
                              external_id="tw-ext-42")
    session = build_session(account(key, secret, role_arn=role, external_id="tw-ext-42"))
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn == "arn:aws:sts::%s:assumed-role/TrailWatchReadExt/trailwatch-prod" % ACCOUNT_ID
    assert session.role_links[0].assume_count == 1


def test_role_chaining(moto_iam, aws_endpoint):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("collector-chain", ["sts:AssumeRole"])
    hub = moto_iam.make_role("Hub", "arn:aws:iam::%s:user/collector-chain" % ACCOUNT_ID,
                             actions=["sts:AssumeRole"])
    # Trust the hub role's session (an assumed-role ARN is a valid trust principal in AWS).
    spoke = moto_iam.make_role("Spoke",
                               "arn:aws:sts::%s:assumed-role/Hub/trailwatch-prod" % ACCOUNT_ID,
                               external_id="spoke-ext", actions=["s3:ListAllMyBuckets"])
    session = build_session(account(key, secret, role_arn=hub), role_chain=[(spoke, "spoke-ext")])
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn.startswith("arn:aws:sts::%s:assumed-role/Spoke/" % ACCOUNT_ID)
    assert [link.assume_count for link in session.role_links] == [1, 1]
    assert "role %s -> role %s" % (hub, spoke) in session.describe()


def test_temporary_credentials_never_reach_the_logs(moto_iam, aws_endpoint, caplog):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("collector-logs", ["sts:AssumeRole"])
    role = moto_iam.make_role("Logged", "arn:aws:iam::%s:user/collector-logs" % ACCOUNT_ID)
    caplog.set_level(logging.DEBUG)
    session = build_session(account(key, secret, role_arn=role))
    session.client("sts").get_caller_identity()
    frozen = session.credentials.get_frozen_credentials()
    assert frozen.secret_key and frozen.token
    for value in (secret, frozen.secret_key, frozen.token):
        assert value not in caplog.text


def test_credentials_refresh_before_expiry(moto_iam, aws_endpoint):
    real_now = botocore.credentials._local_now
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("collector-refresh", ["sts:AssumeRole"])
    role = moto_iam.make_role("Refreshing", "arn:aws:iam::%s:user/collector-refresh" % ACCOUNT_ID)
    offset = [datetime.timedelta(0)]
    session = build_session(account(key, secret, role_arn=role),
                            clock=lambda: real_now() + offset[0])
    sts = session.client("sts")
    sts.get_caller_identity()
    sts.get_caller_identity()
    link = session.role_links[0]
    assert link.assume_count == 1, "fresh credentials must be reused, not re-assumed per call"
    first_expiry = link.last_expiry

    # 50 minutes later a one-hour credential is inside botocore's 15-minute refresh window:
    # the next call must assume the role again before the old credentials expire.
    offset[0] = datetime.timedelta(minutes=50)
    sts.get_caller_identity()
    assert link.assume_count == 2
    assert link.last_expiry != first_expiry


def test_short_role_duration_refreshes_on_use(moto_iam, aws_endpoint):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("collector-short", ["sts:AssumeRole"])
    role = moto_iam.make_role("Short", "arn:aws:iam::%s:user/collector-short" % ACCOUNT_ID)
    acct = account(key, secret)
    session = build_session(acct, role_chain=[RoleLink(role, None, "short", duration_seconds=900)])
    sts = session.client("sts")
    sts.get_caller_identity()
    sts.get_caller_identity()
    # 15-minute credentials are always within the advisory window: refreshed on each use.
    assert session.role_links[0].assume_count >= 2


def test_proxy_carries_aws_calls_with_credentials(moto_endpoint, aws_endpoint, caplog):
    aws_endpoint(moto_endpoint.url)
    proxy = ForwardProxy(credentials=("tw-proxy", "pr0xy p@ss/word"))
    try:
        settings = ProxyConfig.from_conf({
            "proxy_enabled": "1", "proxy_type": "http", "proxy_url": "127.0.0.1",
            "proxy_port": str(proxy.port), "proxy_username": "tw-proxy",
            "proxy_password": "pr0xy p@ss/word",
        })
        caplog.set_level(logging.DEBUG)
        session = build_session(account("AKIAIOSFODNN7EXAMPLE", "s" * 40), proxy=settings)
        session.client("sts").get_caller_identity()
        session.client("s3").list_buckets()
        assert [method for method, _ in proxy.forwarded] == ["POST", "GET"]
        assert all(url.startswith(moto_endpoint.url) for _, url in proxy.forwarded)
        assert "pr0xy p@ss/word" not in session.describe()
        assert "pr0xy" not in caplog.text
    finally:
        proxy.close()


def test_proxy_disabled_or_incomplete():
    assert ProxyConfig.from_conf({}) is None
    assert ProxyConfig.from_conf({"proxy_enabled": "0", "proxy_url": "p", "proxy_port": "1"}) is None
    with pytest.raises(AccountError, match="host or port is empty"):
        ProxyConfig.from_conf({"proxy_enabled": "1", "proxy_url": "proxy.example.com"})
    with pytest.raises(AccountError, match="http or https proxy only"):
        ProxyConfig.from_conf({"proxy_enabled": "true", "proxy_url": "p", "proxy_port": "1080",
                               "proxy_type": "socks5"})
    ipv6 = ProxyConfig.from_conf({"proxy_enabled": "1", "proxy_url": "fd00::1", "proxy_port": "3128"})
    assert ipv6.url() == "http://[fd00::1]:3128"


def test_role_session_name_is_valid_for_aws():
    assert tw_session.role_session_name("trailwatch-prod account!") == "trailwatch-prod-account-"
    assert len(tw_session.role_session_name("x" * 100)) == 64
