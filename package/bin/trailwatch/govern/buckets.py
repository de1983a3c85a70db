"""S3 bucket actions: make a bucket private, remove a collaborator.

State of a bucket (the snapshot): {"block": PublicAccessBlockConfiguration or None,
"acl": {"Owner", "Grants"}, "policy": policy document or None, "ownership": ObjectOwnership
or None}. Every S3 call passes ExpectedBucketOwner, so a bucket name re-used by another
account is never touched. Undo takes back only what the action changed, part by part (block,
ACL grants, policy statements), and writes block -> ACL -> policy, in that order (a block
still in place would reject a public ACL or policy being put back).
"""
import json

from trailwatch.aws import exposure
from trailwatch.govern.core import (Action, GovernError, Protected, Step, Target, TargetError,
                                    client_error_code, describe_exception, revert, truthy)
from trailwatch.govern.protection import bucket_protection

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ACLS_DISABLED = "BucketOwnerEnforced"
READ_PERMISSIONS = (
    "sts:GetCallerIdentity",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketAcl",
    "s3:GetBucketPolicy",
    "s3:GetBucketOwnershipControls",
)


def read_bucket_state(ctx, target):
    s3 = ctx.client("s3")
    where = {"Bucket": target.name, "ExpectedBucketOwner": target.account_id}

    def optional(operation, missing_codes, pick):
        try:
            return pick(getattr(s3, operation)(**where))
        except Exception as exc:  # botocore ClientError
            if client_error_code(exc) in missing_codes:
                return None
            raise describe_exception(exc, "s3", _api_name(operation), target)

    block = optional("get_public_access_block", ("NoSuchPublicAccessBlockConfiguration",),
                     lambda r: dict(r["PublicAccessBlockConfiguration"]))
    ownership = optional("get_bucket_ownership_controls", ("OwnershipControlsNotFoundError",),
                         lambda r: r["OwnershipControls"]["Rules"][0]["ObjectOwnership"])
    acl = optional("get_bucket_acl", (), exposure.normalize_acl)
    policy = optional("get_bucket_policy", ("NoSuchBucketPolicy",),
                      lambda r: exposure.parse_policy(r["Policy"]))
    return {"block": _block(block), "acl": acl, "policy": policy, "ownership": ownership}


def _api_name(method):
    return "".join(part.capitalize() for part in method.split("_"))


def _block(block):
    if block is None:
        return None
    return {key: bool(block.get(key, False)) for key in BLOCK_ALL}


def _where(target):
    return {"Bucket": target.name, "ExpectedBucketOwner": target.account_id}


def steps_towards(state, wanted, target, restoring=False):
    """The S3 calls that turn `state` into `wanted`, in the order block -> ACL -> policy."""
    steps = []
    if _block(state.get("block")) != _block(wanted.get("block")):
        if wanted.get("block") is None:
            steps.append(Step("s3", "DeletePublicAccessBlock", _where(target),
                              "remove the bucket's public access block (as it was before)"))
        else:
            params = dict(_where(target), PublicAccessBlockConfiguration=_block(wanted["block"]))
            steps.append(Step("s3", "PutPublicAccessBlock", params,
                              "restore the bucket's public access block" if restoring else
                              "turn on all four public access block settings of the bucket"))
    if wanted.get("acl") is not None and not _same_grants(state.get("acl"), wanted["acl"]):
        params = dict(_where(target), AccessControlPolicy=wanted["acl"])
        steps.append(Step("s3", "PutBucketAcl", params,
                          "restore the bucket ACL" if restoring else
                          "rewrite the bucket ACL without the grants named in the plan"))
    if not exposure.same_policy(state.get("policy"), wanted.get("policy")):
        if wanted.get("policy") is None:
            steps.append(Step("s3", "DeleteBucketPolicy", _where(target),
                              "delete the bucket policy (no statement is left)" if not restoring
                              else "delete the bucket policy (there was none before)"))
        else:
            params = dict(_where(target), Policy=json.dumps(wanted["policy"]))
            steps.append(Step("s3", "PutBucketPolicy", params,
                              "restore the bucket policy" if restoring else
                              "rewrite the bucket policy without the statements named in the plan"))
    return steps


def _same_grants(left, right):
    left = exposure.normalize_acl(left) or {"Grants": []}
    right = exposure.normalize_acl(right) or {"Grants": []}
    return left["Grants"] == right["Grants"]


def bucket_differences(actual, wanted):
    problems = []
    if _block(actual.get("block")) != _block(wanted.get("block")):
        problems.append("public access block is %s, expected %s"
                        % (json.dumps(actual.get("block")), json.dumps(wanted.get("block"))))
    if wanted.get("acl") is not None and not _same_grants(actual.get("acl"), wanted["acl"]):
        problems.append("ACL grants differ from the expected ones")
    if not exposure.same_policy(actual.get("policy"), wanted.get("policy")):
        problems.append("bucket policy differs from the expected one")
    return problems


class BucketAction(Action):
    bucket_field_default = "bucket_name"

    def resolve(self, row, options):
        field = (options.get("bucket_field") or self.bucket_field_default).strip()
        bucket = (row.get(field) or "").strip()
        if not bucket:
            raise TargetError("The alert row has no bucket name in field '%s'." % field)
        account = (row.get(options.get("account_id_field") or "aws_account_id") or "").strip()
        return Target("bucket", bucket, account_id=account or None)

    def read_state(self, ctx, target):
        return read_bucket_state(ctx, target)

    def differences(self, actual, wanted):
        return bucket_differences(actual, wanted)

    def reverse(self, current, before, after, partial):
        return reverse_bucket(current, before, after, partial)

    def undo_plan(self, current, wanted, target):
        return steps_towards(current, wanted, target, restoring=True)

    def rollback_text(self, target, snapshot):
        return ("Undo (| trailwatchundo action_id=<action_id>) takes back what this action "
                "changed on %s (public access block, ACL grants, policy statements, in that "
                "order); where the bucket changed since, it refuses unless forced."
                % target.label)


def reverse_bucket(current, before, after, partial):
    """(state undo wants, [drift]) for a bucket: each part the action changed goes back to
    the snapshot when it is still as the action left it; otherwise only the grants and
    statements the action removed come back and the ones it added go (with force)."""
    wanted, drift = dict(current), []

    def part(name, key, same, merge=None, normal=lambda v: v):
        left = after.get(key)
        if key == "acl" and left is None:
            left = before.get(key)  # the action did not touch the ACL
        value, moved = revert(name, normal(current.get(key)), normal(before.get(key)),
                              normal(left), same, partial, merge)
        wanted[key] = value
        if moved:
            drift.append(moved)

    part("the public access block", "block", lambda a, b: a == b, normal=_block)
    if ACLS_DISABLED in (current.get("ownership"), before.get("ownership")) or current.get("acl") is None:
        wanted["acl"] = None  # ACLs are disabled (or unreadable): nothing to put back
    else:
        part("the bucket ACL", "acl", _same_grants, _merge_grants, exposure.normalize_acl)
    part("the bucket policy", "policy", exposure.same_policy, _merge_policy)
    return wanted, drift


def _taken_back(now, before, after):
    """The items (grants, statements) of `now` without the ones the action added, and with
    the ones it removed put back (at the end)."""
    def key(item):
        return json.dumps(item, sort_keys=True)

    old, new = {key(i) for i in before}, {key(i) for i in after}
    kept = [i for i in now if key(i) not in new - old]
    present = {key(i) for i in kept}
    return kept + [i for i in before if key(i) not in new and key(i) not in present]


def _merge_grants(current, before, after):
    """The current ACL with the action's own change to its grants taken back."""
    def grants(acl):
        return (acl or {}).get("Grants") or []

    kept = _taken_back(grants(current), grants(before), grants(after))
    return exposure.normalize_acl({"Owner": (current or before or {}).get("Owner"), "Grants": kept})


def _merge_policy(current, before, after):
    """The current policy with the action's own change to its statements (removed, narrowed
    or added) taken back; None when no statement is left."""
    def listed(policy):
        return exposure.statements(exposure.parse_policy(policy))

    base = exposure.parse_policy(current) or exposure.parse_policy(before) or {"Version": "2012-10-17"}
    return exposure.rebuilt(base, _taken_back(listed(current), listed(before), listed(after)))


class MakeBucketPrivate(BucketAction):
    name = "trailwatch_make_bucket_private"
    label = "Make S3 bucket private"
    options = ("bucket_field", "force")
    permissions = READ_PERMISSIONS + (
        "s3:GetBucketPolicyStatus",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketAcl",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    )

    def protection(self, ctx, target, protections):
        reason = bucket_protection(protections, target.name, target.account_id,
                                   force_public=truthy(ctx.options.get("force")))
        if reason:
            raise Protected(reason)

    def undo_protection(self, ctx, target, protections):
        # Undo of "make private" on an intentionally public bucket gives it back its public
        # access: what the allowlist is for. Only fully protected buckets are refused.
        reason = bucket_protection(protections, target.name, target.account_id, force_public=True)
        if reason:
            raise Protected(reason)

    def desired(self, state, target, request):
        wanted = {"block": dict(BLOCK_ALL), "ownership": state.get("ownership"), "notes": []}
        if state.get("acl") is not None and state.get("ownership") != ACLS_DISABLED:
            public = exposure.public_grants(state["acl"]["Grants"])
            wanted["acl"] = exposure.acl_without(state["acl"], exposure.is_public_grant)
            for grant in public:
                wanted["notes"].append("remove ACL grant %s to %s" % (
                    grant["Permission"], grant["Grantee"].get("URI")))
        else:
            wanted["acl"] = None
        policy, removed = exposure.policy_without_public(state.get("policy"))
        wanted["policy"] = policy
        wanted["notes"].extend("remove " + text for text in removed)
        return wanted

    def plan(self, state, desired, target):
        return steps_towards(state, desired, target)

    def verify_extra(self, ctx, target):
        """AWS's own verdict on the policy (GetBucketPolicyStatus) after the change."""
        s3 = ctx.client("s3")
        try:
            status = s3.get_bucket_policy_status(**_where(target))["PolicyStatus"]
        except Exception as exc:
            if client_error_code(exc) == "NoSuchBucketPolicy":
                return []
            raise describe_exception(exc, "s3", "GetBucketPolicyStatus", target)
        if status.get("IsPublic"):
            return ["S3 still reports the bucket policy as public (GetBucketPolicyStatus)"]
        return []


class RemoveBucketCollaborator(BucketAction):
    name = "trailwatch_remove_bucket_collaborator"
    label = "Remove S3 bucket collaborator"
    options = ("bucket_field", "collaborator", "collaborator_field", "mode")
    permissions = READ_PERMISSIONS + (
        "s3:PutBucketAcl",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    )

    def resolve(self, row, options):
        target = BucketAction.resolve(self, row, options)
        text = (options.get("collaborator") or "").strip()
        if not text:
            field = (options.get("collaborator_field") or "collaborator").strip()
            text = (row.get(field) or "").strip()
            if not text:
                raise TargetError("No collaborator: set the action's collaborator option or "
                                  "put it in the row's '%s' field." % field)
        try:
            collaborator = exposure.Collaborator(text)
        except ValueError as exc:
            raise TargetError(str(exc))
        mode = (options.get("mode") or "remove").strip().lower()
        if mode not in ("remove", "deny"):
            raise TargetError("Mode %r is not 'remove' or 'deny'." % mode)
        target.extra.update({"collaborator": collaborator.text, "mode": mode})
        return target

    def protection(self, ctx, target, protections):
        reason = bucket_protection(protections, target.name, target.account_id, force_public=True)
        if reason:
            raise Protected(reason)
        collaborator = exposure.Collaborator(target.extra["collaborator"])
        if collaborator.account and collaborator.account == target.account_id and (
                collaborator.kind == "account" or collaborator.is_root_arn()):
            raise Protected("%s is the account that owns the bucket; removing it would lock "
                            "the owner out." % collaborator.text)

    def desired(self, state, target, request):
        collaborator = exposure.Collaborator(target.extra["collaborator"])
        wanted = {"block": state.get("block"), "ownership": state.get("ownership"), "notes": []}
        acl = state.get("acl")
        if target.extra["mode"] == "deny":
            wanted["acl"] = None
            wanted["policy"] = exposure.policy_with_statement(
                state.get("policy"), exposure.deny_statement(collaborator, target.name, target.partition))
            wanted["notes"].append("append Deny statement %s for %s"
                                   % (exposure.deny_sid(collaborator), collaborator.text))
            return wanted
        if acl is not None and state.get("ownership") != ACLS_DISABLED:
            owner_id = (acl.get("Owner") or {}).get("ID", "").lower()
            if collaborator.kind == "canonical" and collaborator.text == owner_id:
                raise GovernError("%s is the bucket owner's canonical id; TrailWatch will not "
                                  "remove the owner's own grants." % collaborator.text)
            wanted["acl"] = exposure.acl_without(acl, collaborator.matches_grant)
            for grant in acl["Grants"]:
                if collaborator.matches_grant(grant):
                    wanted["notes"].append("remove ACL grant %s" % grant["Permission"])
        else:
            wanted["acl"] = None
        policy, removed = exposure.policy_without_collaborator(state.get("policy"), collaborator)
        wanted["policy"] = policy
        wanted["notes"].extend("remove " + text for text in removed)
        return wanted

    def plan(self, state, desired, target):
        return steps_towards(state, desired, target)
