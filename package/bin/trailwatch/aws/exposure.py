"""Which ACL grants and bucket-policy statements make a bucket public, and which of them name
a given collaborator. Pure functions over the shapes S3 returns (GetBucketAcl's Grants,
GetBucketPolicy's JSON document); no AWS calls. Used by the S3 posture input (what is
exposed) and by the governance actions (what to take away).

moto does not judge "public" the way S3 does, so these rules are unit-tested directly
(tests/test_exposure.py). They follow S3's documented meaning of public: a policy
statement is public when it allows a wildcard principal unless a condition pins the caller to
fixed values of the keys below; an ACL grant is public when its grantee is the AllUsers or
AuthenticatedUsers group.
"""
import copy
import ipaddress
import json
import re

from trailwatch.aws.policy_documents import as_list as _as_list

GROUP_PREFIX = "http://acs.amazonaws.com/groups/"
ALL_USERS = GROUP_PREFIX + "global/AllUsers"
AUTHENTICATED_USERS = GROUP_PREFIX + "global/AuthenticatedUsers"
LOG_DELIVERY = GROUP_PREFIX + "s3/LogDelivery"
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)

# Condition keys that, with fixed (non-wildcard) values, pin a statement to known callers.
RESTRICTING_KEYS = frozenset(k.lower() for k in (
    "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalAccount", "aws:PrincipalArn",
    "aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner", "aws:SourceOrgID",
    "aws:SourceOrgPaths", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceIp", "aws:userid",
    "aws:PrincipalServiceName", "s3:DataAccessPointAccount", "s3:DataAccessPointArn",
))
# Operators whose match against fixed values restricts who is allowed. Negated operators
# (StringNotEquals ...) and ...IfExists variants (true when the key is absent) do not.
RESTRICTING_OPERATORS = frozenset(o.lower() for o in (
    "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "IpAddress",
))
# An IP range wider than this (IPv4 /8, IPv6 /32) is as good as "anyone".
_MIN_PREFIX = {4: 8, 6: 32}

_ACCOUNT_RE = re.compile(r"^\d{12}$")
_CANONICAL_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_ARN_RE = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):(iam|sts)::(\d{12}):(.+)$")


class ManualReview(Exception):
    """The change cannot be made safely by a program; the message says what a person must look at."""


# --------------------------------------------------------------------------- ACL
def grantee_key(grantee):
    """A comparable identity for an ACL grantee: ('group', uri) / ('id', canonical id)."""
    grantee = grantee or {}
    if grantee.get("Type") == "Group" or grantee.get("URI"):
        return ("group", grantee.get("URI", ""))
    if grantee.get("ID"):
        return ("id", grantee["ID"].lower())
    if grantee.get("EmailAddress"):
        return ("email", grantee["EmailAddress"].lower())
    return ("unknown", json.dumps(grantee, sort_keys=True))


def is_public_grant(grant):
    key = grantee_key(grant.get("Grantee"))
    return key[0] == "group" and key[1] in PUBLIC_GROUPS


def public_grants(grants):
    return [g for g in grants or [] if is_public_grant(g)]


def normalize_acl(acl):
    """The part of GetBucketAcl's answer PutBucketAcl takes back (Owner + Grants), with
    grantee fields S3 adds on read (DisplayName) left out so comparisons are stable."""
    if not acl:
        return None
    owner = {"ID": (acl.get("Owner") or {}).get("ID", "")}
    grants = []
    for grant in acl.get("Grants") or []:
        grantee = dict(grant.get("Grantee") or {})
        grantee.pop("DisplayName", None)
        grants.append({"Grantee": grantee, "Permission": grant.get("Permission")})
    grants.sort(key=lambda g: (grantee_key(g["Grantee"]), g["Permission"] or ""))
    return {"Owner": owner, "Grants": grants}


def acl_without(acl, predicate):
    """A copy of a normalized ACL without the grants for which predicate(grant) is true."""
    acl = normalize_acl(acl)
    if acl is None:
        return None
    acl["Grants"] = [g for g in acl["Grants"] if not predicate(g)]
    return acl


# --------------------------------------------------------------------------- policy
def parse_policy(text):
    if text is None or text == "":
        return None
    if isinstance(text, dict):
        return copy.deepcopy(text)
    return json.loads(text)


def statements(policy):
    if not policy:
        return []
    found = policy.get("Statement") or []
    return [found] if isinstance(found, dict) else list(found)


def _principal_values(principal):
    """[(kind, value)] of a Principal element: kind 'AWS', 'CanonicalUser', 'Service',
    'Federated', or '*' for the bare string "*"."""
    if principal is None:
        return []
    if isinstance(principal, str):
        return [("*", principal)] if principal == "*" else [("AWS", principal)]
    values = []
    for kind, entries in principal.items():
        for entry in _as_list(entries):
            values.append((kind, entry))
    return values


def _wildcard_principal(kind, value):
    return value == "*" and kind in ("*", "AWS", "CanonicalUser")


def _value_is_fixed(operator, value):
    text = str(value)
    if "*" in text or "?" in text:
        return False
    if operator == "ipaddress":
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return False
        return network.prefixlen >= _MIN_PREFIX[network.version]
    return text != ""


def restricting_condition(condition):
    """True when the Condition block pins the caller to fixed accounts, organisations, ARNs,
    VPCs or IP ranges (S3's test for a non-public policy)."""
    for operator, tests in (condition or {}).items():
        op = operator.lower()
        if op.startswith("forallvalues:"):
            continue  # true for an empty set of values: restricts nothing
        if op.startswith("foranyvalue:"):
            op = op.split(":", 1)[1]
        if op not in RESTRICTING_OPERATORS or not isinstance(tests, dict):
            continue
        for key, values in tests.items():
            values = _as_list(values)
            if key.lower() in RESTRICTING_KEYS and values and all(
                    _value_is_fixed(op, v) for v in values):
                return True
    return False


def is_public_statement(statement):
    """An Allow statement that any AWS caller can use: a wildcard principal (or NotPrincipal,
    which allows everyone not listed) without a restricting condition."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        wildcard = True
    else:
        wildcard = any(_wildcard_principal(k, v) for k, v in _principal_values(statement.get("Principal")))
    return wildcard and not restricting_condition(statement.get("Condition"))


def public_statements(policy):
    return [s for s in statements(policy) if is_public_statement(s)]


def policy_without_public(policy):
    """(new policy or None when nothing is left, [removed descriptions]).

    A public statement whose principal list also names specific principals keeps those
    principals and loses only the wildcard; a statement granting only to the wildcard is
    dropped. NotPrincipal statements cannot be narrowed safely and are dropped whole.
    Deny statements are never touched."""
    def select(label, statement):
        if not is_public_statement(statement):
            return None
        if "NotPrincipal" in statement:
            return "statement %s (Allow with NotPrincipal)" % label, None
        return ("statement %s (Allow to everyone)" % label,
                "wildcard principal of statement %s" % label), _wildcard_principal

    return _policy_without(policy, select)


def _policy_without(policy, select):
    """(new policy or None when nothing is left, [removed descriptions]): the one loop over a
    policy's statements behind policy_without_public and policy_without_collaborator.

    select(label, statement) -> None (keep the statement), or (texts, drop) where drop(kind,
    value) picks the Principal entries to take out (None: drop the whole statement) and texts
    is the description when the statement is dropped, or (when dropped, when narrowed)."""
    policy = parse_policy(policy)
    if policy is None:
        return None, []
    kept, removed = [], []
    for index, statement in enumerate(statements(policy)):
        label = statement.get("Sid") or "#%d" % index
        chosen = select(label, statement)
        if chosen is None:
            kept.append(statement)
            continue
        texts, drop = chosen
        dropped_text, narrowed_text = texts if isinstance(texts, tuple) else (texts, texts)
        narrowed = _without_principals(statement, drop) if drop is not None else None
        if narrowed is None:
            removed.append(dropped_text)
        else:
            kept.append(narrowed)
            removed.append(narrowed_text)
    return rebuilt(policy, kept), removed


def rebuilt(policy, kept):
    if not kept:
        return None
    result = dict(policy)
    result["Statement"] = kept
    return result


def _without_principals(statement, drop):
    """A copy of statement whose Principal lacks the entries drop(kind, value) selects, or
    None when no principal is left."""
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return None if drop("*" if principal == "*" else "AWS", principal) else dict(statement)
    remaining = {}
    for kind, entries in (principal or {}).items():
        is_list = isinstance(entries, list)
        left = [e for e in _as_list(entries) if not drop(kind, e)]
        if left:
            remaining[kind] = left if is_list or len(left) > 1 else left[0]
    if not remaining:
        return None
    result = dict(statement)
    result["Principal"] = remaining
    return result


# --------------------------------------------------------------------------- collaborators
class Collaborator(object):
    """Who to remove: an AWS account id, an IAM/STS principal ARN, a canonical user id, or
    an ACL group URI."""

    def __init__(self, text):
        text = (text or "").strip()
        self.text = text
        match = _ARN_RE.match(text)
        if _ACCOUNT_RE.match(text):
            self.kind, self.account = "account", text
        elif match:
            self.kind, self.account = "arn", match.group(3)
        elif _CANONICAL_RE.match(text):
            self.kind, self.account = "canonical", None
            self.text = text.lower()
        elif text.startswith(GROUP_PREFIX):
            self.kind, self.account = "group", None
        else:
            raise ValueError(
                "%r is not a collaborator TrailWatch can remove: give a 12-digit AWS account "
                "id, an IAM principal ARN, a 64-character canonical user id or an ACL group "
                "URI (S3 no longer accepts e-mail grantees)." % text)

    def __repr__(self):
        return "Collaborator(%s %s)" % (self.kind, self.text)

    def is_root_arn(self):
        return self.kind == "arn" and self.text.endswith(":root")

    def matches_principal(self, kind, value):
        """Does one Principal entry (kind, value) name this collaborator?"""
        value = str(value)
        if kind == "CanonicalUser":
            return self.kind == "canonical" and value.lower() == self.text
        if kind not in ("AWS", "*") or value == "*":
            return False
        principal_account = value if _ACCOUNT_RE.match(value) else None
        match = _ARN_RE.match(value)
        if match:
            principal_account = match.group(3)
        if self.kind == "account":
            return principal_account == self.account
        if self.kind == "arn":
            if self.is_root_arn():
                return principal_account == self.account and (
                    value == self.account or value.endswith(":root"))
            return value == self.text
        return False

    def matches_grant(self, grant):
        key = grantee_key(grant.get("Grantee"))
        if self.kind == "canonical":
            return key == ("id", self.text)
        if self.kind == "group":
            return key == ("group", self.text)
        return False

    def mentioned_in(self, value):
        """Does a Condition / NotPrincipal value mention this collaborator (its id, ARN or
        account)?"""
        text = json.dumps(value).lower()
        needles = [self.text.lower()]
        if self.account:
            needles.append(self.account)
        return any(n in text for n in needles)


def policy_without_collaborator(policy, collaborator):
    """(new policy or None when nothing is left, [removed descriptions]) with the
    collaborator taken out of every Allow statement's Principal.

    Raises ManualReview when a Condition or NotPrincipal mentions the collaborator: removing
    it there could widen access, so a person must decide."""
    def select(label, statement):
        if "NotPrincipal" in statement and collaborator.mentioned_in(statement["NotPrincipal"]):
            raise ManualReview(
                "Statement %s of the bucket policy names %s in NotPrincipal; removing it would "
                "change who the statement applies to. Review the policy by hand."
                % (label, collaborator.text))
        if statement.get("Condition") and collaborator.mentioned_in(statement["Condition"]):
            raise ManualReview(
                "Statement %s of the bucket policy mentions %s in its Condition; TrailWatch "
                "does not rewrite conditions. Review the policy by hand." % (label, collaborator.text))
        if statement.get("Effect") != "Allow" or "Principal" not in statement:
            return None
        names = [v for k, v in _principal_values(statement["Principal"])
                 if collaborator.matches_principal(k, v)]
        if not names:
            return None
        return ("statement %s (granted only to %s)" % (label, collaborator.text),
                "%s from statement %s" % (", ".join(names), label)), collaborator.matches_principal

    return _policy_without(policy, select)


def deny_sid(collaborator):
    """The Sid of the Deny statement TrailWatch adds for a collaborator (undo finds it by Sid)."""
    import hashlib

    return "TrailWatchDeny" + hashlib.sha256(collaborator.text.encode("utf-8")).hexdigest()[:16]


def deny_statement(collaborator, bucket, partition="aws"):
    if collaborator.kind == "group":
        raise ManualReview(
            "A bucket policy cannot name the ACL group %s; use mode 'remove' to drop its grants."
            % collaborator.text)
    if collaborator.kind == "canonical":
        principal = {"CanonicalUser": collaborator.text}
    elif collaborator.kind == "account":
        principal = {"AWS": "arn:%s:iam::%s:root" % (partition, collaborator.account)}
    else:
        principal = {"AWS": collaborator.text}
    bucket_arn = "arn:%s:s3:::%s" % (partition, bucket)
    return {
        "Sid": deny_sid(collaborator),
        "Effect": "Deny",
        "Principal": principal,
        "Action": "s3:*",
        "Resource": [bucket_arn, bucket_arn + "/*"],
    }


def policy_with_statement(policy, statement):
    """The policy with `statement` appended (or replacing one with the same Sid)."""
    policy = parse_policy(policy) or {"Version": "2012-10-17", "Statement": []}
    kept = [s for s in statements(policy) if s.get("Sid") != statement.get("Sid")]
    kept.append(statement)
    result = dict(policy)
    result["Statement"] = kept
    return result


def same_policy(left, right):
    """Policies compare equal when their JSON is equal after parsing."""
    return _canonical(parse_policy(left)) == _canonical(parse_policy(right))


def _canonical(value):
    return json.dumps(value, sort_keys=True) if value is not None else None
