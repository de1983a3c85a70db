"""The life cycle every governance action follows, for one alert row:

resolve target -> pick the AWS account -> refuse protected targets -> read the state it may
change -> compute the wanted state and plan the exact API calls -> (dry run: stop and report
the plan) -> persist the snapshot (before the first write) -> execute -> read back and
verify -> record -> one audit event, whatever the outcome.

And undo: load the action record (its integrity seal checked by the store) -> refuse undo of
an undo / of an undone action -> check the target's protections again -> read the current
state -> take back only what the action changed (its snapshot before, its recorded state
after); where the target changed since, refuse unless forced (a dry run shows both) ->
execute -> verify -> mark the original undone -> audit event.

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
                                    ActionContext, GovernError, Protected, Request, Target,
                                    describe_exception)
from trailwatch.aws.exposure import ManualReview

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
    request = Request(options, row, env.clock(), result.action_id, env.meta)
    ctx = _context(action, session, request, env, target)
    target.account_id = target.account_id or ctx.account_id
    target.partition = ctx.partition
    result.aws_account_id = target.account_id

    action.protection(ctx, target, env.protections)
    before = action.read_state(ctx, target)
    result.before = action.summary(before)
    wanted = action.desired(before, target, request)
    steps = action.plan(before, wanted, target)
    result.plan = [s.to_dict() for s in steps]
    result.extra["notes"] = list(wanted.get("notes") or []) if isinstance(wanted, dict) else []
    result.extra.update(action.extra_result(before, wanted, target))
    if not steps:
        result.after = result.before
        return result.finish(NO_CHANGE, action.no_change_reason(before, target))
    if result.dry_run:
        result.after = action.summary(_without_notes(wanted))
        return result.finish(DRY_RUN, "Dry run: %d API call(s) would be made: %s."
                             % (len(steps), "; ".join(s.description for s in steps)))

    result.rollback = action.rollback_text(target, before).replace("<action_id>", result.action_id)
    record = _record(result, action, target, before, steps, env, KIND_ACTION,
                     _without_notes(wanted))
    env.store.put(record)  # the snapshot exists before the first write

    def change():
        responses = []
        for step in steps:
            responses.append(_call(ctx, step.service, step.operation, target,
                                   lambda s=step: action.execute(ctx, s)))
        after = action.read_back(ctx, target, before, wanted, responses)
        result.after = action.summary(after)
        problems = action.differences(after, wanted) + action.verify_extra(ctx, target)
        if problems:
            raise GovernError("The change did not verify: %s." % "; ".join(problems),
                              "VerificationFailed")
        return after

    _settle(env, record, change)
    return result.finish(SUCCESS, "Done: %s." % "; ".join(s.description for s in steps))


def _context(action, session, request, env, target):
    """The whole ActionContext of one run, with the add-on's own identity read from STS."""
    ctx = ActionContext(session, action.permissions, request, store=env.store,
                        sender=env.sender)
    ctx.identity = _call(ctx, "sts", "GetCallerIdentity", target,
                         lambda: ctx.client("sts").get_caller_identity())
    return ctx


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


def _record(result, action, target, snapshot, steps, env, kind, wanted=None):
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
        "wanted": wanted,
        "plan": [s.to_dict() for s in steps],
        "created": iso(env.clock()),
        "search_name": env.meta.get("search_name", ""),
        "sid": env.meta.get("sid", ""),
        "user": env.meta.get("user", ""),
        "undone_by": "",
        "undo_of": "",
    }
    record.update(action.record_fields(target, snapshot))
    return record


# --------------------------------------------------------------------------- undo
def run_undo(action_id, env, registry, dry_run=False, undo_id=None, force=False):
    """Take back what action `action_id` changed; returns a Result (audit event written).
    `force`: undo even where the target changed after the action (only the action's own
    changes are taken back)."""
    result = Result(_UndoAction(None), undo_id or uuid.uuid4().hex, dry_run)
    result.extra["undo_of"] = action_id or ""
    result.extra["force"] = bool(force)
    try:
        record = _load(action_id, env)
        action = registry.get(record.get("action"))
        result.action = _UndoAction(action)
        _refuse(record, action, action_id)
        _undo(record, action, action_id, env, result, force)
    except Protected as exc:
        result.finish(SKIPPED_PROTECTED, str(exc))
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


def _load(action_id, env):
    """The record of `action_id`; GovernError when there is none."""
    if not action_id:
        raise GovernError("No action_id given: pass the action_id of the audit event to undo.",
                          "MissingActionId")
    record = env.store.get(action_id)  # the store checks the record's integrity seal
    if record is None:
        raise GovernError("No governance action with action_id %s is recorded in the KV store "
                          "(only actions that changed something can be undone)." % action_id,
                          "UnknownAction")
    return record


def _refuse(record, action, action_id):
    """GovernError when the action of `record` cannot be undone."""
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
        raise GovernError("%s cannot be undone: %s" % (action.label, action.not_reversible_reason),
                          "NotReversible")


def _undo(record, action, action_id, env, result, force):
    target = Target.from_dict(record["target"])
    result.target = target
    result.aws_account_id = target.account_id
    account_name, session = _session(env, {"account": record.get("account") or ""}, target)
    result.account = account_name
    ctx = _context(action, session, Request(now=env.clock(), action_id=result.action_id,
                                            meta=env.meta), env, target)
    action.undo_protection(ctx, target, env.protections)
    partial = record.get("status") != STATUS_DONE
    # What the action left behind: read back when it finished, else what it was making.
    after = record.get("wanted") if partial else record.get("after")
    if after is None:
        raise GovernError("Action %s has no recorded state after its change (status %s), so "
                          "undo cannot tell its changes from later ones; restore by hand from "
                          "the record's snapshot." % (action_id, record.get("status")),
                          "NoAfterState")
    current = action.read_state(ctx, target)
    result.before = action.summary(current)
    wanted, drift = action.reverse(current, record["snapshot"], after, partial)
    steps = action.undo_plan(current, wanted, target)
    result.plan = [s.to_dict() for s in steps]
    result.extra["drift"] = list(drift)
    result.rollback = "Undo takes back the changes of action %s; run that action again to redo it." % action_id
    calls = "; ".join(s.description for s in steps) or "none"
    drift_text = ("The target changed after the action: %s. " % "; ".join(drift)) if drift else ""
    if result.dry_run:
        result.after = action.summary(wanted)
        if drift and not force:
            return result.finish(DRY_RUN, "Dry run: %sUndo would refuse without force=true; with "
                                 "it, %d API call(s) would take back only the action's own "
                                 "changes: %s." % (drift_text, len(steps), calls))
        return result.finish(DRY_RUN, "Dry run: %s%d API call(s) would take back the action's "
                             "changes: %s." % (drift_text, len(steps), calls))
    if drift and not force:
        raise GovernError("Not undone, nothing was changed: %sUndoing now could overwrite those "
                          "later changes. Review them (| trailwatchundo action_id=%s dry_run=true "
                          "shows what undo would do), then run it with force=true to take back "
                          "only the action's own changes." % (drift_text, action_id), "Drifted")
    undo_record = _record(result, action, target, current, steps, env, KIND_UNDO, wanted)
    undo_record["undo_of"] = action_id
    env.store.put(undo_record)

    def restore():
        for step in steps:
            _call(ctx, step.service, step.operation, target, lambda s=step: ctx.call(s))
        restored = action.read_state(ctx, target)
        result.after = action.summary(restored)
        problems = action.differences(restored, wanted)
        if problems:
            raise GovernError("The undo did not verify: %s." % "; ".join(problems),
                              "VerificationFailed")
        return restored

    _settle(env, undo_record, restore)
    record["status"] = STATUS_UNDONE
    record["undone_by"] = result.action_id
    record["undone_at"] = iso(env.clock())
    env.store.put(record)
    outcome = SUCCESS if steps else NO_CHANGE
    text = ("%sTook back the changes of action %s: %s." % (drift_text, action_id, calls)
            if steps else "%sNothing of action %s is left to take back." % (drift_text, action_id))
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
