"""trailwatch.splunk.config (the built add-on's copy) against the splunkd double: accounts,
proxy and log level as the Configuration page stores them, and every way reading can fail."""
import json
import logging
import os
import socket
import subprocess
import textwrap
import types

import pytest
from solnlib import utils as solnlib_utils

from splunkd_double import SplunkdDouble, ucc_realm
from splunkd_double import fixtures as double_fixtures
from trailwatch.splunk import config

splunkd = double_fixtures.splunkd
splunkd_https = double_fixtures.splunkd_https

# The built add-on, as tests/conftest.py puts it on sys.path. Not imported
# from conftest: another conftest module (tests/splreplay) may own that name.
APP_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "output", "TA-trailwatch")
APP_BIN = os.path.join(APP_DIR, "bin")
APP_LIB = os.path.join(APP_DIR, "lib")
ACCOUNT_CONF = "ta_trailwatch_account"
SETTINGS_CONF = "ta_trailwatch_settings"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EXTERNAL_ID = "trailwatch-ext-8c41"
PROXY_PASSWORD = "pr0xy-pa55word"


@pytest.fixture(autouse=True)
def no_solnlib_retry_sleep(monkeypatch):
    """solnlib retries failed calls after 1, 2 and 4 s; the waiting is not what is tested."""
    monkeypatch.setattr(solnlib_utils, "time", types.SimpleNamespace(sleep=lambda seconds: None))


def account_fields(**overrides):
    fields = {
        "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key": SECRET,
        "role_arn": "arn:aws:iam::123456789012:role/TrailWatchCollector",
        "external_id": EXTERNAL_ID,
        "partition": "aws",
        "region": "us-east-1",
    }
    fields.update(overrides)
    return fields


def read_back(fields, name):
    """What load_account returns for a stanza stored without a credential source (saved
    before the choice existed): "" for it, which means the stored access keys."""
    return dict(fields, name=name, credential_source="")


def shipped_defaults(double):
    """What a fresh install serves: the built add-on's default/ confs."""
    double.load_conf_dir(os.path.join(APP_DIR, "default"))


def only_reads(double):
    return {r.method for r in double.requests} == {"GET"}


# ------------------------------------------------------------------------------ accounts
def test_load_account_returns_decrypted_fields(splunkd):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    account = config.load_account(splunkd.session_key, splunkd.uri, "prod")
    assert account == read_back(account_fields(), "prod")
    assert only_reads(splunkd)


def test_load_account_gives_empty_strings_for_empty_optional_fields(splunkd):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "dev", account_fields(role_arn="", external_id=""))
    account = config.load_account(splunkd.session_key, splunkd.uri, "dev")
    assert account["role_arn"] == "" and account["external_id"] == ""
    assert account["aws_secret_access_key"] == SECRET


def test_load_account_reads_single_entry_credentials_of_older_versions(splunkd):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "legacy", account_fields(), chunked=False)
    assert config.load_account(splunkd.session_key, splunkd.uri, "legacy")["external_id"] == EXTERNAL_ID


def test_load_account_reads_the_add_ons_namespace_only(splunkd):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields(), app="some_other_app")
    with pytest.raises(config.ConfigError, match="AWS account 'prod' is not configured"):
        config.load_account(splunkd.session_key, splunkd.uri, "prod")


@pytest.mark.parametrize("setup", ["no conf file", "other accounts only"])
def test_missing_account_names_the_account_and_the_fix(splunkd, setup):
    if setup == "other accounts only":
        splunkd.add_ucc_stanza(ACCOUNT_CONF, "dev", account_fields())
    with pytest.raises(config.ConfigError) as caught:
        config.load_account(splunkd.session_key, splunkd.uri, "prod")
    assert str(caught.value) == (
        "AWS account 'prod' is not configured: add it under Configuration > Accounts."
    )


def test_blank_account_name_is_a_config_error(splunkd):
    with pytest.raises(config.ConfigError, match="No AWS account is selected"):
        config.load_account(splunkd.session_key, splunkd.uri, " ")


def test_load_accounts(splunkd):
    assert config.load_accounts(splunkd.session_key, splunkd.uri) == {}
    splunkd.create_conf(ACCOUNT_CONF)
    assert config.load_accounts(splunkd.session_key, splunkd.uri) == {}
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "audit", account_fields(
        aws_access_key_id="AKIAAUDITEXAMPLE0000", aws_secret_access_key="audit-secret-value",
        external_id="", region="eu-west-1"))
    accounts = config.load_accounts(splunkd.session_key, splunkd.uri)
    assert list(accounts) == ["audit", "prod"]
    assert accounts["prod"] == read_back(account_fields(), "prod")
    assert accounts["audit"]["aws_secret_access_key"] == "audit-secret-value"
    assert accounts["audit"]["external_id"] == ""
    assert only_reads(splunkd)


def test_missing_secret_says_what_to_fix_without_the_secret(splunkd):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    for entry in splunkd.passwords():  # the credential store lost the account's secrets
        splunkd._passwords[splunkd.app].pop(entry["name"])
    with pytest.raises(config.ConfigError) as caught:
        config.load_account(splunkd.session_key, splunkd.uri, "prod")
    message = str(caught.value)
    assert "secret of AWS account 'prod' is missing" in message
    assert "Configuration > Accounts" in message
    with pytest.raises(config.ConfigError, match="secret of one of the AWS accounts is missing"):
        config.load_accounts(splunkd.session_key, splunkd.uri)


@pytest.mark.parametrize("stored", [
    SECRET + "-not-json",                      # not JSON
    json.dumps({"aws_secret_access_key": SECRET}),  # lacks external_id, which the stanza masks
    json.dumps([SECRET, EXTERNAL_ID]),          # JSON, but not an object
], ids=["not-json", "missing-field", "not-an-object"])
def test_unreadable_stored_secret_is_reported_without_leaking_it(splunkd, caplog, stored):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    for entry in splunkd.passwords():
        splunkd._passwords[splunkd.app].pop(entry["name"])
    splunkd.add_password("prod", stored, realm=ucc_realm(ACCOUNT_CONF), app=splunkd.app)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(config.ConfigError) as caught:
        config.load_account(splunkd.session_key, splunkd.uri, "prod")
    assert str(caught.value) == (
        "The stored secret of AWS account 'prod' cannot be read: enter it again under "
        "Configuration > Accounts."
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert SECRET not in caplog.text and EXTERNAL_ID not in caplog.text


def test_secrets_never_reach_logs_or_messages(splunkd, caplog):
    caplog.set_level(logging.DEBUG)
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    splunkd.add_ucc_stanza(SETTINGS_CONF, "proxy", {
        "proxy_enabled": "1", "proxy_type": "http", "proxy_url": "proxy.example.com",
        "proxy_port": "3128", "proxy_username": "tw", "proxy_password": PROXY_PASSWORD})
    config.load_account(splunkd.session_key, splunkd.uri, "prod")
    config.load_accounts(splunkd.session_key, splunkd.uri)
    config.load_proxy(splunkd.session_key, splunkd.uri)
    with pytest.raises(config.ConfigError) as caught:
        config.load_account(splunkd.session_key, splunkd.uri, "absent")
    assert caplog.records, "the libraries log at DEBUG; this test must see their records"
    for secret in (SECRET, EXTERNAL_ID, PROXY_PASSWORD, splunkd.session_key):
        assert secret not in caplog.text
        assert secret not in str(caught.value)


# ------------------------------------------------------------------------------ proxy
def test_load_proxy_is_empty_on_a_fresh_install(splunkd):
    shipped_defaults(splunkd)
    assert config.load_proxy(splunkd.session_key, splunkd.uri) == {}


def test_load_proxy_is_empty_without_settings_conf_or_stanza(splunkd):
    assert config.load_proxy(splunkd.session_key, splunkd.uri) == {}
    splunkd.set_stanza(SETTINGS_CONF, "logging", {"loglevel": "INFO"})
    assert config.load_proxy(splunkd.session_key, splunkd.uri) == {}


def test_load_proxy_returns_the_settings_with_the_password_decrypted(splunkd):
    shipped_defaults(splunkd)
    splunkd.add_ucc_stanza(SETTINGS_CONF, "proxy", {
        "proxy_enabled": "1", "proxy_type": "https", "proxy_url": "proxy.example.com",
        "proxy_port": "3128", "proxy_username": "tw", "proxy_password": PROXY_PASSWORD})
    assert splunkd.stanza(SETTINGS_CONF, "proxy")["proxy_password"] == "******"
    assert config.load_proxy(splunkd.session_key, splunkd.uri) == {
        "proxy_enabled": "1",
        "proxy_type": "https",
        "proxy_url": "proxy.example.com",
        "proxy_port": "3128",
        "proxy_username": "tw",
        "proxy_password": PROXY_PASSWORD,
    }
    assert only_reads(splunkd)


def test_load_proxy_keeps_a_configured_but_disabled_proxy(splunkd):
    splunkd.add_ucc_stanza(SETTINGS_CONF, "proxy", {
        "proxy_enabled": "0", "proxy_type": "http", "proxy_url": "10.0.0.8",
        "proxy_port": "8080", "proxy_username": "", "proxy_password": ""})
    proxy = config.load_proxy(splunkd.session_key, splunkd.uri)
    assert proxy["proxy_enabled"] == "0" and proxy["proxy_url"] == "10.0.0.8"
    assert proxy["proxy_password"] == "" and proxy["proxy_username"] == ""


# ------------------------------------------------------------------------------ log level
def test_load_log_level(splunkd):
    assert config.load_log_level(splunkd.session_key, splunkd.uri) == "INFO"  # no conf at all
    shipped_defaults(splunkd)
    assert config.load_log_level(splunkd.session_key, splunkd.uri) == "INFO"
    splunkd.set_stanza(SETTINGS_CONF, "logging", {"loglevel": "DEBUG"})
    assert config.load_log_level(splunkd.session_key, splunkd.uri) == "DEBUG"
    splunkd.set_stanza(SETTINGS_CONF, "logging", {"loglevel": "warn"})
    assert config.load_log_level(splunkd.session_key, splunkd.uri) == "WARN"
    assert logging.getLevelName("WARN") == logging.WARNING  # a name setLevel accepts
    splunkd.set_stanza(SETTINGS_CONF, "logging", {"loglevel": ""})
    assert config.load_log_level(splunkd.session_key, splunkd.uri) == "INFO"
    splunkd.set_stanza(SETTINGS_CONF, "logging", {"loglevel": "LOUD"})
    assert config.load_log_level(splunkd.session_key, splunkd.uri) == "INFO"
    splunkd.delete_stanza(SETTINGS_CONF, "logging")
    assert config.load_log_level(splunkd.session_key, splunkd.uri) == "INFO"


# ------------------------------------------------------------------------------ splunkd problems
def test_rejected_session_key_is_a_config_error_without_the_key(splunkd):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    for call in (lambda key: config.load_account(key, splunkd.uri, "prod"),
                 lambda key: config.load_proxy(key, splunkd.uri),
                 lambda key: config.load_log_level(key, splunkd.uri)):
        with pytest.raises(config.ConfigError) as caught:
            call("stale-session-key-123")
        assert "refused the session key" in str(caught.value)
        assert "HTTP 401" in str(caught.value)
        assert "stale-session-key-123" not in str(caught.value)


def test_missing_session_key_is_a_config_error(splunkd):
    with pytest.raises(config.ConfigError, match="No splunkd session key"):
        config.load_accounts("", splunkd.uri)


def test_splunkd_errors_are_reported_with_their_status(splunkd):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    splunkd.fail("storage/passwords", status=400, message="bad request", times=None)
    with pytest.raises(config.ConfigError) as caught:
        config.load_account(splunkd.session_key, splunkd.uri, "prod")
    assert str(caught.value) == (
        "splunkd at %s answered HTTP 400 Bad Request while reading AWS account 'prod'." % splunkd.uri
    )


def test_unreachable_splunkd_is_a_config_error(monkeypatch):
    import urllib3.util.retry

    # requests retries refused connections with backoff; skip the waiting.
    monkeypatch.setattr(urllib3.util.retry.Retry, "sleep", lambda self, response=None: None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    uri = "https://127.0.0.1:%d" % port
    with pytest.raises(config.ConfigError) as caught:
        config.load_accounts("some-key", uri)
    assert str(caught.value).startswith("Cannot reach splunkd at %s to read" % uri)


@pytest.mark.parametrize("uri", ["", "127.0.0.1:8089", "ftp://127.0.0.1:8089", "https://:8089",
                                 "https://127.0.0.1:99999"])
def test_bad_server_uri_is_a_config_error(uri):
    with pytest.raises(config.ConfigError, match="is not of the form https://host:port"):
        config.load_log_level("key", uri)


def test_parse_server_uri():
    assert config.parse_server_uri("https://127.0.0.1:8089") == ("https", "127.0.0.1", 8089)
    assert config.parse_server_uri(" HTTP://splunk.example.com:18089/ ") == ("http", "splunk.example.com", 18089)
    assert config.parse_server_uri("https://splunk.example.com") == ("https", "splunk.example.com", 8089)
    assert config.parse_server_uri("https://[::1]:8089") == ("https", "::1", 8089)


def test_works_over_https(splunkd_https):
    splunkd_https.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
    assert config.load_account(splunkd_https.session_key, splunkd_https.uri, "prod")["aws_secret_access_key"] == SECRET


# ------------------------------------------------------------------------------ Splunk's Pythons
READER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from trailwatch.splunk import config
    uri, key = sys.argv[3], sys.argv[4]
    try:
        config.load_account(key, uri, "absent")
        missing = None
    except config.ConfigError as exc:
        missing = str(exc)
    print(json.dumps({
        "account": config.load_account(key, uri, "prod"),
        "accounts": sorted(config.load_accounts(key, uri)),
        "proxy": config.load_proxy(key, uri),
        "log_level": config.load_log_level(key, uri),
        "missing": missing,
    }))
    """
)


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_reader_runs_on_splunks_pythons(splunk_python, https):
    """The built copy, on Splunk 9.4's Python 3.9 and Splunk 10's 3.13, as an input runs."""
    with SplunkdDouble(https=https) as double:
        shipped_defaults(double)
        double.add_ucc_stanza(ACCOUNT_CONF, "prod", account_fields())
        double.add_ucc_stanza(SETTINGS_CONF, "proxy", {
            "proxy_enabled": "1", "proxy_type": "http", "proxy_url": "proxy.example.com",
            "proxy_port": "3128", "proxy_username": "tw", "proxy_password": PROXY_PASSWORD})
        double.set_stanza(SETTINGS_CONF, "logging", {"loglevel": "DEBUG"})
        result = subprocess.run(
            [splunk_python, "-c", READER_SCRIPT, APP_LIB, APP_BIN, double.uri, double.session_key],
            capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        out = json.loads(result.stdout.strip().splitlines()[-1])
        assert out["account"] == read_back(account_fields(), "prod")
        assert out["accounts"] == ["prod"]
        assert out["proxy"]["proxy_password"] == PROXY_PASSWORD
        assert out["log_level"] == "DEBUG"
        assert out["missing"] == "AWS account 'absent' is not configured: add it under Configuration > Accounts."
        for secret in (SECRET, EXTERNAL_ID, PROXY_PASSWORD):
            assert secret not in result.stderr
        double.assert_clean()
