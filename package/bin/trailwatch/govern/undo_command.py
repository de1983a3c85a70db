"""`| trailwatchundo action_id=<id> [dry_run=true] [force=true] [audit_index=<index>]`: takes
back what a governance action changed and yields one result row describing what happened
(the same fields as the audit event it writes). Without force it refuses when the target
changed after the action; dry_run=true shows the drift and the calls either way."""
import json
import time

from trailwatch.govern import capabilities, registry
from trailwatch.govern.alert import AccountSessions, load_protections
from trailwatch.govern.core import truthy
from trailwatch.govern.engine import Environment, run_undo
from trailwatch.govern.splunkd import KvActionStore, ReceiverAuditSink

ROW_FIELDS = ("action_id", "undo_of", "action", "target", "aws_account_id", "account",
              "outcome", "reason", "error_code", "dry_run", "force", "rollback")


def undo_rows(command):
    info = command.metadata.searchinfo
    session_key, server_uri = info.session_key, info.splunkd_uri
    env = Environment(
        sessions=AccountSessions(session_key, server_uri),
        store=KvActionStore(session_key, server_uri),
        audit_sink=ReceiverAuditSink(session_key, server_uri, index=command.audit_index),
        protections=load_protections(session_key, server_uri),
        meta={"search_name": "trailwatchundo", "sid": getattr(info, "sid", "") or "",
              "app": getattr(info, "app", "") or "", "user": getattr(info, "username", "") or ""},
    )
    action_id = (command.action_id or "").strip()
    refused = capabilities.check(session_key, server_uri, capabilities.UNDO)
    if refused:
        result = capabilities.refuse(_Undo, {}, env, refused, dry_run=truthy(command.dry_run),
                                     extra={"undo_of": action_id})
    else:
        result = run_undo(action_id, env, registry.all_actions(), dry_run=truthy(command.dry_run),
                          force=truthy(command.force))
    event = result.event
    row = {field: _text(event.get(field)) for field in ROW_FIELDS}
    row["before"] = json.dumps(event.get("before"), sort_keys=True)
    row["after"] = json.dumps(event.get("after"), sort_keys=True)
    row["plan"] = json.dumps(event.get("plan"), sort_keys=True)
    row["drift"] = "; ".join(event.get("drift") or [])
    if result.audit_error:
        row["audit_error"] = result.audit_error
    row["_time"] = time.time()
    yield row


class _Undo(object):
    """Names a refused undo in its audit event (the record it names is not read)."""
    name = "undo"


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
