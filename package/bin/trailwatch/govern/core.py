"""Shared pieces of every governance action: outcomes, targets, planned API calls, the AWS
context an action runs in, the Action interface, and AWS error -> outcome translation.

An action is a small class (see buckets.py, users.py, notify.py) that resolves its target
from an alert row, checks protections, reads the state it may change, computes the state it
wants, and plans the exact API calls from one to the other. engine.py runs that life cycle
(snapshot, dry run, execute, read back, audit); undo plans the calls back to the snapshot.
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


class ActionContext(object):
    """The AWS side of one run: clients (guarded by the action's declared permissions), the
    acting identity, and the options the admin chose."""

    def __init__(self, session, permissions, identity, options=None, calls=None):
        from trailwatch.govern.permissions import guard

        self._guard = guard
        self.session = session
        self.permissions = frozenset(permissions)
        self.identity = identity  # {"Account", "Arn", "UserId"} of the add-on's credentials
        self.options = dict(options or {})
        self.calls = calls if calls is not None else []
        self._clients = {}
        # Set by the engine: the action records (KV store), the alert run's metadata and
        # the Splunk mail transport (for actions that read records or send messages).
        self.store = None
        self.meta = {}
        self.sender = None

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


class Action(object):
    """Interface every governance action implements (all methods but the AWS readers pure)."""

    name = None          # alert action name, e.g. trailwatch_make_bucket_private
    label = None         # what admins see
    permissions = ()     # every IAM action the code may call (checked by permissions.guard)
    reversible = True
    options = ()         # action-specific alert parameters
    common_options = ("account", "dry_run", "audit_index", "account_id_field")

    def option_names(self):
        return tuple(self.common_options) + tuple(self.options)

    def resolve(self, row, options):
        """Target from one alert row (TargetError when the row lacks it)."""
        raise NotImplementedError

    def protection(self, ctx, target, protections):
        """Raise Protected(reason) when the target must not be touched."""

    def read_state(self, ctx, target):
        """Everything this action may change, as JSON-able data (the snapshot)."""
        raise NotImplementedError

    def desired(self, state, target, options):
        """The state the action wants (pure)."""
        raise NotImplementedError

    def plan(self, state, desired, target):
        """[Step] from state to desired; [] means nothing to do (pure)."""
        raise NotImplementedError

    def differences(self, actual, wanted):
        """[sentence] naming where `actual` differs from `wanted` (pure); [] when equal."""
        raise NotImplementedError

    def undo_plan(self, current, snapshot, target):
        """[Step] from current back to the snapshot (pure)."""
        raise NotImplementedError

    def summary(self, state):
        """A compact, secret-free view of a state for the audit event (default: all of it)."""
        return state

    def rollback_text(self, target, snapshot):
        return "Run | trailwatchundo action_id=<action_id> to restore the snapshot."


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
