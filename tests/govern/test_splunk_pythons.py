"""The governance code under the interpreters Splunk runs add-ons with (3.9 on Splunk 9.x,
3.13 on Splunk 10): every module imports with the add-on's bundled lib/, and the pure
decision logic gives the same answers as under the test interpreter."""
import json
import os
import subprocess

CHECK = r'''
import json, sys
sys.path[:0] = [sys.argv[1] + "/lib", sys.argv[1] + "/bin"]
import importlib
for name in ("core", "permissions", "protection", "buckets", "users", "engine", "audit",
             "registry", "seal", "splunkd", "alert", "undo_command", "mail", "notify",
             "notify.addresses", "notify.message", "notify.delivery", "notify.action"):
    importlib.import_module("trailwatch.govern." + name)
for script in ("trailwatch_govern_make_bucket_private", "trailwatch_govern_remove_bucket_collaborator",
               "trailwatch_govern_suspend_user", "trailwatch_govern_revoke_sessions",
               "trailwatch_govern_notify_user", "trailwatch_undo_command"):
    importlib.import_module(script)
import datetime
from trailwatch.aws import exposure
from trailwatch.govern.core import Request
from trailwatch.govern.users import RevokeSessions, parse_time
policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
                        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
                         "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}]}
new, removed = exposure.policy_without_public(policy)
action = RevokeSessions()
target = action.resolve({"iam_user": "carol", "last_seen": "2026-11-28T11:50:00.250Z"}, {})
now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
state = {"policy": None, "login_profile": {"exists": True, "reset_required": False}}
steps = action.plan(state, action.desired(state, target, Request(now=now)), target)
from trailwatch.govern.notify import NotifyOptions, NotifyUser
from trailwatch.govern.notify.addresses import find_address
from trailwatch.govern.mail import outbox_document, search_for
session = NotifyUser().resolve({"user_arn": "arn:aws:sts::123456789012:assumed-role/Dev/alice@corp.example"}, {})
address = find_address(session, {"Owner": "Team <team@corp.example>"},
                       NotifyOptions({"address_tags": "email,owner"}))[:2]
message = outbox_document("0" * 32, "tw@corp.example", ["a@corp.example"], [], "", "Subject \u00e9", "Body \u00e9\n")
search = search_for("0" * 32, False)
print(json.dumps({"kept": len(new["Statement"]), "removed": len(removed),
                  "steps": [s.operation for s in steps],
                  "last_seen": parse_time("2026-11-28T11:50:00.250Z").isoformat(),
                  "address": list(address), "message": message["mail_body"],
                  "search_has_body": "Body" in search}))
'''


def test_governance_code_on_splunk_python(splunk_python, installed_app):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    done = subprocess.run([splunk_python, "-c", CHECK, installed_app], capture_output=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert json.loads(done.stdout) == {"kept": 1, "removed": 1,
                                       "steps": ["PutUserPolicy", "UpdateLoginProfile"],
                                       "last_seen": "2026-11-28T11:50:00+00:00",
                                       "address": ["team@corp.example", "tag:Owner"],
                                       "message": "Body \u00e9\n", "search_has_body": False}
