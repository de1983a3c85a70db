"""The demo data the dashboards are rendered over, as splreplay events of every sourcetype
the dashboards read.

- `aws:cloudtrail`: the demo story's records (tools/trailwatch_demo/story.py) with the
  add-on's own search-time knowledge applied by splreplay; the production account's records
  arrive through the S3+SQS input (`source=s3://...`), the data account's through the
  LookupEvents input (`source=aws_cloudtrail_api:<account>:<region>`), each with a delivery
  delay in `_indextime`.
- `trailwatch:s3:posture` / `trailwatch:iam:user`: snapshots with the fields the posture and
  inventory inputs write.
- `trailwatch:alert`: the rows of the add-on's own saved searches, run by splreplay over the
  story (support and baseline searches first, so baselines and posture lookups are filled in
  the state folder), one event per result row, `_time` ten minutes after the row's last event.
- `trailwatch:action`: governance audit events with the fields the audit module writes
  (package/bin/trailwatch/govern/audit.py), for the story's public bucket and sprayed user:
  dry runs, changes, an undo, a failure.
- the add-on's own log lines (`index=_internal source=*ta-trailwatch_<component>.log`).

Snapshot, audit and log events are built here (no AWS or Splunk runs in the browser test);
the alert events come from running the real detections.
"""
import datetime
import hashlib
import json
import os

from splreplay.events import flatten_json, parse_time
from trailwatch_demo import story as demo_story
from trailwatch_demo.detect import is_support, run_searches

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SQS_BUCKET = "organisation-trail-logs"
ALERT_FIELDS = ("policy_id", "policy", "severity", "description", "user", "user_arn",
                "user_type", "aws_account_id", "region", "src_ip", "src_country",
                "event_names", "event_ids", "count", "first_seen", "last_seen",
                "mitre_attack_id", "risk_object", "risk_object_type", "risk_score",
                "bucket_name", "iam_user", "role_name")


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def json_event(obj, when, sourcetype, source, indextime=None):
    """One JSON event as Splunk holds it with KV_MODE=json: _raw, _time and every field."""
    event = {"_raw": json.dumps(obj, sort_keys=True), "_time": when, "host": "demo-hf",
             "source": source, "sourcetype": sourcetype,
             "_indextime": int(indextime if indextime is not None else when)}
    for name, vals in flatten_json(obj).items():
        if name in event:
            continue  # a JSON key named like a default field (_time) does not replace it
        event[name] = vals[0] if len(vals) == 1 else vals
    return event


def cloudtrail_events(replay, story):
    """The story's records as events, split between the SQS and the LookupEvents inputs."""
    events = []
    for account in story["accounts"]:
        records = [r for r in story["records"] if r["recipientAccountId"] == account]
        if account == demo_story.PROD:
            source = "s3://%s/AWSLogs/%s/CloudTrail/" % (SQS_BUCKET, account)
            delay = 7 * 60
        else:
            source = "aws_cloudtrail_api:%s:us-east-1" % account
            delay = 4 * 60
        for n, event in enumerate(replay.events_from_records(records, source=source)):
            event["_indextime"] = int(event["_time"] + delay + (n * 37) % 300)
            events.append(event)
    return events


def posture_events(story, when):
    events = []
    for account, buckets in sorted(story["buckets"].items()):
        for bucket in buckets:
            public = bucket == "prod-customer-exports"
            snap = {
                "snapshot_time": _iso(when), "aws_account_id": account, "bucket_name": bucket,
                "region": "us-east-1", "acl_public": public,
                "acl_public_grants": [{"grantee": "AllUsers", "permission": "READ",
                                       "grantee_uri": "http://acs.amazonaws.com/groups/global/AllUsers"}]
                if public else [],
                "policy_exists": public, "policy_public": public,
                "policy_public_reason": "statement Public Principal is *" if public else "",
                "bucket_public_access_block": None if public else {
                    "BlockPublicAcls": True, "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True, "RestrictPublicBuckets": True},
                "public_via": ["acl", "policy"] if public else [],
                "neutralised_by": [], "effective_public": public, "read_errors": [],
            }
            events.append(json_event(snap, when, "trailwatch:s3:posture",
                                     "aws_s3_posture:%s" % account, when + 2))
    return events


def iam_events(story, when):
    people = {"alice": (True, True, 400, 2), "bob": (True, False, 30, 1), "erin": (True, True, 60, 1),
              "carol": (True, True, 10, 3), "dave": (False, False, 200, 150),
              "backup-svc": (False, False, 0, 0)}
    events = []
    for account in story["accounts"]:
        for person in demo_story.PEOPLE[account] + ([{"user": "backup-svc"}]
                                                     if account == demo_story.PROD else []):
            name = person["user"]
            console, mfa, key_age, unused = people[name]
            created = when - key_age * 86400
            admin = [{"name": "AdministratorAccess", "kind": "attached", "source": "user",
                      "arn": "arn:aws:iam::aws:policy/AdministratorAccess",
                      "reason": "allows * on *"}] if person.get("admin") or name == "backup-svc" else []
            snap = {
                "snapshot_time": _iso(when), "aws_account_id": account, "user_name": name,
                "user_arn": "arn:aws:iam::%s:user/%s" % (account, name),
                "console_access": console, "mfa_enabled": mfa,
                "last_used": _iso(when - unused * 86400),
                "access_keys": [{"access_key_id": "AKIA" + (name + account).upper()[:16],
                                 "status": "Active", "create_date": _iso(created),
                                 "last_used_date": _iso(when - unused * 86400)}],
                "active_access_keys": 1, "admin_policies": admin, "is_admin": bool(admin),
                "read_errors": [],
            }
            events.append(json_event(snap, when, "trailwatch:iam:user",
                                     "aws_iam_inventory:%s" % account, when + 3))
    return events


def alert_events(found):
    events = []
    for search_name, row in found:
        if not row.get("policy_id"):
            continue
        alert = {k: row[k] for k in ALERT_FIELDS if row.get(k) not in (None, "", [])}
        alert["search_name"] = search_name
        key = json.dumps([search_name, alert.get("user"), alert.get("event_ids")], sort_keys=True)
        alert["id"] = hashlib.sha1(key.encode()).hexdigest()[:16]
        when = parse_time(row["last_seen"]) if "T" in str(row.get("last_seen", "")) \
            else float(row.get("last_seen") or 0)
        events.append(json_event(alert, when + 600, "trailwatch:alert",
                                 "trailwatch:" + search_name, when + 605))
    return events


def action_events(story, when):
    prod = demo_story.PROD
    bucket = "prod-customer-exports"
    bucket_rollback = {"put_bucket_policy": "restore the policy saved in before",
                       "put_public_access_block": "delete the block added"}

    def audit(offset, action, target, outcome, reason, action_id, dry_run=False, policy="C01",
              extra=None, error_code=""):
        event = {
            "action": action, "action_id": action_id, "target": target,
            "aws_account_id": prod, "account": "demo-prod", "outcome": outcome,
            "reason": reason, "error_code": error_code, "dry_run": dry_run,
            "before": {"public": True} if action == "make_bucket_private" else {},
            "after": {"public": False} if outcome == "success" else {},
            "rollback": bucket_rollback if action == "make_bucket_private" else {},
            "alert_policy_id": policy, "alert_policy": policy,
            "search_name": "TrailWatch - demo", "sid": "scheduler_demo_%s" % action_id,
            "action_name": action,
            "action_status": "failure" if outcome == "failure" else "success",
            "_time": when + offset,
        }
        event.update(extra or {})
        return json_event(event, when + offset, "trailwatch:action", "trailwatch:" + action,
                          when + offset + 1)

    return [
        audit(60, "make_bucket_private", bucket, "dry_run",
              "Would block public access and remove the public grant and statement.",
              "act-0001", dry_run=True),
        audit(120, "make_bucket_private", bucket, "success",
              "Blocked public access; removed the AllUsers READ grant.", "act-0002"),
        audit(180, "suspend_user", "backup-svc", "success",
              "Deactivated 1 access key and removed the console password.", "act-0003",
              policy="A01"),
        audit(190, "revoke_sessions", "bob", "failure",
              "iam:PutUserPolicy was denied to the governance role.", "act-0004",
              policy="A01", error_code="AccessDenied"),
        audit(200, "notify_user", "bob", "success", "Mailed the user's registered address.",
              "act-0005", policy="A01"),
        audit(260, "make_bucket_private", "prod-web-assets", "skipped_protected",
              "The bucket is on the protected list.", "act-0006"),
        audit(900, "suspend_user", "backup-svc", "success",
              "Restored the access key and console password saved by act-0003.", "act-0007",
              policy="A01", extra={"undo_of": "act-0003"}),
    ]


def audit_events(audits, when):
    """Audit events the governance actions wrote (trailwatch:action), placed on the story's
    clock one minute apart from ``when`` (the actions stamp the real time)."""
    events = []
    for n, audit in enumerate(audits):
        t = when + 60 * n
        events.append(json_event(audit, t, "trailwatch:action", "trailwatch:" + audit["action"],
                                 t + 1))
    return events


def log_events(when):
    lines = [
        (-7200, "INFO", "aws_cloudtrail_sqs", "cloudtrail_sqs.py:run:264",
         "Wrote 112 records of s3://%s/AWSLogs/111111111111/CloudTrail/... (message 4f1c)." % SQS_BUCKET),
        (-3600, "WARNING", "aws_cloudtrail_sqs", "cloudtrail_sqs.py:_extend:134",
         "Could not extend the visibility of 2 message(s): throttled."),
        (-1800, "ERROR", "aws_cloudtrail_api", "cloudtrail_api.py:_region:204",
         "Account demo-data (222222222222), cloudtrail:LookupEvents in eu-west-1: ThrottlingException; retried next run."),
        (-600, "ERROR", "aws_s3_posture", "s3_posture.py:_read:238",
         "Account demo-prod (111111111111), s3:GetBucketPolicy on prod-app-logs: AccessDenied; grant it to the input's role."),
    ]
    events = []
    for offset, level, component, where, message in lines:
        t = when + offset
        stamp = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S,000")
        raw = "%s log_level=%s pid=4242 tid=MainThread file=%s | %s" % (stamp, level, where,
                                                                        message)
        events.append({"_raw": raw, "_time": t, "_indextime": int(t) + 1, "host": "demo-hf",
                       "index": "_internal", "sourcetype": "ta-trailwatch-%s" % component.replace("_", "-"),
                       "source": "/opt/splunk/var/log/splunk/ta-trailwatch_%s.log" % component})
    return events


def scheduler_events(names, now):
    """splunkd's scheduler log (index=_internal sourcetype=scheduler) for the support and
    baseline searches: an hourly run each over the last day, one baseline's skipped once (a
    baseline may be skipped when the scheduler is busy; the activity summary is scheduled
    continuously and never is); the fields are the ones Splunk extracts from those key=value
    lines."""
    events = []
    skipped = next((x for x in names if " - Baseline - " in x), None)
    for n, name in enumerate(names):
        for hour in range(24):
            t = now - 3600 * (24 - hour) + 60 + n
            status = "skipped" if (name == skipped and hour == 23) else "success"
            raw = ('%s INFO  SavedSplunker - savedsearch_id="nobody;TA-trailwatch;%s", '
                   'search_type="scheduled", user="nobody", app="TA-trailwatch", '
                   'savedsearch_name="%s", priority=default, status=%s, run_time=0.8'
                   % (_iso(t), name, name, status))
            events.append({"_raw": raw, "_time": t, "_indextime": int(t) + 1,
                           "host": "demo-sh", "index": "_internal", "sourcetype": "scheduler",
                           "source": "/opt/splunk/var/log/splunk/scheduler.log",
                           "app": "TA-trailwatch", "savedsearch_name": name,
                           "status": status, "search_type": "scheduled", "run_time": "0.8"})
    return events


def build(replay):
    """-> (events newest first, now) for the dashboards."""
    story = demo_story.build()
    events = cloudtrail_events(replay, story)
    now = max(e["_time"] for e in events) + 1800
    snapshots = posture_events(story, now - 1200) + iam_events(story, now - 1200)
    events.extend(snapshots)
    events.sort(key=lambda e: -e["_time"])
    alerts = alert_events(run_searches(replay, events, now))
    events.extend(alerts)
    events.extend(action_events(story, now - 1500))
    events.extend(log_events(now))
    names = replay.app.saved_search_names()
    events.extend(scheduler_events([n for n in names if is_support(n)], now))
    events.sort(key=lambda e: -e["_time"])
    return events, now
