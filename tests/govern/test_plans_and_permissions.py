"""Pure decision logic (plans, undo plans, guardrails) and the declared permissions.

Every action runs its AWS clients through permissions.guard, so any call outside the
action's declaration fails the end-to-end tests; here: the guard itself, the mapping from
API operations to IAM actions, and that the governance IAM policy grants exactly what the
actions declare."""
import datetime
import json
import os

import pytest

from trailwatch.aws import exposure
from trailwatch.govern import audit, registry
from trailwatch.govern.buckets import BLOCK_ALL, MakeBucketPrivate, RemoveBucketCollaborator
from trailwatch.govern.core import (SKIPPED_PROTECTED, Request, GovernError, Target, TargetError,
                                    describe_client_error)
from trailwatch.govern.engine import Environment, run_action, run_undo
from trailwatch.govern.notify import NotifyUser
from trailwatch.govern.permissions import UndeclaredApiCall, guard, iam_action
from trailwatch.govern.protection import Protections, principal_protection
from trailwatch.govern.splunkd import MemoryStore
from trailwatch.govern.users import RevokeSessions, SuspendUser, resolve_principal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICY_FILE = os.path.join(ROOT, "policies", "trailwatch-governance-policy.json")
OWNER = "a" * 64
IDENTITY = {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/trailwatch"}
NOW = datetime.datetime(2026, 11, 28, 12, 0, 0, tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------- permissions
def test_guard_refuses_undeclared_calls_before_sending():
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",  # nothing listens
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x")
    calls = []
    guard(client, {"s3:GetBucketAcl"}, calls)
    with pytest.raises(UndeclaredApiCall, match="s3:PutBucketAcl"):
        client.put_bucket_acl(Bucket="b", ACL="private")
    assert calls == ["s3:PutBucketAcl"]


@pytest.mark.parametrize("service, operation, expected", [
    ("s3", "PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
    ("s3", "DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
    ("s3", "GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
    ("s3", "GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
    ("iam", "UpdateAccessKey", "iam:UpdateAccessKey"),
    ("sts", "GetCallerIdentity", "sts:GetCallerIdentity"),
    ("sesv2", "SendEmail", "ses:SendEmail"),
])
def test_iam_action_of_operations(service, operation, expected):
    assert iam_action(service, operation) == expected


def test_every_planned_operation_is_declared():
    """Plans are executed through the guard; make sure every operation a plan can contain
    maps to a declared permission of its action."""
    planned = {
        MakeBucketPrivate: ["PutPublicAccessBlock", "DeletePublicAccessBlock", "PutBucketAcl",
                            "PutBucketPolicy", "DeleteBucketPolicy"],
        RemoveBucketCollaborator: ["PutBucketAcl", "PutBucketPolicy", "DeleteBucketPolicy"],
        SuspendUser: ["PutUserPolicy", "DeleteUserPolicy", "PutRolePolicy", "DeleteRolePolicy",
                      "UpdateAccessKey"],
        RevokeSessions: ["PutUserPolicy", "DeleteUserPolicy", "PutRolePolicy", "DeleteRolePolicy",
                         "UpdateLoginProfile"],
    }
    for cls, operations in planned.items():
        service = "s3" if issubclass(cls, (MakeBucketPrivate, RemoveBucketCollaborator)) else "iam"
        for operation in operations:
            assert iam_action(service, operation) in cls.permissions, (cls.name, operation)
    # Notify: its reads (tags) and its two AWS deliveries; the Splunk delivery is SMTP.
    for service, operation in (("iam", "ListUserTags"), ("iam", "ListRoleTags"),
                               ("sesv2", "SendEmail"), ("sns", "Publish")):
        assert iam_action(service, operation) in NotifyUser.permissions, operation


def _policy_statements():
    with open(POLICY_FILE) as handle:
        return json.load(handle)["Statement"]


def test_governance_policy_allows_what_the_actions_declare_and_denies_the_dangerous():
    allowed = set()
    denies = []
    for statement in _policy_statements():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        (allowed if statement["Effect"] == "Allow" else set()).update(actions)
        if statement["Effect"] == "Deny":
            denies.append(statement)
    declared = set()
    for action in registry.all_actions().values():
        declared.update(action.permissions)
    assert declared - allowed == set()
    assert not any(a.endswith("*") for a in allowed), "no wildcard actions in Allow statements"
    text = json.dumps(denies)
    for needle in ("aws-reserved/", "aws-service-role/", "trailwatch-governance", "exempt", "BreakGlass"):
        assert needle in text, needle
    assert "s3:PutBucketAcl" not in json.dumps(json.load(open(os.path.join(ROOT, "policies",
                                                                          "trailwatch-collection-policy.json"))))


# --------------------------------------------------------------------------- bucket plans
def bucket(target="b"):
    return Target("bucket", target, account_id="123456789012")


def acl(*grants):
    return {"Owner": {"ID": OWNER}, "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": OWNER},
                                                "Permission": "FULL_CONTROL"}] + list(grants)}


PUBLIC = {"Grantee": {"Type": "Group", "URI": exposure.ALL_USERS}, "Permission": "READ"}


def test_make_private_leaves_acl_alone_when_acls_are_disabled():
    action = MakeBucketPrivate()
    state = {"block": None, "acl": acl(), "policy": None, "ownership": "BucketOwnerEnforced"}
    wanted = action.desired(state, bucket(), Request())
    steps = action.plan(state, wanted, bucket())
    assert [s.operation for s in steps] == ["PutPublicAccessBlock"]
    assert steps[0].params == {"Bucket": "b", "ExpectedBucketOwner": "123456789012",
                               "PublicAccessBlockConfiguration": BLOCK_ALL}


def test_make_private_undo_plan_order_and_partial_block():
    action = MakeBucketPrivate()
    snapshot = {"block": dict(BLOCK_ALL, BlockPublicPolicy=False, RestrictPublicBuckets=False),
                "acl": acl(PUBLIC), "policy": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]},
                "ownership": "ObjectWriter"}
    current = {"block": dict(BLOCK_ALL), "acl": acl(), "policy": None, "ownership": "ObjectWriter"}
    wanted, drift = action.reverse(current, snapshot, current, False)
    assert drift == []
    steps = action.undo_plan(current, wanted, bucket())
    assert [s.operation for s in steps] == ["PutPublicAccessBlock", "PutBucketAcl", "PutBucketPolicy"]
    assert steps[0].params["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is False
    assert all(s.params["ExpectedBucketOwner"] == "123456789012" for s in steps)
    assert action.undo_plan(snapshot, snapshot, bucket()) == []


def test_collaborator_owner_canonical_id_is_never_removed():
    action = RemoveBucketCollaborator()
    target = action.resolve({"bucket_name": "b", "aws_account_id": "123456789012"},
                            {"collaborator": OWNER})
    state = {"block": None, "acl": acl(), "policy": None, "ownership": None}
    with pytest.raises(GovernError, match="owner"):
        action.desired(state, target, Request(now=NOW))


# --------------------------------------------------------------------------- principals
def test_resolve_principal_shapes():
    session = resolve_principal({"user_arn": "arn:aws:sts::123456789012:assumed-role/Dev/alice@example.com"}, {})
    assert (session.kind, session.name, session.extra["role_name"]) == ("session", "alice@example.com", "Dev")
    user = resolve_principal({"user_arn": "arn:aws:iam::123456789012:user/ops/bob"}, {})
    assert (user.kind, user.name) == ("user", "bob")
    assert resolve_principal({"iam_user": "carol", "aws_account_id": "123456789012"}, {}).kind == "user"
    assert resolve_principal({"role_name": "ci"}, {}).kind == "role"
    assert resolve_principal({"user_type": "Root"}, {}).name == "root"
    with pytest.raises(TargetError):
        resolve_principal({"user": "someone"}, {})
    with pytest.raises(TargetError, match="not on a whole role"):
        SuspendUser().resolve({"role_name": "ci"}, {})


@pytest.mark.parametrize("target, tags, path, expected", [
    (Target("user", "root", "123456789012", extra={"user_type": "Root"}), {}, None, "root"),
    (Target("role", "AWSServiceRoleForECS", "123456789012", extra={"role_name": "AWSServiceRoleForECS"}), {}, None, "service-linked"),
    (Target("session", "s", "123456789012", extra={"role_name": "Admin"}), {}, "/aws-reserved/sso.amazonaws.com/", "Identity Center"),
    (Target("user", "x", "999999999999"), {}, None, "999999999999"),
    (Target("user", "trailwatch", "123456789012"), {}, None, "own AWS identity"),
    (Target("user", "y", "123456789012"), {"TrailWatch-Governance": "Exempt"}, None, "exempt"),
    (Target("user", "ok", "123456789012"), {"trailwatch-governance": "monitor"}, None, None),
])
def test_principal_protection(target, tags, path, expected):
    reason = principal_protection(Protections(), target, IDENTITY, tags, path)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


def test_own_assumed_role_is_protected():
    identity = {"Account": "123456789012", "Arn": "arn:aws:sts::123456789012:assumed-role/TrailWatch/trailwatch-prod"}
    target = Target("session", "other", "123456789012", extra={"role_name": "TrailWatch"})
    assert "own AWS identity" in principal_protection(Protections(), target, identity)


def test_protected_lookup_wildcards_and_accounts():
    protections = Protections(principals=[
        {"aws_account_id": "111111111111", "principal": "arn:aws:iam::*:user/admin-*", "reason": "admins"}])
    admin = Target("user", "admin-1", "111111111111", arn="arn:aws:iam::111111111111:user/admin-1")
    assert "admins" in principal_protection(protections, admin, {"Account": "111111111111"})
    elsewhere = Target("user", "admin-1", "222222222222", arn="arn:aws:iam::222222222222:user/admin-1")
    assert principal_protection(protections, elsewhere, {"Account": "222222222222"}) is None


def test_suspend_undo_reactivates_only_keys_that_were_active():
    action = SuspendUser()
    target = Target("user", "eve", "123456789012")
    snapshot = {"policy_name": "TrailWatchSuspend", "policy": None,
                "keys": {"AKIAONE": "Active", "AKIATWO": "Inactive", "AKIAGONE": "Active"}}
    current = {"policy_name": "TrailWatchSuspend", "policy": {"Statement": []},
               "keys": {"AKIAONE": "Inactive", "AKIATWO": "Inactive", "AKIANEW": "Active"}}
    after = {"policy_name": "TrailWatchSuspend", "policy": {"Statement": []},
             "keys": {"AKIAONE": "Inactive", "AKIATWO": "Inactive", "AKIAGONE": "Inactive"}}
    wanted, drift = action.reverse(current, snapshot, after, False)
    steps = action.undo_plan(current, wanted, target)
    assert [(s.operation, s.params.get("AccessKeyId"), s.params.get("Status")) for s in steps] == [
        ("DeleteUserPolicy", None, None), ("UpdateAccessKey", "AKIAONE", "Active")]
    # a key made since stays as it is; one deleted since cannot come back and is reported
    assert wanted["keys"] == {"AKIAONE": "Active", "AKIATWO": "Inactive", "AKIANEW": "Active"}
    assert drift == ["access key AKIAGONE was deleted after the action"]


def test_revoke_sets_and_lifts_password_reset_and_respects_fresh_revocations():
    action = RevokeSessions()
    target = action.resolve({"iam_user": "carol", "last_seen": "2026-11-28T11:50:00Z"}, {})
    state = {"policy": None, "login_profile": {"exists": True, "reset_required": False}}
    wanted = action.desired(state, target, Request(now=NOW))
    steps = action.plan(state, wanted, target)
    assert [s.operation for s in steps] == ["PutUserPolicy", "UpdateLoginProfile"]
    document = json.loads(steps[0].params["PolicyDocument"])
    assert document["Statement"][0]["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": "2026-11-28T12:00:00Z"}}
    assert "Password" not in steps[1].params
    done = {"policy": wanted["policy"], "login_profile": {"exists": True, "reset_required": True}}
    later = NOW + datetime.timedelta(hours=1)
    assert action.plan(done, action.desired(done, target, Request(now=later)), target) == []
    newer_alert = action.resolve({"iam_user": "carol", "last_seen": "2026-11-28T12:30:00Z"}, {})
    assert [s.operation for s in action.plan(done, action.desired(done, newer_alert, Request(now=later)), newer_alert)] == [
        "PutUserPolicy"]
    wanted, drift = action.reverse(done, state, done, False)
    undo = action.undo_plan(done, wanted, target)
    assert [(s.operation, s.params.get("PasswordResetRequired")) for s in undo] == [
        ("DeleteUserPolicy", None), ("UpdateLoginProfile", False)]


# --------------------------------------------------------------------------- errors, audit
class _ClientError(Exception):
    def __init__(self, code, message="m"):
        Exception.__init__(self, code)
        self.response = {"Error": {"Code": code, "Message": message}}


@pytest.mark.parametrize("code, needle", [
    ("AccessDenied", "needs the s3:PutBucketAcl permission"),
    ("NoSuchBucket", "does not exist"),
    ("SlowDown", "run the action again later"),
    ("AccessControlListNotSupported", "BucketOwnerEnforced"),
    ("InvalidAccessKeyId", "Configuration > Accounts"),
])
def test_aws_errors_name_the_code_and_what_is_needed(code, needle):
    error = describe_client_error(_ClientError(code), "s3", "PutBucketAcl", bucket())
    assert error.error_code == code and needle in str(error)


class _FakeSession(object):
    partition = "aws"

    def client(self, service):
        raise AssertionError("no AWS call expected")


def test_engine_audits_targets_it_cannot_resolve_and_undo_of_unknown_ids():
    events = []
    env = Environment(sessions=lambda name, account: ("prod", _FakeSession()), store=MemoryStore(),
                      audit_sink=events.append, protections=Protections(),
                      meta={"search_name": "s", "sid": "1.2"}, clock=lambda: NOW)
    result = run_action(MakeBucketPrivate(), {"rid": "3", "policy": "P"}, {}, env)
    assert result.outcome == "failure"
    event = events[0]
    assert event["orig_rid"] == "3" and event["alert_policy"] == "P" and event["action_status"] == "failure"
    assert set(audit.build_event(result, {}, {})) >= {
        "action", "target", "aws_account_id", "outcome", "reason", "before", "after", "rollback",
        "alert_policy", "search_name", "sid", "dry_run", "action_id"}
    undo = run_undo("missing", env, registry.all_actions())
    assert undo.outcome == "failure" and undo.error_code == "UnknownAction"


def test_protected_outcome_constant():
    assert SKIPPED_PROTECTED == "skipped_protected"


@pytest.mark.parametrize("arn, protected", [
    ("arn:aws-us-gov:iam::123456789012:role/OrganizationAccountAccessRole", True),
    ("arn:aws-cn:iam::123456789012:user/Break-Glass-admin", True),
    ("arn:aws:iam::123456789012:user/ops/BREAKGLASS-1", True),
    ("arn:aws-cn:sts::123456789012:assumed-role/BreakGlassRole/oncall", True),
    ("arn:aws-us-gov:iam::123456789012:user/glass-breaker", False),
])
def test_shipped_protections_hold_in_every_partition_and_case(arn, protected):
    protections = Protections.with_shipped((), (), os.path.join(ROOT, "package", "lookups"))
    target = resolve_principal({"user_arn": arn}, {})
    reason = principal_protection(protections, target, {"Account": "123456789012"})
    assert (reason is not None and "trailwatch_protected_principals_default.csv" in reason) is protected, reason


def test_protection_matches_the_path_and_a_path_less_arn():
    protections = Protections(principals=[
        {"aws_account_id": "", "principal": "arn:aws:iam::123456789012:user/alice", "reason": "no path"},
        {"aws_account_id": "", "principal": "arn:aws:iam::*:user/admins/*", "reason": "admins"}])
    with_path = Target("user", "alice", "123456789012", arn="arn:aws:iam::123456789012:user/team/alice")
    assert "no path" in principal_protection(protections, with_path, IDENTITY)
    admin = Target("user", "bob", "123456789012", arn="arn:aws:iam::123456789012:user/admins/bob")
    assert "admins" in principal_protection(protections, admin, IDENTITY)


def test_undo_of_an_action_that_stopped_part_way():
    # The policy went on and key A was deactivated, then the run stopped before key B: undo
    # takes back what was done and leaves B (never touched) alone; that is not drift.
    action = SuspendUser()
    target = Target("user", "eve", "123456789012")
    before = {"policy_name": "TrailWatchSuspend", "policy": None, "keys": {"AKIAA": "Active", "AKIAB": "Active"}}
    wanted = {"policy_name": "TrailWatchSuspend", "policy": {"Statement": []},
              "keys": {"AKIAA": "Inactive", "AKIAB": "Inactive"}}
    current = {"policy_name": "TrailWatchSuspend", "policy": {"Statement": []},
               "keys": {"AKIAA": "Inactive", "AKIAB": "Active"}}
    undo, drift = action.reverse(current, before, wanted, True)
    assert drift == [] and undo["keys"] == {"AKIAA": "Active", "AKIAB": "Active"} and undo["policy"] is None
    assert [s.operation for s in action.undo_plan(current, undo, target)] == ["DeleteUserPolicy", "UpdateAccessKey"]
    # The same state after a run that finished means someone re-activated B by hand.
    assert action.reverse(current, before, wanted, False)[1] == ["access key AKIAB changed after the action"]
