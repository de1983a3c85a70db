"""Which grants and statements count as public, which principals match a collaborator.

moto does not judge exposure the way S3 does, so our own rules are tested
here directly, including the near misses that must not count."""
import json

import pytest

from trailwatch.aws import exposure
from trailwatch.aws.exposure import Collaborator, ManualReview

OWNER = "a" * 64
OTHER = "b" * 64


def grant(permission, **grantee):
    if "URI" in grantee:
        grantee["Type"] = "Group"
    else:
        grantee["Type"] = "CanonicalUser"
    return {"Grantee": grantee, "Permission": permission}


def stmt(principal, effect="Allow", condition=None, sid=None, **extra):
    statement = {"Effect": effect, "Principal": principal, "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::b/*"}
    if condition:
        statement["Condition"] = condition
    if sid:
        statement["Sid"] = sid
    statement.update(extra)
    return statement


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


# --------------------------------------------------------------------------- ACL
@pytest.mark.parametrize("uri, public", [
    (exposure.ALL_USERS, True),
    (exposure.AUTHENTICATED_USERS, True),
    (exposure.LOG_DELIVERY, False),
])
def test_group_grants(uri, public):
    assert exposure.is_public_grant(grant("READ", URI=uri)) is public


def test_canonical_user_grant_is_not_public():
    assert not exposure.is_public_grant(grant("FULL_CONTROL", ID=OWNER))


def test_acl_without_public_keeps_owner_and_log_delivery():
    acl = {"Owner": {"ID": OWNER, "DisplayName": "me"}, "Grants": [
        grant("FULL_CONTROL", ID=OWNER, DisplayName="me"),
        grant("READ", URI=exposure.ALL_USERS),
        grant("WRITE", URI=exposure.LOG_DELIVERY),
        grant("READ_ACP", URI=exposure.AUTHENTICATED_USERS),
    ]}
    kept = exposure.acl_without(acl, exposure.is_public_grant)
    keys = [(exposure.grantee_key(g["Grantee"]), g["Permission"]) for g in kept["Grants"]]
    assert keys == [(("group", exposure.LOG_DELIVERY), "WRITE"), (("id", OWNER), "FULL_CONTROL")]
    assert kept["Owner"] == {"ID": OWNER}
    assert all("DisplayName" not in g["Grantee"] for g in kept["Grants"])


# --------------------------------------------------------------------------- statements
@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111122223333:root", "*"]},
                                       {"CanonicalUser": "*"}])
def test_wildcard_principals_are_public(principal):
    assert exposure.is_public_statement(stmt(principal))


@pytest.mark.parametrize("principal", [{"AWS": "arn:aws:iam::111122223333:root"}, {"AWS": "111122223333"},
                                       {"Service": "logging.s3.amazonaws.com"},
                                       {"CanonicalUser": OTHER}])
def test_named_principals_are_not_public(principal):
    assert not exposure.is_public_statement(stmt(principal))


def test_deny_is_never_public():
    assert not exposure.is_public_statement(stmt("*", effect="Deny"))


def test_not_principal_allow_is_public():
    statement = stmt(None, NotPrincipal={"AWS": "arn:aws:iam::111122223333:root"})
    del statement["Principal"]
    assert exposure.is_public_statement(statement)


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}},
    {"StringEquals": {"aws:SourceAccount": "111122223333"}},
    {"ArnLike": {"aws:SourceArn": "arn:aws:cloudfront::111122223333:distribution/E1"}},
    {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c"}},
    {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7"]}},
    {"StringEquals": {"AWS:SourceVpc": "vpc-1"}},  # key names are case-insensitive
    {"ForAnyValue:StringEquals": {"aws:PrincipalOrgPaths": "o-a/r-b/ou-c/"}},
])
def test_restricting_conditions_make_wildcard_private(condition):
    assert not exposure.is_public_statement(stmt("*", condition=condition))


@pytest.mark.parametrize("condition", [
    {"StringNotEquals": {"aws:SourceAccount": "111122223333"}},      # negated: everyone else
    {"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}},  # absent key passes
    {"StringLike": {"aws:PrincipalOrgID": "o-*"}},                    # wildcard value
    {"StringEquals": {"aws:SourceAccount": "*"}},
    {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/7"}},                    # wider than /8
    {"Bool": {"aws:SecureTransport": "true"}},                        # not about who
    {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
    {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abc"}},   # true for no values
])
def test_non_restricting_conditions_stay_public(condition):
    assert exposure.is_public_statement(stmt("*", condition=condition))


def test_policy_without_public_narrows_mixed_principal_and_keeps_deny():
    doc = policy(
        stmt("*", sid="Everyone"),
        stmt({"AWS": ["arn:aws:iam::111122223333:root", "*"]}, sid="Mixed"),
        stmt("*", effect="Deny", sid="DenyHttp", condition={"Bool": {"aws:SecureTransport": "false"}}),
        stmt("*", sid="OrgOnly", condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}),
    )
    new, removed = exposure.policy_without_public(json.dumps(doc))
    sids = [s["Sid"] for s in new["Statement"]]
    assert sids == ["Mixed", "DenyHttp", "OrgOnly"]
    assert new["Statement"][0]["Principal"] == {"AWS": ["arn:aws:iam::111122223333:root"]}
    assert exposure.public_statements(new) == []
    assert len(removed) == 2


def test_policy_with_only_public_statements_is_deleted():
    new, removed = exposure.policy_without_public(policy(stmt("*"), stmt({"AWS": "*"})))
    assert new is None and len(removed) == 2


def test_single_statement_policy_document():
    doc = {"Version": "2012-10-17", "Statement": stmt("*")}
    assert exposure.policy_without_public(doc)[0] is None


# --------------------------------------------------------------------------- collaborators
def test_collaborator_kinds():
    assert Collaborator("111122223333").kind == "account"
    assert Collaborator("arn:aws:iam::111122223333:user/eve").kind == "arn"
    assert Collaborator(OTHER.upper()).kind == "canonical"
    assert Collaborator(exposure.ALL_USERS).kind == "group"
    with pytest.raises(ValueError, match="e-mail"):
        Collaborator("eve@example.com")


@pytest.mark.parametrize("collab, kind, value, expected", [
    ("111122223333", "AWS", "111122223333", True),
    ("111122223333", "AWS", "arn:aws:iam::111122223333:root", True),
    ("111122223333", "AWS", "arn:aws:iam::111122223333:role/x", True),
    ("111122223333", "AWS", "arn:aws:iam::444455556666:root", False),
    ("arn:aws:iam::111122223333:user/eve", "AWS", "arn:aws:iam::111122223333:user/eve", True),
    ("arn:aws:iam::111122223333:user/eve", "AWS", "arn:aws:iam::111122223333:user/eve2", False),
    ("arn:aws:iam::111122223333:user/eve", "AWS", "111122223333", False),
    ("arn:aws:iam::111122223333:root", "AWS", "111122223333", True),
    ("arn:aws:iam::111122223333:root", "AWS", "arn:aws:iam::111122223333:user/eve", False),
    (OTHER, "CanonicalUser", OTHER.upper(), True),
    (OTHER, "AWS", OTHER, False),
    ("111122223333", "AWS", "*", False),
    ("111122223333", "Service", "111122223333", False),
])
def test_principal_matching(collab, kind, value, expected):
    assert Collaborator(collab).matches_principal(kind, value) is expected


def test_grant_matching():
    assert Collaborator(OTHER).matches_grant(grant("READ", ID=OTHER))
    assert not Collaborator(OTHER).matches_grant(grant("READ", ID=OWNER))
    assert Collaborator(exposure.AUTHENTICATED_USERS).matches_grant(grant("READ", URI=exposure.AUTHENTICATED_USERS))
    assert not Collaborator("111122223333").matches_grant(grant("READ", ID=OTHER))


def test_policy_without_collaborator_drops_only_empty_statements():
    doc = policy(
        stmt({"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]}, sid="Two"),
        stmt({"AWS": "111122223333"}, sid="OnlyThem"),
        stmt({"AWS": "arn:aws:iam::111122223333:root"}, effect="Deny", sid="DenyThem"),
    )
    new, removed = exposure.policy_without_collaborator(doc, Collaborator("111122223333"))
    assert [s["Sid"] for s in new["Statement"]] == ["Two", "DenyThem"]
    assert new["Statement"][0]["Principal"] == {"AWS": ["arn:aws:iam::444455556666:root"]}
    assert new["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}  # Deny untouched
    assert len(removed) == 2


@pytest.mark.parametrize("statement", [
    stmt("*", condition={"StringEquals": {"aws:PrincipalAccount": "111122223333"}}),
    dict(stmt(None, NotPrincipal={"AWS": "arn:aws:iam::111122223333:root"}), Effect="Deny"),
])
def test_collaborator_in_condition_or_not_principal_needs_review(statement):
    statement = {k: v for k, v in statement.items() if v is not None}
    with pytest.raises(ManualReview):
        exposure.policy_without_collaborator(policy(statement), Collaborator("111122223333"))


def test_deny_statement_and_sid_are_stable():
    collab = Collaborator("arn:aws:iam::111122223333:user/eve")
    first = exposure.deny_statement(collab, "b")
    assert first["Sid"] == exposure.deny_sid(Collaborator("arn:aws:iam::111122223333:user/eve"))
    assert first["Principal"] == {"AWS": "arn:aws:iam::111122223333:user/eve"}
    assert first["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]
    doc = exposure.policy_with_statement(policy(stmt({"AWS": "111122223333"}, sid="Keep")), first)
    again = exposure.policy_with_statement(doc, first)
    assert [s["Sid"] for s in again["Statement"]] == ["Keep", first["Sid"]]
    with pytest.raises(ManualReview):
        exposure.deny_statement(Collaborator(exposure.ALL_USERS), "b")
    assert exposure.deny_statement(Collaborator("111122223333"), "b")["Principal"] == {
        "AWS": "arn:aws:iam::111122223333:root"}
