"""The alert scripts and the undo command, end to end, on each Python Splunk runs add-ons
with: 3.9 (Splunk 9.x) and 3.13 (Splunk 10). Everything they import comes from the add-on's
lib/ (requests included), as in Splunk. An interpreter that is not installed is skipped by
the `splunk_python` fixture, which says which."""
import twgovern_support as support
from test_notify_user import RELAY_USER, mail_settings

ACCOUNT = support.ACCOUNT_ID


def test_suspend_undo_and_notify(splunk_python, installed_app, splunkd, moto_endpoint, iam, smtp, unique, tmp_path):
    name = unique("py-user")
    arn = "arn:aws:iam::%s:user/%s" % (ACCOUNT, name)
    iam.create_user(UserName=name, Tags=[{"Key": "email", "Value": "%s@corp.example" % name}])
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    row = {"policy": "Console login from a new country", "user_arn": arn, "aws_account_id": ACCOUNT,
           "src_ip": "198.51.100.7", "first_seen": "2026-11-28T09:00:00Z", "last_seen": "2026-11-28T09:01:00Z"}
    mail_settings(splunkd, smtp)

    proc, events = support.run_alert(installed_app, "trailwatch_suspend_user", [row], {"dry_run": "0"},
                                     splunkd, moto_endpoint.url, tmp_path, python=splunk_python)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert events[0]["outcome"] == "success"
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"

    proc, events = support.run_alert(installed_app, "trailwatch_notify_user", [row], {"dry_run": "0"},
                                     splunkd, moto_endpoint.url, tmp_path, python=splunk_python)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert events[0]["outcome"] == "success" and smtp.logins == [RELAY_USER]
    body = smtp.to("%s@corp.example" % name)[0]["message"].get_content()
    assert "Suspend AWS user on %s: done" % arn in body

    suspend_id = [k for k, r in splunkd.records().items() if r["action"] == "trailwatch_suspend_user"][0]
    _, rows, errors, stderr, _ = support.run_undo(installed_app, {"action_id": suspend_id}, splunkd,
                                                  moto_endpoint.url, tmp_path, python=splunk_python)
    assert rows and rows[0]["outcome"] == "success", (rows, errors, stderr)
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key, "Active")]
