"""IAM principal actions: suspend a user (or one assumed-role session), require a user or
role to sign in again.

Suspend user, IAM user: inline policy `TrailWatchSuspend` denying everything, then every
Active access key set to Inactive. Undo deletes the policy (or puts back the one of that name
that was there) and re-activates exactly the keys that were active. Console password and MFA
are left alone: deleting them cannot be undone.
Suspend user, assumed-role session: inline policy `TrailWatchSuspendSession-<hash>` on the
role, denying everything when aws:userid is the session's principal id (`AROA...:<session>`);
other sessions of the role keep working.
Revoke sessions: inline policy `AWSRevokeOlderSessions` (the name the IAM console uses)
denying everything to credentials issued before now (aws:TokenIssueTime), on the user or
role; for IAM users with a console password also UpdateLoginProfile(PasswordResetRequired).
Long-term access keys are not affected: the condition exists only for temporary credentials.
"""
import datetime
import hashlib
import json

from trailwatch.govern.core import (Action, Protected, Step, Target, TargetError,
                                    client_error_code, describe_exception, revert, truthy)
from trailwatch.aws.exposure import parse_policy, same_policy
from trailwatch.govern.protection import parse_arn, principal_protection
from trailwatch.timefmt import iso_utc as _iso

SUSPEND_POLICY = "TrailWatchSuspend"
SESSION_POLICY_PREFIX = "TrailWatchSuspendSession-"
REVOKE_POLICY = "AWSRevokeOlderSessions"
# A re-run without the alert's last_seen counts as done when our revocation is this recent.
REVOKE_FRESH = datetime.timedelta(minutes=10)
LONG_TERM_KEYS_NOTE = ("Long-term access keys are not affected: aws:TokenIssueTime exists only "
                       "for temporary credentials. Suspend the user to deactivate its keys.")

DENY_ALL = {"Version": "2012-10-17", "Statement": [
    {"Sid": "TrailWatchSuspend", "Effect": "Deny", "Action": "*", "Resource": "*"}]}

PRINCIPAL_READ = (
    "sts:GetCallerIdentity",
    "iam:GetUser",
    "iam:GetRole",
    "iam:ListUserTags",
    "iam:ListRoleTags",
    "iam:GetUserPolicy",
    "iam:GetRolePolicy",
)
POLICY_WRITE = (
    "iam:PutUserPolicy",
    "iam:DeleteUserPolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
)


def resolve_principal(row, options):
    """Target of kind user, role or session from the row's ARN, user or role field."""
    arn = (row.get(options.get("user_arn_field") or "user_arn") or "").strip()
    user = (row.get(options.get("iam_user_field") or "iam_user") or "").strip()
    role = (row.get(options.get("role_name_field") or "role_name") or "").strip()
    account = (row.get(options.get("account_id_field") or "aws_account_id") or "").strip() or None
    user_type = (row.get("user_type") or "").strip()
    if arn:
        parsed = parse_arn(arn)
        if not parsed:
            raise TargetError("%r is not an IAM or STS principal ARN." % arn)
        partition, _service, arn_account, resource = parsed
        if resource == "root":
            return Target("user", "root", arn_account, arn, partition, {"user_type": "Root"})
        kind, _, rest = resource.partition("/")
        if kind == "user":
            return Target("user", rest.split("/")[-1], arn_account, arn, partition)
        if kind == "role":
            name = rest.split("/")[-1]
            return Target("role", name, arn_account, arn, partition,
                          {"role_name": name, "role_arn": arn})
        if kind == "assumed-role" and "/" in rest:
            role_name, session = rest.split("/", 1)
            role_arn = "arn:%s:iam::%s:role/%s" % (partition, arn_account, role_name)
            return Target("session", session, arn_account, arn, partition,
                          {"role_name": role_name, "session_name": session, "role_arn": role_arn})
        raise TargetError("%s is not a user, role or assumed-role session." % arn)
    if user_type.lower() == "root":
        return Target("user", "root", account, None, "aws", {"user_type": "Root"})
    if user:
        return Target("user", user, account)
    if role:
        return Target("role", role, account, extra={"role_name": role})
    raise TargetError("The alert row names no principal: fields '%s', '%s' and '%s' are empty."
                      % (options.get("user_arn_field") or "user_arn",
                         options.get("iam_user_field") or "iam_user",
                         options.get("role_name_field") or "role_name"))


def read_principal(ctx, target):
    """(tags, role path) of a user, role or session's role, read from IAM. Sets what the alert
    row may not say right: a user's real ARN (with its IAM path, which the row's user name
    lacks), a role's ARN and id."""
    iam = ctx.client("iam")
    operation = "GetUser" if target.kind == "user" else "GetRole"
    try:
        if target.kind == "user":
            user = iam.get_user(UserName=target.name)["User"]
            target.arn = user["Arn"]
            operation = "ListUserTags"
            found = iam.list_user_tags(UserName=target.name)["Tags"]
            return {t["Key"]: t["Value"] for t in found}, None
        role_name = target.extra["role_name"]
        role = iam.get_role(RoleName=role_name)["Role"]
        target.extra["role_id"] = role["RoleId"]
        target.extra["role_arn"] = role["Arn"]
        if target.kind == "role":
            target.arn = role["Arn"]
        operation = "ListRoleTags"
        found = iam.list_role_tags(RoleName=role_name)["Tags"]
        return {t["Key"]: t["Value"] for t in found}, role.get("Path")
    except Exception as exc:
        raise describe_exception(exc, "iam", operation, target)


def guard_principal(ctx, target, protections):
    """Refuse protected principals: cheap checks first, then again with the ARN, tags and
    role path read from IAM."""
    reason = principal_protection(protections, target, ctx.identity)
    if reason:
        raise Protected(reason)
    tags, path = read_principal(ctx, target)
    reason = principal_protection(protections, target, ctx.identity, tags, path)
    if reason:
        raise Protected(reason)


def _inline_policy(ctx, target, policy_name, on_role):
    iam = ctx.client("iam")
    try:
        if on_role:
            found = iam.get_role_policy(RoleName=target.extra["role_name"], PolicyName=policy_name)
        else:
            found = iam.get_user_policy(UserName=target.name, PolicyName=policy_name)
    except Exception as exc:
        if client_error_code(exc) == "NoSuchEntity":
            return None
        raise describe_exception(exc, "iam", "GetRolePolicy" if on_role else "GetUserPolicy", target)
    return parse_policy(found["PolicyDocument"])


def _put_policy(target, policy_name, document, on_role, description):
    if on_role:
        params = {"RoleName": target.extra["role_name"], "PolicyName": policy_name,
                  "PolicyDocument": json.dumps(document)}
        return Step("iam", "PutRolePolicy", params, description)
    params = {"UserName": target.name, "PolicyName": policy_name, "PolicyDocument": json.dumps(document)}
    return Step("iam", "PutUserPolicy", params, description)


def _delete_policy(target, policy_name, on_role, description):
    if on_role:
        return Step("iam", "DeleteRolePolicy",
                    {"RoleName": target.extra["role_name"], "PolicyName": policy_name}, description)
    return Step("iam", "DeleteUserPolicy", {"UserName": target.name, "PolicyName": policy_name},
                description)


def _restore_policy(current, snapshot, target, policy_name, on_role):
    if same_policy(current, snapshot):
        return []
    if snapshot is None:
        return [_delete_policy(target, policy_name, on_role,
                               "delete inline policy %s (it did not exist before)" % policy_name)]
    return [_put_policy(target, policy_name, snapshot, on_role,
                        "put back inline policy %s as it was" % policy_name)]


class PrincipalAction(Action):
    options = ("user_arn_field", "iam_user_field", "role_name_field")

    def resolve(self, row, options):
        return resolve_principal(row, options)

    def protection(self, ctx, target, protections):
        guard_principal(ctx, target, protections)


# --------------------------------------------------------------------------- suspend
def session_policy_name(target):
    digest = hashlib.sha256(target.extra["session_name"].encode("utf-8")).hexdigest()[:16]
    return SESSION_POLICY_PREFIX + digest


def session_deny_policy(target):
    principal_id = "%s:%s" % (target.extra["role_id"], target.extra["session_name"])
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "TrailWatchSuspendSession", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:userid": principal_id}}}]}


class SuspendUser(PrincipalAction):
    name = "trailwatch_suspend_user"
    label = "Suspend AWS user"
    permissions = PRINCIPAL_READ + POLICY_WRITE + ("iam:ListAccessKeys", "iam:UpdateAccessKey")

    def resolve(self, row, options):
        target = resolve_principal(row, options)
        if target.kind == "role":
            raise TargetError(
                "Suspend acts on an IAM user or on one assumed-role session, not on a whole role "
                "(%s): give the session's ARN, or use 'Require AWS user to sign in again' on "
                "the role." % target.label)
        return target

    def _policy_name(self, target):
        return SUSPEND_POLICY if target.kind == "user" else session_policy_name(target)

    def read_state(self, ctx, target):
        on_role = target.kind == "session"
        state = {"policy_name": self._policy_name(target),
                 "policy": _inline_policy(ctx, target, self._policy_name(target), on_role)}
        if target.kind == "user":
            try:
                keys = ctx.client("iam").list_access_keys(UserName=target.name)["AccessKeyMetadata"]
            except Exception as exc:
                raise describe_exception(exc, "iam", "ListAccessKeys", target)
            state["keys"] = {k["AccessKeyId"]: k["Status"] for k in keys}
        return state

    def desired(self, state, target, request):
        if target.kind == "user":
            keys = {key: "Inactive" for key in state["keys"]}
            notes = ["deactivate access key %s" % k for k, s in sorted(state["keys"].items()) if s == "Active"]
            return {"policy_name": SUSPEND_POLICY, "policy": DENY_ALL, "keys": keys, "notes": notes}
        return {"policy_name": state["policy_name"], "policy": session_deny_policy(target),
                "notes": ["deny session %s:%s" % (target.extra["role_id"], target.extra["session_name"])]}

    def plan(self, state, desired, target):
        on_role = target.kind == "session"
        steps = []
        if not same_policy(state["policy"], desired["policy"]):
            what = ("deny everything to user %s" % target.name if not on_role else
                    "deny everything to session %s of role %s" % (
                        target.extra["session_name"], target.extra["role_name"]))
            steps.append(_put_policy(target, desired["policy_name"], desired["policy"], on_role,
                                     "put inline policy %s (%s)" % (desired["policy_name"], what)))
        for key, status in sorted((state.get("keys") or {}).items()):
            if status == "Active":
                steps.append(Step("iam", "UpdateAccessKey",
                                  {"UserName": target.name, "AccessKeyId": key, "Status": "Inactive"},
                                  "deactivate access key %s" % key))
        return steps

    def differences(self, actual, wanted):
        problems = []
        if not same_policy(actual["policy"], wanted["policy"]):
            problems.append("inline policy %s is not as expected" % wanted["policy_name"])
        for key, status in (wanted.get("keys") or {}).items():
            if (actual.get("keys") or {}).get(key) != status:
                problems.append("access key %s is %s, expected %s"
                                % (key, (actual.get("keys") or {}).get(key, "missing"), status))
        return problems

    def reverse(self, current, before, after, partial):
        wanted, drift = dict(current), []
        wanted["policy"], moved = revert("inline policy %s" % before["policy_name"], current["policy"],
                                         before["policy"], after["policy"], same_policy, partial)
        drift.extend([moved] if moved else [])
        if "keys" in before:
            was, left, now = before["keys"], after.get("keys") or {}, current.get("keys") or {}
            wanted["keys"] = {}
            for key, status in sorted(now.items()):
                wanted["keys"][key], moved = revert("access key %s" % key, status, was.get(key),
                                                    left.get(key), _equal, partial)
                drift.extend([moved] if moved else [])
            drift.extend("access key %s was deleted after the action" % key
                         for key in sorted(was) if key not in now and was[key] != left.get(key))
        return wanted, drift

    def undo_plan(self, current, wanted, target):
        on_role = target.kind == "session"
        steps = _restore_policy(current["policy"], wanted["policy"], target,
                                current["policy_name"], on_role)
        for key, status in sorted((wanted.get("keys") or {}).items()):
            if status == "Active" and (current.get("keys") or {}).get(key) == "Inactive":
                steps.append(Step("iam", "UpdateAccessKey",
                                  {"UserName": target.name, "AccessKeyId": key, "Status": "Active"},
                                  "re-activate access key %s (it was active before)" % key))
        return steps

    def rollback_text(self, target, snapshot):
        if target.kind == "user":
            active = sorted(k for k, s in snapshot.get("keys", {}).items() if s == "Active")
            return ("Undo (| trailwatchundo action_id=<action_id>) deletes inline policy %s of "
                    "user %s and re-activates access keys %s." % (
                        SUSPEND_POLICY, target.name, ", ".join(active) or "(none were active)"))
        return ("Undo (| trailwatchundo action_id=<action_id>) deletes inline policy %s of role %s."
                % (snapshot["policy_name"], target.extra.get("role_name")))


# --------------------------------------------------------------------------- revoke sessions
def revoke_policy(cutoff):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": _iso(cutoff)}}}]}


def parse_time(text):
    """An aware datetime from ISO 8601 text or epoch seconds; None when unparseable."""
    text = str(text or "").strip()
    if not text:
        return None
    try:
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    except ValueError:
        pass
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, _, tail = text.partition(".")
        zone = tail[next((i for i, c in enumerate(tail) if c in "+-"), len(tail)):]
        text = head + zone
    try:
        moment = datetime.datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _equal(left, right):
    return left == right


def revocation_cutoff(policy):
    for statement in (policy or {}).get("Statement") or []:
        value = ((statement.get("Condition") or {}).get("DateLessThan") or {}).get("aws:TokenIssueTime")
        if value:
            return parse_time(value)
    return None


class RevokeSessions(PrincipalAction):
    name = "trailwatch_revoke_sessions"
    label = "Require AWS user to sign in again"
    options = PrincipalAction.options + ("require_password_reset",)
    permissions = PRINCIPAL_READ + POLICY_WRITE + ("iam:GetLoginProfile", "iam:UpdateLoginProfile")

    def resolve(self, row, options):
        target = resolve_principal(row, options)
        target.extra["not_before"] = (row.get("last_seen") or "").strip()
        return target

    def read_state(self, ctx, target):
        on_role = target.kind != "user"
        state = {"policy": _inline_policy(ctx, target, REVOKE_POLICY, on_role)}
        if not on_role:
            try:
                profile = ctx.client("iam").get_login_profile(UserName=target.name)["LoginProfile"]
                state["login_profile"] = {"exists": True,
                                          "reset_required": bool(profile.get("PasswordResetRequired"))}
            except Exception as exc:
                if client_error_code(exc) != "NoSuchEntity":
                    raise describe_exception(exc, "iam", "GetLoginProfile", target)
                state["login_profile"] = {"exists": False, "reset_required": False}
        return state

    def desired(self, state, target, request):
        now, options = request.now, request.options
        existing = revocation_cutoff(state["policy"])
        needed = parse_time(target.extra.get("not_before"))
        fresh = existing is not None and (
            existing >= needed if needed is not None else now - existing < REVOKE_FRESH)
        wanted = {"policy": state["policy"] if fresh else revoke_policy(now), "notes": [LONG_TERM_KEYS_NOTE]}
        if fresh:
            wanted["notes"].append("sessions issued before %s are already revoked" % _iso(existing))
        if "login_profile" in state:
            profile = dict(state["login_profile"])
            if profile["exists"] and truthy(options.get("require_password_reset", "1")):
                profile["reset_required"] = True
            wanted["login_profile"] = profile
        return wanted

    def plan(self, state, desired, target):
        on_role = target.kind != "user"
        steps = []
        if not same_policy(state["policy"], desired["policy"]):
            cutoff = _iso(revocation_cutoff(desired["policy"]))
            where = "role %s" % target.extra["role_name"] if on_role else "user %s" % target.name
            steps.append(_put_policy(target, REVOKE_POLICY, desired["policy"], on_role,
                                     "put inline policy %s on %s (deny credentials issued before %s)"
                                     % (REVOKE_POLICY, where, cutoff)))
        before = state.get("login_profile") or {}
        after = desired.get("login_profile") or {}
        if after.get("reset_required") and not before.get("reset_required"):
            steps.append(Step("iam", "UpdateLoginProfile",
                              {"UserName": target.name, "PasswordResetRequired": True},
                              "require user %s to set a new console password at next sign-in" % target.name))
        return steps

    def differences(self, actual, wanted):
        problems = []
        if not same_policy(actual["policy"], wanted["policy"]):
            problems.append("inline policy %s is not as expected" % REVOKE_POLICY)
        if "login_profile" in wanted and actual.get("login_profile") != wanted["login_profile"]:
            problems.append("console login profile is %s, expected %s"
                            % (json.dumps(actual.get("login_profile")), json.dumps(wanted["login_profile"])))
        return problems

    def reverse(self, current, before, after, partial):
        wanted, drift = dict(current), []
        wanted["policy"], moved = revert("inline policy %s" % REVOKE_POLICY, current["policy"],
                                         before["policy"], after["policy"], same_policy, partial)
        drift.extend([moved] if moved else [])
        if "login_profile" in before:
            wanted["login_profile"], moved = revert(
                "the console login profile", current.get("login_profile"),
                before["login_profile"], after.get("login_profile"), _equal, partial)
            drift.extend([moved] if moved else [])
        return wanted, drift

    def undo_plan(self, current, wanted, target):
        on_role = target.kind != "user"
        steps = _restore_policy(current["policy"], wanted["policy"], target, REVOKE_POLICY, on_role)
        before = wanted.get("login_profile") or {}
        now = current.get("login_profile") or {}
        if before.get("exists") and now.get("exists") and not before.get("reset_required") \
                and now.get("reset_required"):
            steps.append(Step("iam", "UpdateLoginProfile",
                              {"UserName": target.name, "PasswordResetRequired": False},
                              "no longer require a new console password for user %s" % target.name))
        return steps

    def extra_result(self, state, wanted, target):
        return {"note": LONG_TERM_KEYS_NOTE}

    def rollback_text(self, target, snapshot):
        return ("Undo (| trailwatchundo action_id=<action_id>) removes inline policy %s (or puts "
                "back the earlier one) and lifts the password-reset requirement it set. Sessions "
                "that were rejected meanwhile must sign in again." % REVOKE_POLICY)
