"""The governance actions attached to the demo's public-bucket and spraying detections, run as
Splunk runs alert actions (the built `bin/<action>.py --execute`, results in a gzipped CSV,
the JSON payload on stdin, splunkd answered by the double) against moto: first in dry run,
then for real; the AWS state is read back to check the change, then one action is undone
with the built `trailwatchundo` command and the state checked to be as before.

The prod account's part of the organisation that the actions touch is created in moto first:
its people (console passwords, access keys), the intruder's `backup-svc` user and the
buckets, `prod-customer-exports` exposed as the story's attacker left it (no Block Public
Access, a policy letting Principal * read, a READ grant to AllUsers).
"""
import collections
import json

from splunk_runner.alert_action import run_alert, run_undo
from trailwatch_demo import story as demo_story
from trailwatch_demo.deliver import aws_client

# What an admin attached to each detection (Edit alert > Trigger actions), with parameters.
# Spraying: every sprayed user must sign in again. Password reset is left off because moto
# deletes the login profile on UpdateLoginProfile without a password (AWS keeps it).
ATTACHED = {
    "C01": [("trailwatch_make_bucket_private", {})],
    "A01": [("trailwatch_revoke_sessions", {"require_password_reset": "0"})],
    "B06": [("trailwatch_revoke_sessions", {"require_password_reset": "0"})],
}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
REVOKE_POLICY = "AWSRevokeOlderSessions"


def build_organisation(moto_url, story):
    """The prod account's users and buckets in moto (moto runs as that account)."""
    iam = aws_client("iam", moto_url)
    s3 = aws_client("s3", moto_url)
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    for person in demo_story.PEOPLE[demo_story.PROD]:
        name = person["user"]
        iam.create_user(UserName=name, Tags=[{"Key": "email", "Value": name + "@example.com"}])
        if person["console"]:
            iam.create_login_profile(UserName=name, Password="Demo-Passw0rd-%s!" % name)
        if person["admin"]:
            iam.attach_user_policy(UserName=name, PolicyArn=admin)
            device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
            iam.enable_mfa_device(UserName=name, SerialNumber=device["VirtualMFADevice"][
                "SerialNumber"], AuthenticationCode1="123456", AuthenticationCode2="654321")
        iam.create_access_key(UserName=name)
    iam.create_user(UserName="backup-svc")  # the intruder's, as the story's attack left it
    iam.attach_user_policy(UserName="backup-svc", PolicyArn=admin)
    iam.create_access_key(UserName="backup-svc")
    for bucket in story["buckets"][demo_story.PROD]:
        s3.create_bucket(Bucket=bucket)
    exposed = "prod-customer-exports"
    owner = s3.get_bucket_acl(Bucket=exposed)["Owner"]
    s3.put_bucket_acl(Bucket=exposed, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]})
    s3.put_bucket_policy(Bucket=exposed, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::%s/*" % exposed}]}))


def bucket_state(moto_url, bucket):
    s3 = aws_client("s3", moto_url)
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        block = None
    # Grants in a fixed order: ACL order carries no meaning (S3 may return them in any).
    grants = sorted(s3.get_bucket_acl(Bucket=bucket)["Grants"],
                    key=lambda g: json.dumps(g, sort_keys=True))
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except s3.exceptions.ClientError:
        policy = None
    return {"block": block, "grants": grants, "policy": policy}


def is_public(state):
    """Public by its ACL or policy, and no Block Public Access setting stopping it."""
    block = state["block"] or {}
    acl_public = any(g["Grantee"].get("URI") == ALL_USERS for g in state["grants"])
    policy_public = any(s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"})
                        for s in (state["policy"] or {}).get("Statement", []))
    return ((acl_public and not block.get("IgnorePublicAcls"))
            or (policy_public and not block.get("RestrictPublicBuckets")))


def user_state(moto_url, name):
    iam = aws_client("iam", moto_url)
    try:
        policies = sorted(iam.list_user_policies(UserName=name)["PolicyNames"])
    except iam.exceptions.NoSuchEntityException:
        return None
    keys = sorted(k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"])
    return {"inline_policies": policies, "access_keys": keys}


def aws_state(moto_url, buckets, users):
    return {"buckets": {b: bucket_state(moto_url, b) for b in buckets},
            "users": {u: user_state(moto_url, u) for u in users}}


def _csv_row(row):
    """A result row as splunkd writes it to results.csv.gz: a multivalue field's values one
    per line."""
    return {k: "\n".join(str(x) for x in v) if isinstance(v, list) else ("" if v is None else str(v))
            for k, v in row.items()}


def alert_runs(found):
    """[(search name, policy id, [rows])] of the detections with attached actions: one alert
    run per saved search, holding all its result rows (Splunk hands an action the whole
    result set of a run)."""
    runs = collections.OrderedDict()
    for name, row in found:
        if row.get("policy_id") in ATTACHED:
            runs.setdefault((name, row["policy_id"]), []).append(_csv_row(row))
    return [(name, policy, rows) for (name, policy), rows in runs.items()]


def run_actions(app_dir, splunkd, moto_url, work, runs, dry_run):
    """Every attached action on its alert run -> [audit event]. The script exits 2 when a row
    failed (its audit event says why); it raises here only when rows got no audit event."""
    audits = []
    for n, (search_name, policy, rows) in enumerate(runs):
        for action, params in ATTACHED[policy]:
            configuration = dict(params, account="prod", dry_run="1" if dry_run else "0")
            sid = "scheduler__nobody_VEEtdHJhaWx3YXRjaA__RMD5demo%02d_at_1718000000_%d" % (
                n, 2 * n + (0 if dry_run else 1))
            proc, events = run_alert(app_dir, action, rows, configuration, splunkd, moto_url,
                                     work, search_name=search_name, sid=sid)
            if proc.returncode not in (0, 2) or len(events) < len(rows):
                raise RuntimeError("%s on %s exited %d: %s" % (
                    action, search_name, proc.returncode,
                    proc.stderr.decode("utf-8", "replace")[-2000:]))
            audits.extend(events)
    return audits


def outcome_line(event):
    return {"action": event["action"], "policy": event.get("alert_policy_id", ""),
            "target": event["target"], "outcome": event["outcome"],
            "error_code": event.get("error_code", ""), "reason": event["reason"],
            "action_id": event.get("action_id", "")}


def govern(app_dir, splunkd, moto_url, work, found, story):
    """-> (summary dict, every audit event, problems). Problems (strings) make the step fail."""
    problems = []
    runs = alert_runs(found)
    buckets = sorted({r["bucket_name"] for _, p, rows in runs for r in rows
                      if p == "C01" and r.get("bucket_name")})
    users = sorted({r["iam_user"] for _, p, rows in runs for r in rows
                    if p != "C01" and r.get("iam_user")})
    if not buckets or not users:
        problems.append("no alert to act on (buckets %s, users %s)" % (buckets, users))
    existing = {u for u in users if user_state(moto_url, u) is not None}

    before = aws_state(moto_url, buckets, users)
    dry = run_actions(app_dir, splunkd, moto_url, work, runs, dry_run=True)
    after_dry = aws_state(moto_url, buckets, users)
    if after_dry != before:
        problems.append("the dry run changed AWS state")
    for event in dry:
        if event["outcome"] != "dry_run" and not _missing_user(event, existing):
            problems.append("dry run of %s on %s: %s (%s)" % (
                event["action"], event["target"], event["outcome"], event["reason"]))

    done = run_actions(app_dir, splunkd, moto_url, work, runs, dry_run=False)
    after = aws_state(moto_url, buckets, users)
    checks = {}
    for bucket in buckets:
        ok = is_public(before["buckets"][bucket]) and not is_public(after["buckets"][bucket])
        checks["bucket %s public -> private" % bucket] = ok
    for user in users:
        state = after["users"][user]
        if user in existing:
            checks["user %s must sign in again (%s)" % (user, REVOKE_POLICY)] = (
                REVOKE_POLICY in state["inline_policies"]
                and REVOKE_POLICY not in before["users"][user]["inline_policies"])
    for event in done:
        if _missing_user(event, existing):
            continue
        if event["outcome"] not in ("success", "no_change"):
            problems.append("%s on %s: %s (%s)" % (event["action"], event["target"],
                                                   event["outcome"], event["reason"]))
    problems.extend("AWS state not as expected: " + name for name, ok in checks.items() if not ok)

    undo = {}
    bucket_actions = [e for e in done if e["action"] == "trailwatch_make_bucket_private"
                      and e["outcome"] == "success"]
    if bucket_actions:
        undone = bucket_actions[0]
        target = undone["target"].replace("s3://", "")
        info, rows, errors, stderr, undo_events = run_undo(
            app_dir, {"action_id": undone["action_id"]}, splunkd, moto_url, work)
        restored = bucket_state(moto_url, target)
        undo = {"action_id": undone["action_id"], "action": undone["action"],
                "target": undone["target"],
                "outcome": rows[0]["outcome"] if rows else "no result: %s %s" % (errors, stderr[-500:]),
                "state_restored": restored == before["buckets"][target],
                "public_again": is_public(restored)}
        if undo["outcome"] != "success" or not undo["state_restored"]:
            undo["state_before"], undo["state_after_undo"] = before["buckets"][target], restored
            problems.append("undo of %s: %s, state restored: %s" % (
                undone["action_id"], undo["outcome"], undo["state_restored"]))
        done = done + undo_events
    else:
        problems.append("no successful bucket action to undo")

    summary = {
        "attached": {p: [a for a, _ in acts] for p, acts in ATTACHED.items()},
        "dry_run": [outcome_line(e) for e in dry],
        "dry_run_changed_aws": after_dry != before,
        "actions": [outcome_line(e) for e in done if not e["action"].startswith("undo:")],
        "aws_state_checks": checks,
        "undo": undo,
    }
    return summary, dry + done, problems


def _missing_user(event, existing):
    """A sprayed name that is no IAM user of the account (the sprayer guessed it): the action
    fails on it, as it should."""
    name = event["target"].rsplit("/", 1)[-1]
    return (event["action"] != "trailwatch_make_bucket_private" and name not in existing
            and event["outcome"] == "failure")
