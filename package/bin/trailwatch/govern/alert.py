"""Adapter between UCC's alert-action wrapper (splunktaucclib ModularAlertBase, the `helper`)
and the governance engine. The generated bin/<action>.py imports a tiny
bin/trailwatch_govern_<action>.py, whose process_event(helper) calls process_alert here.

Each result row is acted on independently: one failure does not stop the others. Exit
status 0 when every row ended without failure and every audit event was written, else 2.
"""
import os

from trailwatch import redact
from trailwatch.aws.session import AccountConfig, AccountError, ProxyConfig, build_session
from trailwatch.govern import registry
from trailwatch.govern.core import FAILURE, GovernError, truthy
from trailwatch.govern.engine import Environment, run_action
from trailwatch.govern.mail import SplunkMail
from trailwatch.govern.protection import Protections
from trailwatch.govern.splunkd import KvActionStore, ReceiverAuditSink
from trailwatch.splunk import config
from trailwatch.splunk.logs import get_logger

APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LOOKUP_DIR = os.path.join(APP_DIR, "lookups")


class AccountSessions(object):
    """(account name, aws account id) -> (stored account name, AwsSession), cached per run.

    With no account name, the stored account acting in the row's AWS account is chosen: the
    account of its role ARN, or of its keys (sts:GetCallerIdentity) when it has no role."""

    def __init__(self, session_key, server_uri, session_name="trailwatch-governance"):
        self.session_key = session_key
        self.server_uri = server_uri
        self.session_name = session_name
        self._proxy = None
        self._proxy_loaded = False
        self._sessions = {}
        self._account_ids = {}

    def proxy(self):
        if not self._proxy_loaded:
            self._proxy = ProxyConfig.from_conf(config.load_proxy(self.session_key, self.server_uri))
            self._proxy_loaded = True
        return self._proxy

    def session(self, name, fields=None):
        if name not in self._sessions:
            fields = fields or config.load_account(self.session_key, self.server_uri, name)
            account = AccountConfig.from_conf(name, fields)
            self._sessions[name] = build_session(account, proxy=self.proxy(),
                                                 session_name=self.session_name)
        return self._sessions[name]

    def __call__(self, account_name, aws_account_id):
        try:
            if account_name:
                return account_name, self.session(account_name)
            if not aws_account_id:
                raise GovernError("No AWS account to act with: set the action's account option "
                                  "(the alert row has no aws_account_id either).", "NoAccount")
            accounts = config.load_accounts(self.session_key, self.server_uri)
            for name, fields in accounts.items():
                if self._account_id(name, fields) == aws_account_id:
                    return name, self.session(name, fields)
            raise GovernError(
                "None of the stored AWS accounts (%s) acts in AWS account %s: add one under "
                "Configuration > Accounts or set the action's account option."
                % (", ".join(sorted(accounts)) or "none", aws_account_id), "NoAccount")
        except (config.ConfigError, AccountError) as exc:
            raise GovernError(str(exc), "AccountConfiguration")

    def _account_id(self, name, fields):
        if name not in self._account_ids:
            role = (fields.get("role_arn") or "").split(":")
            if len(role) > 4 and role[4]:
                self._account_ids[name] = role[4]
            else:
                try:
                    identity = self.session(name, fields).client("sts").get_caller_identity()
                    self._account_ids[name] = identity["Account"]
                except Exception:  # an unusable account simply does not match
                    self._account_ids[name] = None
        return self._account_ids[name]


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
        protections=Protections.from_lookup_dir(LOOKUP_DIR),
        meta=meta,
        sender=SplunkMail(session_key, server_uri),
    )


def process_alert(action_name, helper):
    """Run governance action `action_name` on every result row; returns the exit status."""
    action = registry.get(action_name)
    options = options_of(helper, action)
    level = "INFO"
    try:
        level = config.load_log_level(helper.session_key, helper.settings.get("server_uri"))
    except Exception:
        pass
    logger = get_logger(action_name, level)
    dry_run = truthy(options.get("dry_run"))
    env = build_environment(helper, logger, options.get("audit_index"))
    status = 0
    rows = 0
    for row in helper.get_events():
        rows += 1
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
