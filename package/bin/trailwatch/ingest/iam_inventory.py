"""``aws_iam_inventory``: one ``trailwatch:iam:user`` event per IAM user, on an interval.

Each event holds what enrichment and the notify action need: the user's ARN and id, tags
(``email`` picked out), console access (login profile), MFA devices, access keys with their
status and last use, groups, attached and inline policies, and ``admin_policies``: the
policies -- the user's own or through a group -- that grant administrator-level access, each
with the reason (all actions on all resources, or full IAM, which can grant itself anything).

Reads that fail are listed in the event (``read_errors``) and logged; one user's failure
never stops the others.

Python 3.9 to 3.13.
"""
import datetime
import functools
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from trailwatch.ingest import aws_errors
from trailwatch.aws.policy_documents import as_list as _as_list
from trailwatch.ingest import input_settings as settings_lib
from trailwatch.timefmt import iso_utc as _iso

INPUT_TYPE = "aws_iam_inventory"
SOURCETYPE = "trailwatch:iam:user"
THREADS = 4
# AWS managed policies that are administrator-level by definition (any partition).
_ADMIN_MANAGED = {
    "AdministratorAccess": "AWS managed policy granting all actions on all resources",
    "IAMFullAccess": "AWS managed policy granting full IAM, which can grant itself anything",
}
_AWS_MANAGED_RE = re.compile(r"^arn:aws[\w-]*:iam::aws:policy/(?:.*/)?([^/]+)$")
_EMAIL_TAGS = ("email", "e-mail", "mail", "emailaddress", "email_address")


Settings = settings_lib.AccountSettings


# ---------------------------------------------------------------------------- policies
def admin_reason(document):
    """Why a policy document is administrator-level, or None."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return None
    if not isinstance(document, dict):
        return None
    found = None
    statements = document.get("Statement")
    for statement in _as_list(statements):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if "Action" not in statement:
            continue
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if "*" not in resources:
            continue
        # A Condition (MFA, source IP, time) limits when, not how much: still admin-level.
        when = " (under a Condition)" if statement.get("Condition") else ""
        actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
        if "*" in actions or "*:*" in actions:
            return "allows all actions (\"*\") on all resources" + when
        if "iam:*" in actions and found is None:
            found = ("allows all IAM actions (\"iam:*\") on all resources, so it can grant "
                     "itself anything" + when)
    return found


def email_of(tags):
    for key, value in tags.items():
        if key.strip().lower() in _EMAIL_TAGS and value:
            return value
    return None


class _Cache(object):
    """Per-run cache (policies and groups are shared by many users)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._values = {}

    def get(self, key, compute):
        with self._lock:
            if key in self._values:
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
        return value


class InventoryReader(object):
    def __init__(self, ctx, iam):
        self.ctx = ctx
        self.iam = iam
        self.cache = _Cache()

    def _pages(self, method, key, **params):
        items = []
        for page in self.iam.get_paginator(method).paginate(**params):
            items.extend(page.get(key) or [])
        return items

    # -- policies -------------------------------------------------------------
    def managed_policy_admin(self, arn):
        """(reason or None, error code or None) for a managed policy."""
        match = _AWS_MANAGED_RE.match(arn)
        if match:
            return _ADMIN_MANAGED.get(match.group(1)), None

        def compute():
            try:
                policy = self.iam.get_policy(PolicyArn=arn)["Policy"]
                version = self.iam.get_policy_version(
                    PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
                return admin_reason(version.get("Document")), None
            except Exception as exc:  # noqa: BLE001
                return None, "iam:GetPolicy/GetPolicyVersion %s (%s)" % (arn, aws_errors.error_code(exc))

        return self.cache.get(("policy", arn), compute)

    def group(self, name):
        """{attached, inline, admin, errors} of a group (cached)."""
        def compute():
            result = {"admin": [], "errors": []}
            try:
                attached = self._pages("list_attached_group_policies", "AttachedPolicies",
                                       GroupName=name)
            except Exception as exc:  # noqa: BLE001
                attached = []
                result["errors"].append("iam:ListAttachedGroupPolicies %s (%s)"
                                        % (name, aws_errors.error_code(exc)))
            for item in attached:
                reason, error = self.managed_policy_admin(item["PolicyArn"])
                if error:
                    result["errors"].append(error)
                if reason:
                    result["admin"].append({"name": item["PolicyName"], "arn": item["PolicyArn"],
                                            "kind": "attached", "source": "group:" + name,
                                            "reason": reason})
            try:
                inline = self._pages("list_group_policies", "PolicyNames", GroupName=name)
            except Exception as exc:  # noqa: BLE001
                inline = []
                result["errors"].append("iam:ListGroupPolicies %s (%s)"
                                        % (name, aws_errors.error_code(exc)))
            for policy_name in inline:
                try:
                    document = self.iam.get_group_policy(
                        GroupName=name, PolicyName=policy_name)["PolicyDocument"]
                except Exception as exc:  # noqa: BLE001
                    result["errors"].append("iam:GetGroupPolicy %s/%s (%s)"
                                            % (name, policy_name, aws_errors.error_code(exc)))
                    continue
                reason = admin_reason(document)
                if reason:
                    result["admin"].append({"name": policy_name, "arn": None, "kind": "inline",
                                            "source": "group:" + name, "reason": reason})
            return result

        return self.cache.get(("group", name), compute)

    # -- users ----------------------------------------------------------------
    def user(self, user):
        """The inventory event (a dict) of one IAM user; a read that fails is named in
        ``read_errors`` and its part of the event is None or empty."""
        iam = self.iam
        name = user["UserName"]
        reads = _Reads()
        tags_list = reads.attempt("iam:ListUserTags", lambda: self._pages(
            "list_user_tags", "Tags", UserName=name), None)
        tags = {t["Key"]: t["Value"] for t in (tags_list if tags_list is not None
                                                else user.get("Tags") or [])}
        profile = reads.attempt("iam:GetLoginProfile",
                                lambda: iam.get_login_profile(UserName=name)["LoginProfile"],
                                None, absent_ok=True)
        console_known = not reads.failed("iam:GetLoginProfile")
        mfa = reads.attempt("iam:ListMFADevices", lambda: self._pages(
            "list_mfa_devices", "MFADevices", UserName=name), None)
        access_keys = self._access_keys(name, reads)
        groups = reads.attempt("iam:ListGroupsForUser", lambda: [g["GroupName"] for g in self._pages(
            "list_groups_for_user", "Groups", UserName=name)], [])
        attached = reads.attempt("iam:ListAttachedUserPolicies", lambda: self._pages(
            "list_attached_user_policies", "AttachedPolicies", UserName=name), [])
        inline = reads.attempt("iam:ListUserPolicies", lambda: self._pages(
            "list_user_policies", "PolicyNames", UserName=name), [])
        admin = self._admin_policies(name, attached, inline, groups, reads)

        password_used = _iso(user.get("PasswordLastUsed"))
        used_dates = [d for d in [password_used] + [k["last_used_date"] for k in access_keys] if d]
        return {
            "user_name": name,
            "user_id": user.get("UserId"),
            "user_arn": user.get("Arn"),
            "path": user.get("Path"),
            "create_date": _iso(user.get("CreateDate")),
            "password_last_used": password_used,
            "last_used": max(used_dates) if used_dates else None,
            "tags": tags,
            "email": email_of(tags),
            "console_access": (profile is not None) if console_known else None,
            "login_profile_created": _iso(profile.get("CreateDate")) if profile else None,
            "mfa_enabled": bool(mfa) if mfa is not None else None,
            "mfa_devices": [d.get("SerialNumber") for d in mfa or []],
            "access_keys": access_keys,
            "active_access_keys": sum(1 for k in access_keys if k["status"] == "Active"),
            "groups": groups,
            "attached_policies": [{"name": p["PolicyName"], "arn": p["PolicyArn"]} for p in attached],
            "inline_policies": list(inline),
            "admin_policies": admin,
            "is_admin": bool(admin),
            "read_errors": sorted(set(reads.errors)),
        }

    def _access_keys(self, name, reads):
        """The user's access keys, each with when, where and for what it was last used."""
        keys = reads.attempt("iam:ListAccessKeys", lambda: self._pages(
            "list_access_keys", "AccessKeyMetadata", UserName=name), [])
        access_keys = []
        for key in keys:
            entry = {"access_key_id": key["AccessKeyId"], "status": key.get("Status"),
                     "create_date": _iso(key.get("CreateDate")), "last_used_date": None,
                     "last_used_service": None, "last_used_region": None}
            used = reads.attempt("iam:GetAccessKeyLastUsed", functools.partial(
                self.iam.get_access_key_last_used, AccessKeyId=key["AccessKeyId"]), None)
            used = used.get("AccessKeyLastUsed") if used else None
            if used:
                entry["last_used_date"] = _iso(used.get("LastUsedDate"))
                entry["last_used_service"] = used.get("ServiceName")
                entry["last_used_region"] = used.get("Region")
            access_keys.append(entry)
        return access_keys

    def _admin_policies(self, name, attached, inline, groups, reads):
        """The policies that make the user an administrator: attached, inline, and those of
        its groups."""
        admin = []
        for item in attached:
            reason, error = self.managed_policy_admin(item["PolicyArn"])
            if error:
                reads.errors.append(error)
            if reason:
                admin.append({"name": item["PolicyName"], "arn": item["PolicyArn"],
                              "kind": "attached", "source": "user", "reason": reason})
        for policy_name in inline:
            answer = reads.attempt("iam:GetUserPolicy", functools.partial(
                self.iam.get_user_policy, UserName=name, PolicyName=policy_name), None)
            document = answer.get("PolicyDocument") if answer else None
            reason = admin_reason(document) if document is not None else None
            if reason:
                admin.append({"name": policy_name, "arn": None, "kind": "inline",
                              "source": "user", "reason": reason})
        for group_name in groups:
            found = self.group(group_name)
            admin.extend(found["admin"])
            reads.errors.extend(found["errors"])
        return admin


class _Reads(object):
    """The IAM reads about one user: each answer, or its default and the failure noted."""

    def __init__(self):
        self.errors = []  # "iam:Call (ErrorCode)"

    def attempt(self, label, call, default, absent_ok=False):
        """``call()``, or ``default`` when it fails (noted, except NoSuchEntity when
        ``absent_ok``: the thing read does not exist, which is an answer)."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - noted in read_errors, said in the event
            code = aws_errors.error_code(exc)
            if not (absent_ok and code == "NoSuchEntity"):
                self.errors.append("%s (%s)" % (label, code))
            return default

    def failed(self, label):
        return any(error.startswith(label + " ") for error in self.errors)


def run(ctx, settings):
    started = time.time()
    iam = ctx.session.client("iam")
    reader = InventoryReader(ctx, iam)
    try:
        users = reader._pages("list_users", "Users")
    except Exception as exc:  # noqa: BLE001 - said in words; nothing to snapshot
        ctx.logger.error("%s No IAM inventory this run.",
                         aws_errors.describe(exc, ctx.account_name, "iam:ListUsers"))
        return []
    snapshot_time = ctx.clock()
    snapshot_iso = _iso(datetime.datetime.fromtimestamp(snapshot_time, tz=datetime.timezone.utc))

    def one(user):
        event = reader.user(user)
        event["aws_account_id"] = ctx.account_id
        event["account"] = ctx.account_name
        event["snapshot_time"] = snapshot_iso
        if event["read_errors"]:
            ctx.logger.warning(
                "IAM user %s of account %s: could not read %s; those fields are unknown "
                "(null). Grant these permissions to the account (policies/trailwatch-collection-"
                "policy.json).", event["user_name"], ctx.account_id, ", ".join(event["read_errors"]))
        return event

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        events = list(pool.map(one, users))
    ctx.write_snapshot(events, snapshot_time, SOURCETYPE)
    ctx.logger.info(
        "IAM inventory of account %s (%s): %d users, %d with administrator-level policies, "
        "%d with console access but no MFA; %.1f s.", ctx.account_id, ctx.account_name,
        len(events), sum(1 for e in events if e["is_admin"]),
        sum(1 for e in events if e["console_access"] and e["mfa_enabled"] is False),
        time.time() - started)
    return events
