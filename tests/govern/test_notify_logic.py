"""Notify AWS user: the pure decisions (address resolution order, what makes two alert rows
the same notification, the message), the engine's idempotence rules with an in-memory
store, and the SMTP client's failure handling against the loopback server."""
import datetime

import pytest

from trailwatch.govern import registry
from trailwatch.govern.core import GovernError, Target
from trailwatch.govern.engine import Environment, run_action
from trailwatch.govern.mail import (MailSettings, not_allowed, outbox_document, parse_mailserver,
                                    search_for, sender_address)
from trailwatch.govern.notify import NotifyOptions, NotifyUser
from trailwatch.govern.notify.addresses import addresses_in, find_address, is_email
from trailwatch.govern.notify.delivery import sns_subject
from trailwatch.govern.notify.message import compose, notification_key
from trailwatch.govern.protection import Protections
from trailwatch.govern.splunkd import MemoryStore

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
ACCOUNT = "123456789012"


def opts(**options):
    return NotifyOptions(options)


def user(name="alice"):
    return Target("user", name, ACCOUNT, "arn:aws:iam::%s:user/%s" % (ACCOUNT, name))


def session(name):
    return NotifyUser().resolve({"user_arn": "arn:aws:sts::%s:assumed-role/Dev/%s" % (ACCOUNT, name)}, {})


# --------------------------------------------------------------------------- addresses
@pytest.mark.parametrize("text, ok", [
    ("alice@corp.example", True), ("a.b+tag@mail.corp.example", True),
    ("alice", False), ("alice@corp", False), ("a b@corp.example", False),
    ("alice@-corp.example", False), ("alice@@corp.example", False), (".a@corp.example", False),
])
def test_is_email(text, ok):
    assert is_email(text) is ok


def test_addresses_in_tag_values():
    assert addresses_in("Alice Doe <alice@corp.example>") == ["alice@corp.example"]
    assert addresses_in("bob@corp.example; carol@corp.example") == ["bob@corp.example", "carol@corp.example"]
    assert addresses_in("Platform team") == []


def test_tags_first_in_the_configured_order_case_insensitively():
    tags = {"Owner": "team@corp.example", "EMAIL": "alice@corp.example"}
    assert find_address(user(), tags, opts())[:2] == ("alice@corp.example", "tag:EMAIL")
    assert find_address(user(), tags, opts(address_tags="owner,email"))[:2] == ("team@corp.example", "tag:Owner")
    # A tag without an address does not stop the search.
    address, source, trail = find_address(user(), {"email": "n/a", "owner": "Team <t@corp.example>"}, opts())
    assert (address, source) == ("t@corp.example", "tag:owner")


def identity_center_session(name):
    target = session(name)
    target.extra["role_path"] = "/aws-reserved/sso.amazonaws.com/"
    return target


def test_then_a_name_that_is_an_email_when_the_caller_did_not_choose_it():
    # IAM user names (chosen by IAM administrators) and Identity Center session names (set
    # by AWS to the user's sign-in name) are trusted.
    assert find_address(user("bob@corp.example"), {}, opts())[:2] == ("bob@corp.example", "user_name")
    assert find_address(identity_center_session("alice@corp.example"), {}, opts())[:2] == (
        "alice@corp.example", "session_name")


def test_caller_chosen_names_give_an_address_only_inside_email_domain():
    # Anyone allowed to assume a role names their own session; GetFederationToken's caller
    # names the federated user.
    federated = NotifyUser().resolve({"user_arn": "arn:aws:sts::%s:federated-user/carol@corp.example" % ACCOUNT}, {})
    for target in (session("attacker@evil.example"), session("alice@corp.example"), federated):
        address, source, trail = find_address(target, {}, opts(fallback_recipient="soc@corp.example"))
        assert (address, source) == ("soc@corp.example", "fallback_recipient")
        assert "the caller chose it" in trail[1]
    inside = opts(email_domain="corp.example", fallback_recipient="soc@corp.example")
    assert find_address(session("alice@corp.example"), {}, inside)[:2] == ("alice@corp.example", "session_name")
    assert find_address(federated, {}, inside)[:2] == ("carol@corp.example", "federated_user_name")
    assert find_address(session("attacker@evil.example"), {}, inside)[:2] == (
        "soc@corp.example", "fallback_recipient")


def test_then_name_at_domain_then_fallback():
    assert find_address(session("dave"), {}, opts(email_domain="corp.example"))[:2] == (
        "dave@corp.example", "email_domain")
    # A session name that cannot be a local part goes to the fallback.
    odd = session("i-0abc/odd")
    assert find_address(odd, {}, opts(email_domain="corp.example", fallback_recipient="soc@corp.example"))[:2] == (
        "soc@corp.example", "fallback_recipient")
    role = Target("role", "ci", ACCOUNT, extra={"role_name": "ci"})
    address, source, trail = find_address(role, {}, opts(email_domain="corp.example"))
    assert address is None and source is None
    assert trail == ["tags: none of email, e-mail, mail, emailaddress, email_address, owner_email, owner, contact holds an e-mail address",
                     "name: a role is not a person's name",
                     "email_domain: %r cannot be the local part of an address" % "",
                     "fallback_recipient: not set"]


def test_root_and_unread_tags():
    root = NotifyUser().resolve({"user_arn": "arn:aws:iam::%s:root" % ACCOUNT}, {})
    address, source, trail = find_address(root, {}, opts(fallback_recipient="soc@corp.example"),
                                          "not read (the root user has no tags)")
    assert (address, source) == ("soc@corp.example", "fallback_recipient")
    assert trail[:2] == ["tags: not read (the root user has no tags)", "name: a root user is not a person's name"]


@pytest.mark.parametrize("options, needle", [
    ({"delivery": "fax"}, "use one of splunk, ses, sns"),
    ({"email_domain": "not a domain"}, "not a domain name"),
    ({"fallback_recipient": "soc"}, "not an e-mail address"),
    ({"delivery": "ses", "sender": "soc"}, "needs the sender option"),
    ({"delivery": "sns", "sns_topic_arn": "arn:aws:sqs:us-east-1:123456789012:q"}, "sns_topic_arn"),
])
def test_option_errors(options, needle):
    with pytest.raises(GovernError, match=needle) as raised:
        NotifyOptions(options)
    assert raised.value.error_code == "ActionConfiguration"


def test_sns_topic_region_comes_from_the_arn():
    assert opts(delivery="sns", sns_topic_arn="arn:aws:sns:eu-west-1:%s:tw" % ACCOUNT).topic_region == "eu-west-1"


# --------------------------------------------------------------------------- same row?
ROW = {"policy_id": "A03", "policy": "P", "aws_account_id": ACCOUNT, "src_ip": "203.0.113.9",
       "event_names": "GetObject", "first_seen": "2026-11-28T11:40:00Z", "last_seen": "2026-11-28T11:50:00Z",
       "count": "3", "description": "d"}


def test_notification_key_identifies_the_finding_not_the_run():
    key = notification_key(ROW, user(), {"sid": "run1"})
    assert key == notification_key(dict(ROW, count="4", description="other words"), user(), {"sid": "run2"})
    assert key != notification_key(dict(ROW, last_seen="2026-11-28T12:00:00Z"), user(), {"sid": "run1"})
    assert key != notification_key(ROW, user("bob"), {"sid": "run1"})
    # Without times only the same alert run is the same row.
    bare = {"policy": "P"}
    assert notification_key(bare, user(), {"sid": "run1"}) != notification_key(bare, user(), {"sid": "run2"})


# --------------------------------------------------------------------------- message
def test_message_without_times_or_source():
    subject, body = compose({"policy": "Root activity", "severity": "critical"}, user("root"), [],
                            opts(), NOW, {"search_name": "TW - root"}, "abc")
    assert subject == "[TrailWatch] [CRITICAL] Root activity: activity of your AWS identity root"
    assert "shortly before 2026-11-28 12:00 UTC (the alert carries no times)" in body
    assert "Where from\n  not recorded in the alert" in body
    assert 'Reference: alert "TW - root", notification abc.' in body
    assert not any(line.startswith("From ") for line in body.splitlines())


def test_message_text_is_one_line_per_field_and_header_safe():
    row = dict(ROW, policy="Evil\r\nBcc: victim@corp.example", user="eve\nmallory")
    subject, body = compose(row, user(), ["Suspend AWS user on x: done"], opts(), NOW, {}, "id")
    assert "\n" not in subject and "\r" not in subject
    assert "  - Suspend AWS user on x: done" in body


def test_sns_subject_limits():
    text = sns_subject("[TrailWatch] caf\u00e9 " + "x" * 200)
    assert text.isascii() and len(text) < 100 and "\n" not in text


# --------------------------------------------------------------------------- mail settings
@pytest.mark.parametrize("text, ssl, expected", [
    ("", False, ("localhost", 25)), ("mail.corp.example:587", False, ("mail.corp.example", 587)),
    ("mail.corp.example", True, ("mail.corp.example", 465)), ("[2001:db8::1]:2525", False, ("2001:db8::1", 2525)),
])
def test_parse_mailserver(text, ssl, expected):
    assert parse_mailserver(text, ssl) == expected


def test_allowed_domains_and_sender():
    settings = MailSettings({"allowedDomainList": "corp.example, @soc.example", "from": "splunk"})
    assert settings.allowed_domains == ["corp.example", "soc.example"]
    assert not_allowed(["a@corp.example", "b@gmail.example"], settings.allowed_domains) == ["b@gmail.example"]
    assert not_allowed(["b@gmail.example"], []) == []
    assert sender_address("", settings).startswith("splunk@")
    assert sender_address("tw@corp.example", settings) == "tw@corp.example"


def test_sendemail_search_varies_only_by_key_cc_and_a_plain_sender():
    key = "0123456789abcdef" * 2
    plain = search_for(key, False)
    assert plain.startswith('| inputlookup trailwatch_mail_outbox where _key="%s" | head 1 | sendemail ' % key)
    assert 'message="$result.mail_body$"' in plain and "cc=" not in plain and "from=" not in plain
    assert ' cc="$result.mail_cc$"' in search_for(key, True)
    assert ' from="tw+soc@corp.example"' in search_for(key, False, "tw+soc@corp.example")
    for bad_key in ("0" * 31, "X" * 32, '0" | delete | eval x="' + "0" * 10):
        with pytest.raises(ValueError):
            search_for(bad_key, False)
    for bad_sender in ('tw"@corp.example', "$result.mail_to$@corp.example", "tw@corp.example\" | delete"):
        with pytest.raises(GovernError) as raised:
            search_for(key, False, bad_sender)
        assert raised.value.error_code == "ActionConfiguration"


def test_outbox_document_names_the_reply_address_in_the_body():
    doc = outbox_document("k" * 32, "tw@corp.example", ["a@corp.example"], ["b@corp.example"],
                          "soc@corp.example", "Subject", "Body\n")
    assert doc["mail_to"] == "a@corp.example" and doc["mail_cc"] == "b@corp.example"
    assert doc["mail_body"] == "Body\n\nReplies: soc@corp.example (please write to this address).\n"
    assert outbox_document("k" * 32, "tw@corp.example", ["a@corp.example"], [], "", "S", "B")["mail_body"] == "B"


# --------------------------------------------------------------------------- idempotence
class _Iam(object):
    def get_user(self, UserName):
        return {"User": {"UserName": UserName, "Path": "/",
                         "Arn": "arn:aws:iam::%s:user/%s" % (ACCOUNT, UserName)}}

    def list_user_tags(self, UserName):
        return {"Tags": [{"Key": "email", "Value": "%s@corp.example" % UserName}]}


class _Sts(object):
    def get_caller_identity(self):
        return {"Account": ACCOUNT, "Arn": "arn:aws:iam::%s:user/trailwatch" % ACCOUNT}


class _Session(object):
    partition = "aws"
    region = "us-east-1"

    def client(self, service, region=None):
        return {"iam": _Iam(), "sts": _Sts()}[service]


class _Sender(object):
    def __init__(self, fail=False):
        self.sent = []
        self.fail = fail

    def settings(self):
        return MailSettings({"mailserver": "relay.corp.example", "from": "splunk@corp.example"})

    def send(self, sender, to, cc, reply_to, subject, body, headers=None):
        if self.fail:
            raise GovernError("relay down", "SMTPConnectError")
        self.sent.append(to)
        return {"message_id": "<%d@corp.example>" % len(self.sent), "accepted": to, "refused": {}}


@pytest.fixture
def no_guard(monkeypatch):
    # The fakes are not botocore clients: skip the permission guard for them.
    monkeypatch.setattr("trailwatch.govern.core.ActionContext.client",
                        lambda self, service, region=None: self.session.client(service))


def _env(store, sender, events):
    return Environment(sessions=lambda name, account: ("prod", _Session()), store=store,
                       audit_sink=events.append, protections=Protections(),
                       meta={"sid": "run1", "search_name": "TW"}, clock=lambda: NOW, sender=sender)


def test_failed_sends_are_retried_but_interrupted_ones_are_not(no_guard):
    action = registry.get("trailwatch_notify_user")
    row = dict(ROW, user_arn="arn:aws:iam::%s:user/zoe" % ACCOUNT)
    store, events = MemoryStore(), []
    failed = run_action(action, row, {}, _env(store, _Sender(fail=True), events))
    assert failed.outcome == "failure" and store.records[failed.action_id]["status"] == "failed"
    sender = _Sender()
    sent = run_action(action, row, {}, _env(store, sender, events))
    assert sent.outcome == "success" and sender.sent == [["zoe@corp.example"]]
    assert run_action(action, row, {}, _env(store, sender, events)).outcome == "no_change"
    # A record left 'executing' (the process stopped mid-send) counts as sent.
    other = dict(row, last_seen="2026-11-28T11:59:00Z")
    store.put({"_key": "crashed", "action": "trailwatch_notify_user", "status": "executing",
               "notification_key": notification_key(other, user("zoe"), {"sid": "run1"}),
               "recipient": "zoe@corp.example", "created": "2026-11-28T11:59:30Z"})
    again = run_action(action, other, {}, _env(store, sender, events))
    assert again.outcome == "no_change" and "crashed" in again.reason and "executing" in again.reason
    assert len(sender.sent) == 1
