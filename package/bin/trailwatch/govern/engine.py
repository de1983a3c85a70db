"""The life cycle every governance action follows, for one alert row:

resolve target -> pick the AWS account -> refuse protected targets -> read the state it may
change -> compute the wanted state and plan the exact API calls -> (dry run: stop and report
the plan) -> persist the snapshot (before the first write) -> execute -> read back and
verify -> record -> one audit event, whatever the outcome.

And undo: load the action record -> refuse undo of an undo / of an undone action -> read the
current state -> plan back to the snapshot -> execute -> verify it equals the snapshot ->
mark the original undone -> audit event.

Everything Splunk-specific (where records and audit events go, how an account becomes a
session) comes in through `Environment`, so this module is tested with in-memory doubles
as well as through the real alert scripts.
"""
import datetime
import uuid

from trailwatch import redact
from trailwatch.govern import audit
from trailwatch.timefmt import iso_utc as iso
from trailwatch.govern.core import (DRY_RUN, FAILURE, NO_CHANGE, SKIPPED_PROTECTED, SUCCESS,
                                    ActionContext, GovernError, Protected, Target,
                                    describe_exception)
from trailwatch.govern.exposure import ManualReview

STATUS_EXECUTING = "executing"   # snapshot saved, writes may have started
STATUS_DONE = "done"
STATUS_FAILED = "failed"         # a write failed or did not verify: undo may still be needed
STATUS_UNDONE = "undone"
KIND_ACTION = "action"
KIND_UNDO = "undo"


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)




class Environment(object):
    """What an action run needs from its surroundings.

    `sessions(account_name, aws_account_id)` -> (stored account name, session);
    `store`: get(action_id) / put(record); `audit_sink(event)`: writes one audit event;
    `protections`: Protections; `meta`: search_name, sid, app, user of the alert run;
    `clock()`: aware UTC datetime."""

    def __init__(self, sessions, store, audit_sink, protections, meta=None, clock=utcnow,
                 sender=None):
        self.sessions = sessions
        self.store = store
        self.audit_sink = audit_sink
        self.protections = protections
        self.meta = dict(meta or {})
        self.clock = clock
        self.sender = sender


class Result(object):
    """What happened to one target; becomes the audit event."""

    def __init__(self, action, action_id, dry_run):
        self.action = action
        self.action_id = action_id
        self.dry_run = dry_run
        self.target = None
        self.account = None
        self.aws_account_id = None
        self.outcome = None
        self.reason = ""
        self.error_code = None
        self.before = None
        self.after = None
        self.plan = []
        self.rollback = ""
        self.extra = {}

    def finish(self, outcome, reason, error_code=None):
        self.outcome = outcome
        self.reason = redact.scrub(reason)
        self.error_code = error_code
        return self


def run_action(action, row, options, env, dry_run=False, action_id=None):
    """Run `action` on one alert row; always returns a Result and writes its audit event."""
    result = Result(action, action_id or uuid.uuid4().hex, dry_run)
    try:
        _run(action, row, options, env, result)
    except Protected as exc:
        result.finish(SKIPPED_PROTECTED, str(exc))
    except ManualReview as exc:
        result.finish(FAILURE, "Manual review needed: %s" % exc, "ManualReview")
    except GovernError as exc:
        result.finish(FAILURE, str(exc), exc.error_code)
    except Exception as exc:  # an unforeseen error still ends in an audit event
        result.finish(FAILURE, "Unexpected %s: %s" % (type(exc).__name__, exc), type(exc).__name__)
    audit.emit(env, result, row)
    return result


def _run(action, row, options, env, result):
    target = action.resolve(row, options)
    result.target = target
    account_name, session = _session(env, options, target)
    result.account = account_name
    if not action.reversible:
        result.rollback = action.rollback_text(target, None)
    ctx = ActionContext(session, action.permissions, {}, options)
    ctx.store = env.store
    ctx.meta = env.meta
    ctx.sender = env.sender
    ctx.identity = _call(ctx, "sts", "GetCallerIdentity", target,
                         lambda: ctx.client("sts").get_caller_identity())
    target.account_id = target.account_id or ctx.account_id
    target.partition = ctx.partition
    result.aws_account_id = target.account_id
    ctx.options["_now"] = env.clock()
    ctx.options["_row"] = row
    ctx.options["_action_id"] = result.action_id

    action.protection(ctx, target, env.protections)
    before = action.read_state(ctx, target)
    result.before = action.summary(before)
    wanted = action.desired(before, target, ctx.options)
    steps = action.plan(before, wanted, target)
    result.plan = [s.to_dict() for s in steps]
    result.extra["notes"] = list(wanted.get("notes") or []) if isinstance(wanted, dict) else []
    if hasattr(action, "extra_result"):
        result.extra.update(action.extra_result(before, wanted, target))
    if not steps:
        result.after = result.before
        if hasattr(action, "no_change_reason"):
            return result.finish(NO_CHANGE, action.no_change_reason(before, target))
        return result.finish(NO_CHANGE, "%s already in the wanted state; nothing to change."
                             % target.label)
    if result.dry_run:
        result.after = action.summary(_without_notes(wanted))
        return result.finish(DRY_RUN, "Dry run: %d API call(s) would be made: %s."
                             % (len(steps), "; ".join(s.description for s in steps)))

    result.rollback = action.rollback_text(target, before).replace("<action_id>", result.action_id)
    record = _record(result, action, target, before, steps, env, KIND_ACTION)
    env.store.put(record)  # the snapshot exists before the first write

    def change():
        responses = []
        for step in steps:
            responses.append(_call(ctx, step.service, step.operation, target,
                                   lambda s=step: _execute(action, ctx, s)))
        if hasattr(action, "read_back"):
            # Actions whose effect cannot be read back from AWS (a message sent) judge it
            # from the calls' answers.
            after = action.read_back(ctx, target, before, wanted, responses)
        else:
            after = action.read_state(ctx, target)
        result.after = action.summary(after)
        problems = action.differences(after, wanted)
        if hasattr(action, "verify_extra"):
            problems.extend(action.verify_extra(ctx, target))
        if problems:
            raise GovernError("The change did not verify: %s." % "; ".join(problems),
                              "VerificationFailed")
        return after

    _settle(env, record, change)
    return result.finish(SUCCESS, "Done: %s." % "; ".join(s.description for s in steps))


def _execute(action, ctx, step):
    """Make one planned call: through the action when it sends something other than an AWS
    API call (Splunk's mail server), else through the guarded AWS client."""
    if hasattr(action, "execute"):
        return action.execute(ctx, step)
    return ctx.call(step)


def _without_notes(wanted):
    if isinstance(wanted, dict):
        return {k: v for k, v in wanted.items() if k != "notes"}
    return wanted


def _call(ctx, service, operation, target, call):
    try:
        return call()
    except Exception as exc:
        raise describe_exception(exc, service, operation, target)


def _session(env, options, target):
    try:
        return env.sessions((options.get("account") or "").strip(), target.account_id)
    except GovernError:
        raise
    except Exception as exc:
        raise GovernError("Cannot build an AWS session: %s" % redact.scrub(str(exc)),
                          type(exc).__name__)


def _record(result, action, target, snapshot, steps, env, kind):
    record = {
        "_key": result.action_id,
        "kind": kind,
        "action": action.name,
        "status": STATUS_EXECUTING,
        "target": target.to_dict(),
        "target_label": target.label,
        "account": result.account,
        "aws_account_id": target.account_id,
        "snapshot": snapshot,
        "plan": [s.to_dict() for s in steps],
        "created": iso(env.clock()),
        "search_name": env.meta.get("search_name", ""),
        "sid": env.meta.get("sid", ""),
        "user": env.meta.get("user", ""),
        "undone_by": "",
        "undo_of": "",
    }
    if hasattr(action, "record_fields"):
        record.update(action.record_fields(target, snapshot))
    return record


# --------------------------------------------------------------------------- undo
def run_undo(action_id, env, registry, dry_run=False, undo_id=None):
    """Restore the snapshot of action `action_id`; returns a Result (audit event written)."""
    record = env.store.get(action_id) if action_id else None
    action = registry.get(record["action"]) if record else None
    result = Result(_UndoAction(action), undo_id or uuid.uuid4().hex, dry_run)
    result.extra["undo_of"] = action_id or ""
    try:
        _undo(record, action, action_id, env, result)
    except GovernError as exc:
        result.finish(FAILURE, str(exc), exc.error_code)
    except Exception as exc:
        result.finish(FAILURE, "Unexpected %s: %s" % (type(exc).__name__, exc), type(exc).__name__)
    audit.emit(env, result, {})
    return result


class _UndoAction(object):
    """Names the undo in audit events: action = 'undo:<original action>'."""

    def __init__(self, action):
        self.name = "undo:%s" % (action.name if action is not None else "unknown")
        self.original = action


def _undo(record, action, action_id, env, result):
    if not action_id:
        raise GovernError("No action_id given: pass the action_id of the audit event to undo.",
                          "MissingActionId")
    if record is None:
        raise GovernError("No governance action with action_id %s is recorded in the KV store "
                          "(only actions that changed something can be undone)." % action_id,
                          "UnknownAction")
    if record.get("kind") == KIND_UNDO:
        raise GovernError("Action %s is itself an undo; an undo cannot be undone. Run the "
                          "original action (%s) again instead." % (action_id, record.get("undo_of")),
                          "UndoOfUndo")
    if record.get("status") == STATUS_UNDONE:
        raise GovernError("Action %s was already undone by %s; it cannot be undone twice."
                          % (action_id, record.get("undone_by")), "AlreadyUndone")
    if action is None:
        raise GovernError("Action %s was made by %r, which this version cannot undo."
                          % (action_id, record.get("action")), "UnknownActionType")
    if not action.reversible:
        raise GovernError("%s cannot be undone: %s" % (
            action.label, getattr(action, "not_reversible_reason", "it is not reversible.")),
            "NotReversible")
    target = Target.from_dict(record["target"])
    result.target = target
    result.aws_account_id = target.account_id
    account_name, session = _session(env, {"account": record.get("account") or ""}, target)
    result.account = account_name
    ctx = ActionContext(session, action.permissions, {}, {})
    ctx.identity = _call(ctx, "sts", "GetCallerIdentity", target,
                         lambda: ctx.client("sts").get_caller_identity())
    snapshot = record["snapshot"]
    current = action.read_state(ctx, target)
    result.before = action.summary(current)
    steps = action.undo_plan(current, snapshot, target)
    result.plan = [s.to_dict() for s in steps]
    result.rollback = "Undo restores the snapshot of action %s; run that action again to redo it." % action_id
    if result.dry_run:
        result.after = action.summary(snapshot)
        return result.finish(DRY_RUN, "Dry run: %d API call(s) would restore the snapshot: %s."
                             % (len(steps), "; ".join(s.description for s in steps) or "none"))
    undo_record = _record(result, action, target, current, steps, env, KIND_UNDO)
    undo_record["undo_of"] = action_id
    env.store.put(undo_record)

    def restore():
        for step in steps:
            _call(ctx, step.service, step.operation, target, lambda s=step: ctx.call(s))
        after = action.read_state(ctx, target)
        result.after = action.summary(after)
        problems = action.differences(after, _restored_view(action, snapshot, after))
        if problems:
            raise GovernError("The restore did not verify: %s." % "; ".join(problems),
                              "VerificationFailed")
        return after

    _settle(env, undo_record, restore)
    record["status"] = STATUS_UNDONE
    record["undone_by"] = result.action_id
    record["undone_at"] = iso(env.clock())
    env.store.put(record)
    outcome = SUCCESS if steps else NO_CHANGE
    text = ("Restored the snapshot of action %s: %s." % (action_id, "; ".join(s.description for s in steps))
            if steps else "The current state already equals the snapshot of action %s." % action_id)
    return result.finish(outcome, text)


def _settle(env, record, work):
    """Run ``work()`` (the writes and their read-back); the stored record ends ``done`` with
    the state read back, or ``failed`` with the (scrubbed) reason, and the error goes on."""
    try:
        after = work()
    except Exception as exc:
        record["status"] = STATUS_FAILED
        record["error"] = redact.scrub(str(exc))
        env.store.put(record)
        raise
    record["status"] = STATUS_DONE
    record["after"] = after
    env.store.put(record)
    return after


def _restored_view(action, snapshot, after):
    """What undo promises: the snapshot (with what cannot be restored taken as it is now)."""
    if hasattr(action, "restorable"):
        return action.restorable(snapshot, after)
    return snapshot
