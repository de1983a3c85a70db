"""IAM permissions of the governance actions, and a guard that holds code to them.

Each action declares the IAM actions it may use (Cloud Custodian's habit). `guard(client,
declared)` makes a boto3 client refuse, before anything is sent, any API call whose IAM
action is not declared, so a test that runs an action fails as soon as its code calls an
undeclared API; it stays on at run time as a second line of defence.
"""
import re

# API operations whose IAM action is not simply "<service>:<OperationName>".
_IAM_ACTION_OF = {
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetBucketOwnershipControls"): "s3:GetBucketOwnershipControls",
    ("s3", "DeleteBucketPolicy"): "s3:DeleteBucketPolicy",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
_SERVICE_PREFIX = {"sesv2": "ses", "s3control": "s3"}


class UndeclaredApiCall(RuntimeError):
    """Code called an AWS API that its action did not declare."""


def iam_action(service, operation):
    """The IAM action that authorises `operation` (botocore's operation name) of `service`."""
    found = _IAM_ACTION_OF.get((service, operation))
    if found:
        return found
    return "%s:%s" % (_SERVICE_PREFIX.get(service, service), operation)


def service_of(client):
    return client.meta.service_model.service_name


def guard(client, declared, calls=None):
    """Make `client` refuse API calls outside `declared` (a set of IAM actions); record the
    IAM action of every call in the list `calls` when given. Returns the client."""
    declared = frozenset(declared)
    service = service_of(client)

    def check(model, **_kwargs):
        action = iam_action(service, model.name)
        if calls is not None:
            calls.append(action)
        if action not in declared:
            raise UndeclaredApiCall(
                "%s is not among the permissions this action declares (%s)"
                % (action, ", ".join(sorted(declared))))

    event = "before-call.%s" % client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(event, check)
    return client


def method_of(operation):
    """boto3's method name for an operation name (PutBucketAcl -> put_bucket_acl)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", operation).lower()
