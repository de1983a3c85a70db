"""The IAM policies shipped in policies/ are valid JSON policy documents whose every action
is a real IAM action name, checked against botocore's service models (bundled in lib/), so a
typo or an invented permission cannot slip in."""
import fnmatch
import glob
import json
import os

import botocore.loaders
import pytest

from addon import ROOT

POLICY_FILES = sorted(glob.glob(os.path.join(ROOT, "policies", "*.json")))

# IAM action prefix -> botocore services whose operations are that prefix's actions.
SERVICES = {
    "cloudtrail": ["cloudtrail"],
    "iam": ["iam"],
    "kms": ["kms"],
    "s3": ["s3", "s3control"],
    "ses": ["ses", "sesv2"],
    "sns": ["sns"],
    "sqs": ["sqs"],
    "sts": ["sts"],
}

# IAM action names that are not API operation names, with the operation they authorise.
NOT_OPERATION_NAMES = {
    "s3:ListAllMyBuckets": "authorises the ListBuckets operation",
    "s3:GetBucketPublicAccessBlock": "authorises GetPublicAccessBlock on a bucket",
    "s3:PutBucketPublicAccessBlock": "authorises PutPublicAccessBlock on a bucket",
    "s3:GetAccountPublicAccessBlock": "authorises s3control GetPublicAccessBlock",
    "s3:PutAccountPublicAccessBlock": "authorises s3control PutPublicAccessBlock",
    "ses:SendEmail": "also authorises sesv2 SendEmail (same name, listed for clarity)",
}

PLACEHOLDERS = ("REPLACE-WITH-QUEUE-NAME", "REPLACE-WITH-TRAIL-BUCKET")


def _operations():
    loader = botocore.loaders.Loader()
    known = {}
    for prefix, services in SERVICES.items():
        names = set()
        for service in services:
            model = loader.load_service_model(service, "service-2")
            names.update(model["operations"])
        known[prefix] = names
    return known


OPERATIONS = _operations()


def _actions(policy):
    statements = policy["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        for key in ("Action", "NotAction"):
            value = statement.get(key, [])
            for action in [value] if isinstance(value, str) else value:
                yield statement, action


def test_policy_files_exist():
    names = [os.path.basename(p) for p in POLICY_FILES]
    assert "trailwatch-collection-policy.json" in names


@pytest.mark.parametrize("path", POLICY_FILES, ids=os.path.basename)
def test_policy_is_a_valid_document(path):
    with open(path) as handle:
        policy = json.load(handle)
    assert policy["Version"] == "2012-10-17"
    sids = []
    for statement in policy["Statement"]:
        assert statement["Effect"] in ("Allow", "Deny")
        assert ("Action" in statement) != ("NotAction" in statement)
        assert "Resource" in statement or "NotResource" in statement
        sids.append(statement.get("Sid"))
    assert len(set(sids)) == len(sids), "duplicate Sid"


@pytest.mark.parametrize("path", POLICY_FILES, ids=os.path.basename)
def test_every_action_is_a_real_iam_action(path):
    with open(path) as handle:
        policy = json.load(handle)
    for _statement, action in _actions(policy):
        if action == "*":
            continue
        prefix, _, name = action.partition(":")
        assert prefix in OPERATIONS, "%s: unknown service prefix in %r" % (path, action)
        if action in NOT_OPERATION_NAMES:
            continue
        if "*" in name or "?" in name:
            matches = fnmatch.filter(OPERATIONS[prefix], name)
            assert matches, "%s: %r matches no %s action" % (path, action, prefix)
        else:
            assert name in OPERATIONS[prefix], "%s: %r is not a %s action" % (path, action, prefix)


def test_collection_policy_is_read_only():
    path = os.path.join(ROOT, "policies", "trailwatch-collection-policy.json")
    with open(path) as handle:
        policy = json.load(handle)
    allowed_writes = {"sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "kms:Decrypt"}
    for statement, action in _actions(policy):
        name = action.partition(":")[2]
        if action in allowed_writes:
            continue
        assert name.startswith(("Get", "List", "Describe", "Lookup", "Receive")), action
        assert statement["Effect"] == "Allow"


def test_placeholders_are_documented_in_readme():
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    for placeholder in PLACEHOLDERS:
        assert placeholder in readme


def test_the_lint_rejects_a_made_up_action():
    # The check above must be able to fail: an IAM-looking name that is not an operation.
    assert "GetBucketAcls" not in OPERATIONS["s3"]
    assert "DeleteAccessKeys" not in OPERATIONS["iam"]
    assert not fnmatch.filter(OPERATIONS["iam"], "Frobnicate*")
