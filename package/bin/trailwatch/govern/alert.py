"""Adapter between UCC's alert-action wrapper (splunktaucclib ModularAlertBase, the `helper`)
and the governance engine. The generated bin/<action>.py imports a tiny
bin/trailwatch_govern_<action>.py, whose process_event(helper) calls process_alert here.

Each result row is acted on independently: one failure does not stop the others. Exit
status 0 when every row ended without failure and every audit event was written, else 2.
"""
import os

from trailwatch import redact
from trailwatch.aws.session import AccountError
from trailwatch.splunk.sessions import SessionProvider
from trailwatch.govern import capabilities, registry
from trailwatch.govern.core import FAILURE, GovernError, truthy
from trailwatch.govern.engine import Environment, run_action
from trailwatch.govern.mail import SplunkMail
from trailwatch.govern.protection import Protections
from trailwatch.govern.splunkd import KvActionStore, ReceiverAuditSink
from trailwatch.splunk import config, kv_lookups
from trailwatch.splunk.logs import get_logger

APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LOOKUP_DIR = os.path.join(APP_DIR, "lookups")


class AccountSessions(object):
    """(account name, aws account id) -> (stored account name, AwsSession), cached per run.

    With no account name, the stored account acting in the row's AWS account is chosen: the
    account of its role ARN, or of its keys (sts:GetCallerIdentity) when it has no role.
    Sessions come from the shared trailwatch.splunk.sessions.SessionProvider; this adds the
    governance errors."""

    def __init__(self, session_key, server_uri, session_name="trailwatch-governance"):
        self._provider = SessionProvider(session_key, server_uri, session_name=session_name)

    def __call__(self, account_name, aws_account_id):
        try:
            if account_name:
                return account_name, self._provider.get(account_name)
            if not aws_account_id:
                raise GovernError("No AWS account to act with: set the action's account option "
                                  "(the alert row has no aws_account_id either).", "NoAccount")
            name = self._provider.account_for_id(aws_account_id)
            if name is None:
                raise GovernError(
                    "None of the stored AWS accounts (%s) acts in AWS account %s: add one under "
                    "Configuration > Accounts or set the action's account option."
                    % (", ".join(sorted(self._provider.stored_accounts())) or "none",
                       aws_account_id), "NoAccount")
            return name, self._provider.get(name)
        except (config.ConfigError, AccountError) as exc:
            raise GovernError(str(exc), "AccountConfiguration")


class _UnreadableProtections(Protections):
    """Stands in when the protected lists cannot be read: any action that consults them
    fails (and is audited) instead of acting on a target that may be protected."""

    def __init__(self, reason):
        Protections.__init__(self)
        self.reason = reason

    def bucket_entry(self, *args, **kwargs):
        raise GovernError("The protected lists could not be read (%s); nothing was changed."
                          % self.reason, "ProtectionsUnreadable")

    principal_entry = bucket_entry


def load_protections(session_key, server_uri):
    """The protected principals and buckets: the admin's KV store collections, read through
    splunkd's REST API, and the shipped default principals."""
    try:
        principals = kv_lookups.read_collection(session_key, server_uri,
                                                kv_lookups.PROTECTED_PRINCIPALS)
        buckets = kv_lookups.read_collection(session_key, server_uri,
                                             kv_lookups.PROTECTED_BUCKETS)
    except kv_lookups.KvLookupError as exc:
        return _UnreadableProtections(str(exc))
    return Protections.with_shipped(principals, buckets, LOOKUP_DIR)


def options_of(helper, action):
    options = {}
    for name in action.option_names():
        value = helper.get_param(name)
        if value is not None:
            options[name] = str(value)
    return options


def build_environment(helper, logger, audit_index=None):
    server_uri = helper.settings.get("server_uri")
    session_key = helper.session_key
    meta = {"search_name": helper.settings.get("search_name") or "",
            "sid": helper.settings.get("sid") or "",
            "app": helper.settings.get("app") or "",
            "user": helper.settings.get("owner") or helper.settings.get("user") or ""}
    return Environment(
        sessions=AccountSessions(session_key, server_uri),
        store=KvActionStore(session_key, server_uri),
        audit_sink=ReceiverAuditSink(session_key, server_uri, index=audit_index),
        protections=load_protections(session_key, server_uri),
        meta=meta,
        sender=SplunkMail(session_key, server_uri),
    )


def process_alert(action_name, helper):
    """Run governance action `action_name` on every result row; returns the exit status."""
    action = registry.get(action_name)
    options = options_of(helper, action)
    level, level_error = "INFO", None
    try:
        level = config.load_log_level(helper.session_key, helper.settings.get("server_uri"))
    except config.ConfigError as exc:
        level_error = exc
    logger = get_logger(action_name, level)
    if level_error is not None:
        logger.warning("Log level not read from the add-on settings (%s); using INFO.",
                       level_error)
    dry_run = truthy(options.get("dry_run"))
    env = build_environment(helper, logger, options.get("audit_index"))
    refused = None if dry_run else capabilities.check(
        helper.session_key, helper.settings.get("server_uri"), capabilities.GOVERN)
    status = 0
    rows = 0
    for row in helper.get_events():
        rows += 1
        if refused:
            result = capabilities.refuse(action, row, env, refused)
        else:
            result = run_action(action, row, options, env, dry_run=dry_run)
        text = "action=%s action_id=%s target=%s outcome=%s dry_run=%s reason=%s" % (
            action_name, result.action_id, result.event.get("target"), result.outcome,
            dry_run, result.reason)
        # helper.message also writes ES's "sendmodaction" line with action_status.
        helper.message(redact.scrub(text), "failure" if result.outcome == FAILURE else "success")
        if result.outcome == FAILURE:
            status = 2
        if result.audit_error:
            status = 2
            logger.error("Could not write the audit event of action %s: %s",
                         result.action_id, result.audit_error)
    logger.info("action=%s rows=%d dry_run=%s finished status=%d", action_name, rows, dry_run, status)
    return status
