"""AccessDenied from AWS, end to end: the built alert scripts act with a stored account whose
IAM user lacks permissions, against a moto that enforces IAM authorisation (`moto_iam`), so
the denial is AWS's own answer to a signed request, not one the test invents. Each must end
the row with outcome `failure`, the AWS error code, and the sentence naming the permission."""
import json

import twgovern_support as support

SUSPEND = "trailwatch_suspend_user"
NOTIFY = "trailwatch_notify_user"
ACCOUNT = support.ACCOUNT_ID


def governance_account(moto_iam, splunkd, name, actions):
    key_id, secret = moto_iam.make_user(name, actions)
    splunkd.add_account(name, key_id=key_id, secret=secret)
    return name


def victim(moto_iam, name, tags=()):
    iam = moto_iam.client("iam")
    iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tags])
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    return "arn:aws:iam::%s:user/%s" % (ACCOUNT, name), key


def run(installed_app, splunkd, moto_iam, tmp_path, action, account, rows, **config):
    config.update(account=account, dry_run="0")
    return support.run_alert(installed_app, action, rows, config, splunkd, moto_iam.url, tmp_path)


def test_suspend_without_put_user_policy(installed_app, splunkd, moto_iam, tmp_path, unique):
    account = governance_account(moto_iam, splunkd, unique("tw-readonly"), [
        "sts:GetCallerIdentity", "iam:GetUser", "iam:ListUserTags", "iam:GetUserPolicy", "iam:ListAccessKeys"])
    arn, key = victim(moto_iam, unique("eve"))
    name = arn.rsplit("/", 1)[1]
    proc, events = run(installed_app, splunkd, moto_iam, tmp_path, SUSPEND, account,
                       [{"user_arn": arn, "aws_account_id": ACCOUNT, "policy": "Test"}])
    assert proc.returncode == 2
    (event,) = events
    assert event["outcome"] == "failure" and event["error_code"] == "AccessDenied", event["reason"]
    assert event["reason"].startswith("AWS denied iam:PutUserPolicy on %s (AccessDenied)" % arn)
    assert "needs the iam:PutUserPolicy permission" in event["reason"]
    assert event["action_status"] == "failure"
    # The snapshot was saved before the write that AWS refused; AWS state is unchanged.
    record = splunkd.records()[event["action_id"]]
    assert record["status"] == "failed" and json.loads(record["snapshot"])["keys"] == {key: "Active"}
    iam = moto_iam.client("iam")
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_notify_without_list_user_tags_or_ses_send_email(installed_app, splunkd, moto_iam, tmp_path, unique):
    moto_iam.client("ses").verify_email_identity(EmailAddress="trailwatch@corp.example")
    arn, _ = victim(moto_iam, unique("frank"), tags=[("email", "frank@corp.example")])
    row = {"user_arn": arn, "aws_account_id": ACCOUNT, "policy": "Test", "first_seen": "2026-11-28T10:00:00Z"}
    options = {"delivery": "ses", "sender": "trailwatch@corp.example"}

    # Without iam:ListUserTags the exempt tag cannot be checked: the row is refused as failed.
    no_tags = governance_account(moto_iam, splunkd, unique("tw-notags"), ["sts:GetCallerIdentity", "iam:GetUser", "ses:SendEmail"])
    proc, events = run(installed_app, splunkd, moto_iam, tmp_path, NOTIFY, no_tags, [row], **options)
    assert events[0]["outcome"] == "failure" and events[0]["error_code"] == "AccessDenied", events[0]["reason"]
    assert "needs the iam:ListUserTags permission" in events[0]["reason"]

    # (moto answers SESv2 with an XML error body, so botocore sees only HTTP 403 where AWS
    # sends AccessDeniedException; both mean AccessDenied.)
    no_ses = governance_account(moto_iam, splunkd, unique("tw-noses"), ["sts:GetCallerIdentity", "iam:GetUser", "iam:ListUserTags"])
    proc, events = run(installed_app, splunkd, moto_iam, tmp_path, NOTIFY, no_ses, [row], **options)
    assert proc.returncode == 2
    (event,) = events
    assert event["outcome"] == "failure" and event["error_code"] == "AccessDenied", event["reason"]
    assert event["reason"].startswith("AWS denied ses:SendEmail on SES identity trailwatch@corp.example")
    assert "needs the ses:SendEmail permission" in event["reason"]
    assert splunkd.records()[event["action_id"]]["status"] == "failed"  # a later run retries
