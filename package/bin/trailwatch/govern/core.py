"""Shared pieces of every governance action: outcomes, targets, planned API calls, the AWS
context an action runs in, the Action interface, and AWS error -> outcome translation.

An action is a small class (see buckets.py, users.py, notify.py) that resolves its target
from an alert row, checks protections, reads the state it may change, computes the state it
wants, and plans the exact API calls from one to the other. engine.py runs that life cycle
(snapshot, dry run, execute, read back, audit); undo takes back only the action's own change
(`reverse`, built on `revert`) and plans the calls for that.
"""
import json

SUCCESS = "success"
FAILURE = "failure"
DRY_RUN = "dry_run"
SKIPPED_PROTECTED = "skipped_protected"
NO_CHANGE = "no_change"
OUTCOMES = (SUCCESS, FAILURE, DRY_RUN, SKIPPED_PROTECTED, NO_CHANGE)

TRUE_WORDS = ("1", "true", "yes", "t", "y", "on")


def truthy(value):
    if isinstance(value, bool):
        return value
    return str(value if value is not None else "").strip().lower() in TRUE_WORDS


class GovernError(Exception):
    """A problem that ends one target's action with outcome `failure`; the message is the
    audit event's reason and says what is needed."""

    def __init__(self, message, error_code=None):
        Exception.__init__(self, message)
        self.error_code = error_code


class TargetError(GovernError):
    """The alert row does not name a target this action can act on."""


class Protected(Exception):
    """The target is protected; the message says why (outcome skipped_protected)."""


class Target(object):
    """What an action acts on. `kind` is bucket, user, role or session; `name` the bucket,
    user or role name; `arn` the principal's ARN where there is one; `account_id` the AWS
    account that owns it; `extra` action-specific details (collaborator, session id...)."""

    def __init__(self, kind, name, account_id=None, arn=None, partition="aws", extra=None):
        self.kind = kind
        self.name = name
        self.account_id = account_id or None
        self.arn = arn or None
        self.partition = partition or "aws"
        self.extra = dict(extra or {})

    @property
    def label(self):
        if self.kind == "bucket":
            return "s3://%s" % self.name
        return self.arn or "%s/%s" % (self.kind, self.name)

    def to_dict(self):
        return {"kind": self.kind, "name": self.name, "account_id": self.account_id,
                "arn": self.arn, "partition": self.partition, "extra": self.extra}

    @classmethod
    def from_dict(cls, data):
        return cls(data["kind"], data["name"], data.get("account_id"), data.get("arn"),
                   data.get("partition") or "aws", data.get("extra"))

    def __repr__(self):
        return "Target(%s)" % self.label


class Step(object):
    """One planned AWS API call: service, operation (the API's name), its parameters and a
    sentence for people."""

    def __init__(self, service, operation, params, description):
        self.service = service
        self.operation = operation
        self.params = params
        self.description = description

    def to_dict(self):
        return {"service": self.service, "operation": self.operation,
                "params": self.params, "description": self.description}

    def __repr__(self):
        return "Step(%s:%s %s)" % (self.service, self.operation, json.dumps(self.params, sort_keys=True))


class Request(object):
    """What one run of an action was asked to do, as plain data: the admin's options, the
    alert row, the run's clock reading, its action_id and the alert run's metadata
    (search_name, sid, app, user). The pure hooks (desired, plan) read it."""

    def __init__(self, options=None, row=None, now=None, action_id="", meta=None):
        self.options = dict(options or {})
        self.row = dict(row or {})
        self.now = now
        self.action_id = action_id or ""
        self.meta = dict(meta or {})


class ActionContext(object):
    """The AWS side of one run, built whole by the engine: clients (guarded by the action's
    declared permissions), the acting identity, the request, the action records (KV store)
    and the Splunk mail transport."""

    def __init__(self, session, permissions, request, identity=None, store=None, sender=None,
                 calls=None):
        from trailwatch.govern.permissions import guard

        self._guard = guard
        self.session = session
        self.permissions = frozenset(permissions)
        self.request = request
        self.identity = dict(identity or {})  # {"Account", "Arn", "UserId"} of the add-on
        self.store = store
        self.sender = sender
        self.calls = calls if calls is not None else []
        self._clients = {}

    @property
    def options(self):
        return self.request.options

    @property
    def meta(self):
        return self.request.meta

    @property
    def account_id(self):
        return self.identity.get("Account")

    @property
    def partition(self):
        return getattr(self.session, "partition", "aws")

    def client(self, service, region=None):
        """A guarded client of `service` (in `region`; default: the stored account's)."""
        key = (service, region or None)
        if key not in self._clients:
            made = self.session.client(service, region) if region else self.session.client(service)
            self._clients[key] = self._guard(made, self.permissions, self.calls)
        return self._clients[key]

    def call(self, step):
        from trailwatch.govern.permissions import method_of

        client = self.client(step.service)
        return getattr(client, method_of(step.operation))(**step.params)


def revert(name, current, before, after, same, partial=False, merge=None):
    """Undo of one part of a target's state: (value wanted, drift sentence or None).

    The action changed the part from `before` to `after`. Where the part is still as the
    action left it, undo puts `before` back; where the action did not change it, undo leaves it
    as it is now. Anything else is drift (someone changed it since): the sentence says so, and
    the value is `merge(current, before, after)` (the action's own change taken out of what is
    there now) or, without merge, the current value. `partial`: the action stopped part-way,
    so a part still as it was before is not drift."""
    if same(current, after):
        return before, None
    if same(before, after) or (partial and same(current, before)):
        return current, None
    value = merge(current, before, after) if merge is not None else current
    return value, "%s changed after the action" % name


class Action(object):
    """Interface every governance action implements. Every hook the engine calls is declared
    here with its default; the AWS readers and execute are the only ones that call AWS."""

    name = None          # alert action name, e.g. trailwatch_make_bucket_private
    label = None         # what admins see
    permissions = ()     # every IAM action the code may call (checked by permissions.guard)
    reversible = True
    not_reversible_reason = "it is not reversible."
    options = ()         # action-specific alert parameters
    common_options = ("account", "dry_run", "audit_index", "account_id_field")

    def option_names(self):
        return tuple(self.common_options) + tuple(self.options)

    def resolve(self, row, options):
        """Target from one alert row (TargetError when the row lacks it)."""
        raise NotImplementedError

    def protection(self, ctx, target, protections):
        """Raise Protected(reason) when the target must not be touched."""

    def undo_protection(self, ctx, target, protections):
        """Raise Protected(reason) when undo must not touch the target (default: the same
        rules as the action itself)."""
        self.protection(ctx, target, protections)

    def read_state(self, ctx, target):
        """Everything this action may change, as JSON-able data (the snapshot)."""
        raise NotImplementedError

    def desired(self, state, target, request):
        """The state the action wants (pure; `request` is a Request)."""
        raise NotImplementedError

    def plan(self, state, desired, target):
        """[Step] from state to desired; [] means nothing to do (pure)."""
        raise NotImplementedError

    def execute(self, ctx, step):
        """Make one planned call (default: the guarded AWS client)."""
        return ctx.call(step)

    def read_back(self, ctx, target, before, wanted, responses):
        """The state after the calls (default: read from AWS again). Actions whose effect
        cannot be read back (a message sent) judge it from the calls' answers."""
        return self.read_state(ctx, target)

    def differences(self, actual, wanted):
        """[sentence] naming where `actual` differs from `wanted` (pure); [] when equal."""
        raise NotImplementedError

    def verify_extra(self, ctx, target):
        """[sentence] of problems AWS's own verdict shows after the change (default: none)."""
        return []

    def reverse(self, current, before, after, partial):
        """(state wanted by undo, [drift sentence]) (pure): `current` with this action's
        own change from `before` to `after` taken back, and where the target changed since.
        `partial`: the action stopped part-way (`after` is what it wanted)."""
        raise NotImplementedError

    def undo_plan(self, current, wanted, target):
        """[Step] from current to the state `reverse` wants (pure)."""
        raise NotImplementedError

    def summary(self, state):
        """A compact, secret-free view of a state for the audit event (default: all of it)."""
        return state

    def extra_result(self, state, wanted, target):
        """Fields added to the audit event (default: none)."""
        return {}

    def no_change_reason(self, state, target):
        return "%s already in the wanted state; nothing to change." % target.label

    def record_fields(self, target, snapshot):
        """Fields added to the action record, for KV store queries (default: none)."""
        return {}

    def rollback_text(self, target, snapshot):
        return "Run | trailwatchundo action_id=<action_id> to undo this action's changes."


# --------------------------------------------------------------------------- AWS errors
_THROTTLED = ("Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded",
              "TooManyRequestsException", "RequestThrottled")
_BAD_CREDENTIALS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                    "InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure")


def describe_client_error(exc, service, operation, target, resource=None):
    """GovernError for a botocore ClientError raised by `operation`: the AWS error code and a
    sentence saying which permission or state is needed. `resource` names what the call acted
    on when that is not the target itself (an SES identity, an SNS topic)."""
    from trailwatch.govern.permissions import iam_action

    error = (getattr(exc, "response", None) or {}).get("Error") or {}
    code = error.get("Code") or type(exc).__name__
    if code == "403":
        # HTTP 403 whose body carried no error code botocore could read (S3 HEAD requests;
        # an error body in another protocol than the service's): AWS denied the call.
        code = "AccessDenied"
    message = error.get("Message") or ""
    permission = iam_action(service, operation)
    label = resource or (target.label if target is not None else "the target")
    if service == "sns" and code in ("NotFound", "NotFoundException"):
        text = ("SNS topic %s does not exist (NotFound): create it or correct the action's "
                "sns_topic_arn option." % label)
    elif code in ("MessageRejected", "MailFromDomainNotVerifiedException",
                  "MailFromDomainNotVerified", "AccountSendingPausedException",
                  "SendingPausedException", "NotFoundException") and service in ("ses", "sesv2"):
        text = ("Amazon SES refused the message (%s): %s. The sender must be an identity "
                "verified in SES in that region and, while the AWS account is in the SES "
                "sandbox, every recipient too." % (code, message or "no message"))
    elif code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                  "AllAccessDisabled", "403"):
        text = ("AWS denied %s on %s (%s): the add-on's AWS identity needs the %s permission "
                "on it (see policies/trailwatch-governance-policy.json), and no SCP, permissions "
                "boundary or explicit Deny may block it." % (permission, label, code, permission))
    elif code in ("NoSuchBucket", "404", "NotFound"):
        text = ("%s failed (%s): bucket %s does not exist in the AWS account the action expected "
                "(every S3 call passes ExpectedBucketOwner); it may have been deleted or "
                "re-created elsewhere." % (operation, code, label))
    elif code == "NoSuchEntity":
        text = ("%s failed (NoSuchEntity): %s does not exist in AWS account %s any more."
                % (operation, label, target.account_id if target is not None else "?"))
    elif code == "AccessControlListNotSupported":
        text = ("%s failed (AccessControlListNotSupported): the bucket's Object Ownership is "
                "BucketOwnerEnforced, so ACLs are disabled and cannot be changed." % operation)
    elif code in _THROTTLED:
        text = ("AWS throttled %s (%s) after the SDK's retries; run the action again later."
                % (permission, code))
    elif code in _BAD_CREDENTIALS:
        text = ("AWS rejected the stored account's credentials (%s) during %s: update the "
                "account under Configuration > Accounts." % (code, operation))
    elif code in ("MalformedPolicy", "MalformedPolicyDocument"):
        text = "AWS rejected the policy %s tried to write (%s): %s" % (operation, code, message)
    elif code == "LimitExceeded":
        text = ("%s failed (LimitExceeded): an IAM quota was reached (for example the inline "
                "policy size of the principal): %s" % (operation, message))
    else:
        text = "%s on %s failed (%s): %s" % (permission, label, code, message or "no message")
    return GovernError(text, code)


def describe_exception(exc, service, operation, target, resource=None):
    """GovernError for whatever a step raised (botocore errors included)."""
    if isinstance(exc, GovernError):
        return exc
    try:
        from botocore.exceptions import (BotoCoreError, ClientError, EndpointConnectionError,
                                         NoCredentialsError)
    except ImportError:  # pragma: no cover - botocore ships with the add-on
        ClientError = BotoCoreError = EndpointConnectionError = NoCredentialsError = ()
    if ClientError and isinstance(exc, ClientError):
        return describe_client_error(exc, service, operation, target, resource)
    if EndpointConnectionError and isinstance(exc, EndpointConnectionError):
        return GovernError("Cannot reach the AWS endpoint for %s (%s): check the network path "
                           "or the add-on's proxy." % (operation, exc), "EndpointConnectionError")
    if NoCredentialsError and isinstance(exc, NoCredentialsError):
        return GovernError("No AWS credentials for %s: check the stored account." % operation,
                           "NoCredentials")
    if BotoCoreError and isinstance(exc, BotoCoreError):
        return GovernError("%s failed: %s" % (operation, exc), type(exc).__name__)
    return GovernError("%s failed unexpectedly: %s: %s" % (operation, type(exc).__name__, exc),
                       type(exc).__name__)


def client_error_code(exc):
    return ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code")
