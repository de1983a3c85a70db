"""Guardrails: which targets governance actions must not touch.

- the admin's KV store lookups `trailwatch_protected_principals` (principals: ARNs, user or
  role names, `*` wildcards) and `trailwatch_protected_buckets` (buckets, with `protection` =
  `protected` or `intentionally_public`, the latter refused by "make private" unless its
  force option is set), and beside them the shipped, read-only
  `lookups/trailwatch_protected_principals_default.csv`;
- root, roles under /aws-reserved/ (IAM Identity Center) and /aws-service-role/, principals
  of another account, the add-on's own identity, the tag trailwatch-governance=exempt.
Pure functions over the lookups' rows and IAM data.

Matching a principal against the lookup: `*` and `?` wildcards over the whole value;
case-insensitive (IAM user and role names are unique regardless of case, so `Break-Glass-admin`
is the same kind of name as `break-glass-admin`); the partition of an ARN does not count
(`arn:aws:` rows also protect `arn:aws-us-gov:` and `arn:aws-cn:` principals); a user or role
is compared by its ARN with its IAM path as IAM reports it, by that ARN without the path, and
by its name.
"""
import csv
import fnmatch
import os
import re

EXEMPT_TAG = "trailwatch-governance"
EXEMPT_VALUE = "exempt"
PRINCIPALS_LOOKUP = "trailwatch_protected_principals"
BUCKETS_LOOKUP = "trailwatch_protected_buckets"
SHIPPED_PRINCIPALS = "trailwatch_protected_principals_default.csv"
RESERVED_PATHS = ("/aws-reserved/", "/aws-service-role/")
RESERVED_ROLE_PREFIXES = ("AWSReservedSSO_", "AWSServiceRoleFor")

_ARN_RE = re.compile(r"^arn:([\w-]+):(iam|sts)::(\d{12}):(.*)$")


class Protections(object):
    """The protected principals and buckets, as read from the lookups."""

    def __init__(self, principals=(), buckets=()):
        self.principals = [_clean(r) for r in principals if (r.get("principal") or "").strip()]
        self.buckets = [_clean(r) for r in buckets if (r.get("bucket_name") or "").strip()]

    @classmethod
    def with_shipped(cls, principals, buckets, directory):
        """The admin's rows plus the shipped default principals in ``directory`` (each of
        those names its file in ``lookup``, for the messages)."""
        shipped = [dict(row, lookup=SHIPPED_PRINCIPALS)
                   for row in _read_csv(os.path.join(directory, SHIPPED_PRINCIPALS))]
        return cls(list(principals) + shipped, buckets)

    def bucket_entry(self, bucket, account_id=None):
        """The lookup row protecting `bucket` (in `account_id`), or None."""
        for row in self.buckets:
            if not _account_matches(row, account_id):
                continue
            if fnmatch.fnmatchcase(bucket.lower(), row["bucket_name"].lower()):
                return row
        return None

    def principal_entry(self, names, account_id=None):
        """The lookup row matching any of `names` (ARNs, user or role names), or None."""
        keys = [_principal_key(n) for n in names if n]
        for row in self.principals:
            if not _account_matches(row, account_id):
                continue
            pattern = _principal_key(row["principal"])
            if any(fnmatch.fnmatchcase(key, pattern) for key in keys):
                return row
        return None


def _principal_key(text):
    """A principal or lookup pattern as compared: lower case, ARN partition left out."""
    text = text.strip().lower()
    if text.startswith("arn:") and text.count(":") >= 2:
        text = "arn:*:" + text.split(":", 2)[2]
    return text


def without_path(arn):
    """An IAM user or role ARN without its path (arn:...:user/admins/alice -> .../user/alice)."""
    parsed = parse_arn(arn)
    if not parsed or not parsed[3].startswith(("user/", "role/")):
        return None
    kind, _, rest = parsed[3].partition("/")
    return "arn:%s:%s::%s:%s/%s" % (parsed[0], parsed[1], parsed[2], kind, rest.split("/")[-1])


def _clean(row):
    return {k: (v or "").strip() for k, v in row.items() if k}


def _account_matches(row, account_id):
    wanted = row.get("aws_account_id") or ""
    return not wanted or wanted == "*" or not account_id or wanted == account_id


def _read_csv(path):
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def parse_arn(arn):
    """(partition, service, account, resource) of an IAM/STS ARN, or None."""
    match = _ARN_RE.match(arn or "")
    return match.groups() if match else None


def bucket_protection(protections, bucket, account_id, force_public=False):
    """The reason `bucket` must be left alone, or None."""
    row = protections.bucket_entry(bucket, account_id)
    if row is None:
        return None
    kind = (row.get("protection") or "protected").lower()
    why = row.get("reason") or "no reason given"
    if kind == "intentionally_public":
        if force_public:
            return None
        return ("bucket %s is listed as intentionally public in %s (%s); set the action's "
                "force option to act on it anyway." % (bucket, BUCKETS_LOOKUP, why))
    return "bucket %s is protected by %s (%s)." % (bucket, BUCKETS_LOOKUP, why)


def principal_protection(protections, target, identity, tags=None, role_path=None):
    """The reason a user, role or session must be left alone, or None.

    `target`: Target of kind user / role / session; `identity`: the add-on's caller identity
    ({"Account", "Arn"}); `tags`: {key: value} of the user or role; `role_path`: the IAM path
    of the role (for sessions and roles), when known."""
    name = target.name or ""
    arn = target.arn or ""
    if name == "root" or arn.endswith(":root") or target.extra.get("user_type", "").lower() == "root":
        return "the account's root user cannot be suspended or changed by TrailWatch."
    if target.kind in ("role", "session"):
        role_name = target.extra.get("role_name") or name
        path = role_path or _path_from_arn(target.extra.get("role_arn") or arn)
        if any(p in (path or "") for p in RESERVED_PATHS) or role_name.startswith(RESERVED_ROLE_PREFIXES):
            return ("role %s is an AWS service-linked or IAM Identity Center role (path %s); "
                    "change it through the service that owns it." % (role_name, path or "?"))
    own = identity or {}
    if target.account_id and own.get("Account") and target.account_id != own["Account"]:
        return ("%s belongs to AWS account %s, not to the account the add-on acts in (%s)."
                % (target.label, target.account_id, own["Account"]))
    if _is_own_identity(target, own.get("Arn") or ""):
        return "%s is the add-on's own AWS identity; TrailWatch never acts on itself." % target.label
    row = protections.principal_entry(principal_names(target), target.account_id)
    if row is not None:
        return "%s is protected by %s (%s)." % (
            target.label, row.get("lookup") or PRINCIPALS_LOOKUP, row.get("reason") or "no reason given")
    for key, value in (tags or {}).items():
        if key.lower() == EXEMPT_TAG and str(value).strip().lower() == EXEMPT_VALUE:
            return "%s carries the tag %s=%s." % (target.label, EXEMPT_TAG, EXEMPT_VALUE)
    return None


def principal_names(target):
    """What the protected-principals lookup is matched against for a user, role or session."""
    names = [target.arn, target.name, target.extra.get("role_name"), target.extra.get("role_arn")]
    return names + [without_path(n) for n in names if n and n.startswith("arn:")]


def _path_from_arn(arn):
    parsed = parse_arn(arn)
    if not parsed or not parsed[3].startswith("role/"):
        return None
    parts = parsed[3].split("/")
    return "/" + "/".join(parts[1:-1]) + "/" if len(parts) > 2 else "/"


def _is_own_identity(target, own_arn):
    parsed = parse_arn(own_arn)
    if not parsed:
        return False
    resource = parsed[3]
    if resource.startswith("user/"):
        return target.kind == "user" and resource.split("/")[-1] == target.name
    if resource.startswith("assumed-role/"):
        own_role = resource.split("/")[1]
        role_name = target.extra.get("role_name") or (target.name if target.kind == "role" else None)
        return target.kind in ("role", "session") and role_name == own_role
    return False
