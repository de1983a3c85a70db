"""The governance audit event (sourcetype trailwatch:action), one per target and outcome.

Fields (docs/governance.md): action, target, aws_account_id, outcome, reason, before,
after, rollback, alert_policy, search_name, sid, dry_run; plus action_id (what undo takes),
plan, error_code, account, and Splunk Enterprise Security's adaptive-response fields
(orig_sid, orig_rid, orig_action_name, action_name, action_status) so ES shows the result on
the notable that triggered the action.
"""
import json
import time

from trailwatch import redact
from trailwatch.govern.core import FAILURE

SOURCETYPE = "trailwatch:action"


def build_event(result, row, meta, now=None):
    row = row or {}
    target = result.target
    name = result.action.name
    event = {
        "action": name,
        "action_id": result.action_id,
        "target": target.label if target is not None else _row_target(row),
        "target_type": target.kind if target is not None else "",
        "aws_account_id": result.aws_account_id or row.get("aws_account_id", ""),
        "account": result.account or "",
        "outcome": result.outcome,
        "reason": result.reason,
        "error_code": result.error_code or "",
        "before": result.before,
        "after": result.after,
        "plan": result.plan,
        "rollback": result.rollback,
        "dry_run": bool(result.dry_run),
        "alert_policy": row.get("policy") or row.get("policy_id") or "",
        "alert_policy_id": row.get("policy_id", ""),
        "search_name": meta.get("search_name") or row.get("search_name", ""),
        "sid": meta.get("sid", ""),
        "app": meta.get("app", ""),
        "user": meta.get("user", ""),
        # Enterprise Security adaptive response conventions
        "orig_sid": row.get("orig_sid") or meta.get("sid", ""),
        "orig_rid": row.get("orig_rid") or row.get("rid", ""),
        "orig_action_name": name,
        "action_name": name,
        "action_status": "failure" if result.outcome == FAILURE else "success",
        "_time": now if now is not None else time.time(),
    }
    for key, value in result.extra.items():
        event.setdefault(key, value)
    return event


def _row_target(row):
    for field in ("bucket_name", "user_arn", "iam_user", "role_name"):
        if row.get(field):
            return row[field]
    return ""


def to_raw(event):
    """The event's text (JSON), secrets scrubbed."""
    return redact.scrub(json.dumps(event, sort_keys=True, default=str))


def emit(env, result, row):
    """Hand the event to the environment's sink; a sink failure is recorded, not raised, so
    the remaining rows are still processed (the adapter reports it)."""
    event = build_event(result, row, env.meta)
    result.event = event
    try:
        env.audit_sink(event)
        result.audit_error = None
    except Exception as exc:
        result.audit_error = "%s: %s" % (type(exc).__name__, redact.scrub(str(exc)))
    return event
