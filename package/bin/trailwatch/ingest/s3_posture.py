"""``aws_s3_posture``: one ``trailwatch:s3:posture`` event per bucket, on an interval.

Each event says whether the bucket is public *now* and why:

- ``acl_public_grants``: ACL grants to AllUsers / AuthenticatedUsers;
- ``policy_public`` and ``policy_public_statements`` (each with the reason it is public), as
  judged by ``trailwatch.aws.exposure`` -- the same rules the governance actions use -- and
  ``aws_policy_status_public``, AWS's own verdict (GetBucketPolicyStatus);
- ``bucket_public_access_block`` / ``account_public_access_block`` (the four flags, or null
  when none is set) and the ``effective_block`` that applies;
- ``object_ownership`` (``BucketOwnerEnforced`` disables ACLs) and ``website_hosting``;
- ``effective_public``: public through the ACL or the policy and not neutralised by Block
  Public Access (IgnorePublicAcls neutralises public ACLs, RestrictPublicBuckets public
  policies) nor by disabled ACLs; null when a read it depends on failed (``read_errors``);
- ``public_via`` and ``neutralised_by``: the paths to public, and what blocks each.

Reads that fail (missing permission, bucket gone) are recorded in the event and logged; they
never stop the snapshot of the other buckets.

Python 3.9 to 3.13.
"""
import datetime
import ipaddress
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, Optional
from urllib.parse import urlsplit

from trailwatch.aws.session import endpoint_url_for
from trailwatch.aws import exposure
from trailwatch.ingest import aws_errors
from trailwatch.aws.policy_documents import as_list as _as_list
from trailwatch.ingest import input_settings as settings_lib
from trailwatch.timefmt import iso_utc as _iso

INPUT_TYPE = "aws_s3_posture"
SOURCETYPE = "trailwatch:s3:posture"
BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
THREADS = 8
_GROUP_NAMES = {exposure.ALL_USERS: "AllUsers", exposure.AUTHENTICATED_USERS: "AuthenticatedUsers"}


Settings = settings_lib.AccountSettings


# ---------------------------------------------------------------------------- assessment
def _flags(block):
    if block is None:
        return None
    return {flag: bool(block.get(flag, False)) for flag in BLOCK_FLAGS}


def _why_public(statement):
    if "NotPrincipal" in statement:
        return "Allow with NotPrincipal applies to every principal not listed"
    if statement.get("Condition"):
        return ("allows Principal \"*\" and its Condition does not limit callers to fixed "
                "accounts, organisations, ARNs, VPCs or IP ranges")
    return "allows Principal \"*\" without a Condition"


def public_statements(policy):
    """[{sid, actions, resources, reason}] of the policy's public statements."""
    found = []
    for index, statement in enumerate(exposure.statements(policy)):
        if not isinstance(statement, dict) or not exposure.is_public_statement(statement):
            continue
        found.append({
            "sid": statement.get("Sid") or "#%d" % index,
            "actions": _as_list(statement.get("Action") or statement.get("NotAction")),
            "resources": _as_list(statement.get("Resource") or statement.get("NotResource")),
            "reason": _why_public(statement),
        })
    return found


def assess(bucket, reads, account_block, account_block_known=True):
    """The posture event (a dict) of one bucket from what was read about it.

    ``reads``: acl (GetBucketAcl answer or None), policy (document or None), policy_status
    (bool or None), block (PublicAccessBlockConfiguration or None), ownership (str or None),
    website (bool), region, creation_date, errors ({call: code}); a read that failed is
    absent from ``reads`` and named in ``errors``."""
    errors = reads.get("errors") or {}
    acl_known = "acl" in reads
    policy_known = "policy" in reads
    ownership_known = "ownership" in reads

    acl_grants = _acl_grants(reads) if acl_known else []
    policy = reads.get("policy")
    statements = public_statements(policy) if policy_known else []
    aws_status = reads.get("policy_status")
    # Without the document, only AWS's verdict is known (None when not either).
    policy_public = bool(statements) if policy_known else aws_status

    bucket_flags = _flags(reads.get("block")) if "block" in reads else None
    account_flags = _flags(account_block) if account_block_known else None
    effective = _effective_block(bucket_flags, "block" in reads, account_flags,
                                 account_block_known)
    ownership = reads.get("ownership")
    acls_disabled = ownership == "BucketOwnerEnforced" if ownership_known else None

    acl = _acl_verdict(acl_grants, acl_known, acls_disabled, effective, bucket_flags,
                       account_flags)
    via_policy = _policy_verdict(policy_public, effective, bucket_flags, account_flags)
    public_via = [name for name, verdict in (("acl", acl), ("policy", via_policy))
                  if verdict.listed]
    neutralised_by = [verdict.neutralised_by for verdict in (acl, via_policy)
                      if verdict.neutralised_by]
    if acl.effective or via_policy.effective:
        effective_public = True
    elif acl.effective is None or via_policy.effective is None:
        effective_public = None
    else:
        effective_public = False

    return {
        "bucket_name": bucket["Name"],
        "creation_date": _iso(bucket.get("CreationDate")),
        "region": reads.get("region"),
        "acl_public_grants": acl_grants,
        "acl_public": bool(acl_grants) if acl_known else None,
        "policy_exists": (policy is not None) if policy_known else None,
        "policy_public": policy_public,
        "policy_public_statements": statements,
        "policy_public_reason": "; ".join("statement %s %s" % (s["sid"], s["reason"])
                                          for s in statements) or None,
        "aws_policy_status_public": aws_status,
        "bucket_public_access_block": bucket_flags,
        "account_public_access_block": account_flags,
        "effective_block": effective,
        "object_ownership": ownership,
        "acls_disabled": acls_disabled,
        "website_hosting": reads.get("website"),
        "public_via": public_via,
        "neutralised_by": neutralised_by,
        "effective_public": effective_public,
        "read_errors": [{"call": call, "error": code} for call, code in sorted(errors.items())],
    }


def _acl_grants(reads):
    """The ACL's grants to everyone or to any authenticated AWS user, named."""
    grants = exposure.public_grants((reads.get("acl") or {}).get("Grants"))
    return [{
        "grantee": _GROUP_NAMES.get((g.get("Grantee") or {}).get("URI"), "group"),
        "grantee_uri": (g.get("Grantee") or {}).get("URI"),
        "permission": g.get("Permission"),
    } for g in grants]


def _effective_block(bucket_flags, bucket_known, account_flags, account_known):
    """{flag: True when the bucket's or the account's block sets it, False when both are
    known and neither does, None when that cannot be told}."""
    effective = {}
    for flag in BLOCK_FLAGS:
        values = []
        if bucket_known:
            values.append(bool(bucket_flags and bucket_flags[flag]))
        if account_known:
            values.append(bool(account_flags and account_flags[flag]))
        if any(values):
            effective[flag] = True
        elif bucket_known and account_known:
            effective[flag] = False
        else:
            effective[flag] = None
    return effective


class _Verdict(NamedTuple):
    """What one way of being public (ACL or policy) amounts to."""

    listed: bool  #: the bucket is public that way on paper
    neutralised_by: Optional[str]  #: what cancels it, when something does
    effective: Optional[bool]  #: public that way for real (None: cannot be told)


def _acl_verdict(acl_grants, acl_known, acls_disabled, effective, bucket_flags, account_flags):
    if not acl_grants:
        return _Verdict(False, None, False if acl_known else None)
    if acls_disabled:
        return _Verdict(True, "acl: object ownership BucketOwnerEnforced disables ACLs", False)
    if effective["IgnorePublicAcls"]:
        return _Verdict(True, "acl: IgnorePublicAcls (%s)" % _level(
            bucket_flags, account_flags, "IgnorePublicAcls"), False)
    if effective["IgnorePublicAcls"] is None or acls_disabled is None:
        return _Verdict(True, None, None)
    return _Verdict(True, None, True)


def _policy_verdict(policy_public, effective, bucket_flags, account_flags):
    if not policy_public:
        return _Verdict(False, None, None if policy_public is None else False)
    if effective["RestrictPublicBuckets"]:
        return _Verdict(True, "policy: RestrictPublicBuckets (%s)" % _level(
            bucket_flags, account_flags, "RestrictPublicBuckets"), False)
    if effective["RestrictPublicBuckets"] is None:
        return _Verdict(True, None, None)
    return _Verdict(True, None, True)


def _level(bucket_flags, account_flags, flag):
    levels = []
    if bucket_flags and bucket_flags[flag]:
        levels.append("bucket")
    if account_flags and account_flags[flag]:
        levels.append("account")
    return " and ".join(levels)


# ---------------------------------------------------------------------------- reading
# (call, IAM action, error codes meaning "not configured", how to pick the answer)
_OPTIONAL_READS = (
    ("policy", "get_bucket_policy", "s3:GetBucketPolicy", ("NoSuchBucketPolicy",),
     lambda r: exposure.parse_policy(r["Policy"])),
    ("policy_status", "get_bucket_policy_status", "s3:GetBucketPolicyStatus",
     ("NoSuchBucketPolicy",), lambda r: bool(r["PolicyStatus"].get("IsPublic"))),
    ("block", "get_public_access_block", "s3:GetBucketPublicAccessBlock",
     ("NoSuchPublicAccessBlockConfiguration",), lambda r: r["PublicAccessBlockConfiguration"]),
    ("ownership", "get_bucket_ownership_controls", "s3:GetBucketOwnershipControls",
     ("OwnershipControlsNotFoundError",),
     lambda r: r["OwnershipControls"]["Rules"][0]["ObjectOwnership"]),
    ("website", "get_bucket_website", "s3:GetBucketWebsite", ("NoSuchWebsiteConfiguration",),
     lambda r: True),
)
_ABSENT = {"policy": None, "policy_status": False, "block": None, "ownership": None,
           "website": False}


class BucketGone(Exception):
    pass


def bucket_region(answer):
    location = answer.get("LocationConstraint")
    if not location:
        return "us-east-1"
    if location == "EU":
        return "eu-west-1"
    return location


class PostureReader(object):
    def __init__(self, ctx):
        self.ctx = ctx
        self._clients = {}
        self._lock = threading.Lock()

    def client(self, region):
        with self._lock:
            if region not in self._clients:
                try:
                    self._clients[region] = self.ctx.session.client("s3", region=region)
                except Exception:  # noqa: BLE001 - outside the partition: use the account's region
                    self._clients[region] = self.ctx.session.client("s3")
            return self._clients[region]

    def read(self, name):
        reads = {"errors": {}}
        errors = reads["errors"]
        home = self.client(None)
        try:
            reads["region"] = bucket_region(home.get_bucket_location(Bucket=name))
        except Exception as exc:  # noqa: BLE001
            if aws_errors.error_code(exc) == "NoSuchBucket":
                raise BucketGone(name)
            errors["s3:GetBucketLocation"] = aws_errors.error_code(exc)
            reads["region"] = None
        s3 = self.client(reads["region"]) if reads["region"] else home
        try:
            reads["acl"] = s3.get_bucket_acl(Bucket=name)
        except Exception as exc:  # noqa: BLE001
            if aws_errors.error_code(exc) == "NoSuchBucket":
                raise BucketGone(name)
            errors["s3:GetBucketAcl"] = aws_errors.error_code(exc)
        for field, method, action, absent_codes, pick in _OPTIONAL_READS:
            try:
                reads[field] = pick(getattr(s3, method)(Bucket=name))
            except Exception as exc:  # noqa: BLE001
                code = aws_errors.error_code(exc)
                if code in absent_codes:
                    reads[field] = _ABSENT[field]
                elif code == "NoSuchBucket":
                    raise BucketGone(name)
                else:
                    errors[action] = code
            # A policy that is not JSON would be refused by S3; be safe anyway.
        return reads


def s3control_client(session):
    """S3 Control puts the account id in front of the endpoint's host name
    (``<account>.s3-control.<region>.amazonaws.com``). An endpoint override that is an IP
    address (a local test endpoint) cannot take that prefix: it is taken off again."""
    client = session.client("s3control")
    endpoint = endpoint_url_for("s3control")
    host = urlsplit(endpoint).hostname if endpoint else None
    if host and (host == "localhost" or _is_ip(host)):
        client.meta.events.register("before-sign.s3-control", _unprefixed_host)
    return client


def _unprefixed_host(request, **_kwargs):
    parts = urlsplit(request.url)
    label, _dot, rest = (parts.netloc or "").partition(".")
    if label.isdigit() and len(label) == 12 and rest:
        request.url = parts._replace(netloc=rest).geturl()


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def account_block(ctx):
    """(flags or None, known: bool) of the account-level Block Public Access."""
    try:
        control = s3control_client(ctx.session)
        answer = control.get_public_access_block(AccountId=ctx.account_id)
        return answer["PublicAccessBlockConfiguration"], True
    except Exception as exc:  # noqa: BLE001
        if aws_errors.error_code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return None, True
        ctx.logger.warning("%s Buckets' effective exposure may be unknown (null).",
                           aws_errors.describe(exc, ctx.account_name,
                                               "s3:GetAccountPublicAccessBlock"))
        return None, False


def list_buckets(s3):
    buckets = []
    paginator = s3.get_paginator("list_buckets")
    for page in paginator.paginate():
        buckets.extend(page.get("Buckets") or [])
    return buckets


def run(ctx, settings):
    started = time.time()
    reader = PostureReader(ctx)
    try:
        buckets = list_buckets(reader.client(None))
    except Exception as exc:  # noqa: BLE001 - said in words; nothing to snapshot
        ctx.logger.error("%s No posture snapshot this run.",
                         aws_errors.describe(exc, ctx.account_name, "s3:ListAllMyBuckets"))
        return []
    block, block_known = account_block(ctx)
    snapshot_time = ctx.clock()

    def one(bucket):
        try:
            reads = reader.read(bucket["Name"])
        except BucketGone:
            ctx.logger.info("Bucket %s was deleted while the snapshot was taken.", bucket["Name"])
            return None
        event = assess(bucket, reads, block, block_known)
        event["aws_account_id"] = ctx.account_id
        event["account"] = ctx.account_name
        event["bucket_arn"] = "arn:%s:s3:::%s" % (ctx.session.partition, bucket["Name"])
        event["snapshot_time"] = _iso(datetime.datetime.fromtimestamp(
            snapshot_time, tz=datetime.timezone.utc))
        if event["read_errors"]:
            ctx.logger.warning(
                "Bucket %s of account %s: could not read %s; the event says which fields are "
                "unknown. Grant these permissions to the account (policies/trailwatch-"
                "collection-policy.json).", bucket["Name"], ctx.account_id,
                ", ".join("%s (%s)" % (e["call"], e["error"]) for e in event["read_errors"]))
        return event

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        events = [e for e in pool.map(one, buckets) if e is not None]
    ctx.write_snapshot(events, snapshot_time, SOURCETYPE)
    public = sum(1 for e in events if e["effective_public"])
    unknown = sum(1 for e in events if e["effective_public"] is None)
    ctx.logger.info(
        "S3 posture of account %s (%s): %d buckets, %d effectively public, %d unknown; %.1f s.",
        ctx.account_id, ctx.account_name, len(events), public, unknown, time.time() - started)
    return events
