"""Secrets never reach the add-on's log files, even when a message carries one by mistake."""
import logging
import os

from trailwatch import redact
from trailwatch.aws.session import AccountConfig, ProxyConfig, build_session


def test_scrub_masks_registered_values_longest_first():
    redact.register("abcdefSECRET", "abcdef")
    assert redact.scrub("x abcdefSECRET y abcdef z") == "x ******** y ******** z"


def test_short_values_are_not_registered():
    redact.register("ab", "", None)
    assert redact.scrub("ab cd") == "ab cd"


def test_session_factory_registers_the_secrets_it_handles(moto_endpoint, aws_endpoint):
    aws_endpoint(moto_endpoint.url)
    account = AccountConfig("prod", "AKIAIOSFODNN7EXAMPLE", "Factory/Secret+Value0001",
                            role_arn="arn:aws:iam::123456789012:role/R", external_id="ext-factory-01")
    proxy = ProxyConfig("127.0.0.1", 3128, "http", "u", "proxy-factory-pass")
    build_session(account, proxy=proxy)
    text = "Factory/Secret+Value0001 ext-factory-01 proxy-factory-pass"
    assert redact.scrub(text) == "******** ******** ********"


def test_log_file_never_contains_a_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLUNK_HOME", str(tmp_path))
    os.makedirs(os.path.join(str(tmp_path), "var", "log", "splunk"))
    from trailwatch.splunk import logs

    redact.register("LogFile/Secret+Value0002")
    logger = logs.get_logger("redaction_probe", "DEBUG")
    logger.info("careless message with %s inside", "LogFile/Secret+Value0002")
    try:
        raise ValueError("exception text with LogFile/Secret+Value0002")
    except ValueError:
        logger.exception("failed")
    for handler in logger.handlers:
        handler.flush()
    path = os.path.join(str(tmp_path), "var", "log", "splunk", "ta-trailwatch_redaction_probe.log")
    with open(path) as handle:
        content = handle.read()
    assert "careless message with ******** inside" in content
    assert "exception text with ********" in content
    assert "LogFile/Secret+Value0002" not in content


def test_log_level_names(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SPLUNK_HOME", str(tmp_path))
    os.makedirs(os.path.join(str(tmp_path), "var", "log", "splunk"))
    from trailwatch.splunk import logs

    logger = logs.get_logger("level_probe", "warning")
    assert logger.level == logging.WARNING
    assert logs.set_level(logger, "LOUD") == logging.INFO
