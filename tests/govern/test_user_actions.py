"""Suspend AWS user and Require AWS user to sign in again, run as Splunk runs them (built
alert scripts, JSON payload, gzipped results) against moto and the splunkd double, undone
with the built trailwatchundo command."""
import datetime
import json

import twgovern_support as support

SUSPEND = "trailwatch_suspend_user"
REVOKE = "trailwatch_revoke_sessions"
ACCOUNT = support.ACCOUNT_ID


def run(action, installed_app, splunkd, moto_endpoint, tmp_path, rows, **config):
    config.setdefault("dry_run", "0")
    return support.run_alert(installed_app, action, rows, config, splunkd, moto_endpoint.url, tmp_path)


def user_row(name, **extra):
    row = {"policy_id": "A03", "policy": "Activity from a terminated user", "severity": "high",
           "user": name, "user_arn": "arn:aws:iam::%s:user/%s" % (ACCOUNT, name), "user_type": "IAMUser",
           "aws_account_id": ACCOUNT, "iam_user": name, "src_ip": "203.0.113.9"}
    row.update(extra)
    return row


def make_user(iam, name, keys=("Active", "Inactive"), tags=()):
    iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tags])
    ids = []
    for status in keys:
        key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        if status != "Active":
            iam.update_access_key(UserName=name, AccessKeyId=key, Status=status)
        ids.append(key)
    return ids


def user_state(iam, name):
    policies = {}
    for policy_name in iam.list_user_policies(UserName=name)["PolicyNames"]:
        policies[policy_name] = iam.get_user_policy(UserName=name, PolicyName=policy_name)["PolicyDocument"]
    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
    return {"policies": policies, "keys": keys}


def role_policies(iam, role):
    return {n: iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=role)["PolicyNames"]}


def make_role(iam, name, path="/"):
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT}}]}
    return iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))["Role"]


def assert_ok(proc):
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]


# --------------------------------------------------------------------------- suspend
def test_suspend_user_denies_all_and_deactivates_active_keys(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("eve")
    active, inactive = make_user(iam, name)
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)])
    assert_ok(proc)
    state = user_state(iam, name)
    assert state["keys"] == {active: "Inactive", inactive: "Inactive"}
    assert state["policies"]["TrailWatchSuspend"]["Statement"][0] == {
        "Sid": "TrailWatchSuspend", "Effect": "Deny", "Action": "*", "Resource": "*"}
    (event,) = events
    assert event["outcome"] == "success" and event["target"] == "arn:aws:iam::%s:user/%s" % (ACCOUNT, name)
    assert event["before"]["keys"] == {active: "Active", inactive: "Inactive"}
    assert [p["operation"] for p in event["plan"]] == ["PutUserPolicy", "UpdateAccessKey"]
    assert active in event["rollback"] and inactive not in event["rollback"]
    assert event["alert_policy"] == "Activity from a terminated user"
    assert splunkd.records()[event["action_id"]]["status"] == "done"


def test_suspend_dry_run_and_second_run(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("mallory")
    make_user(iam, name, keys=("Active", "Active"))
    before = user_state(iam, name)
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)], dry_run="1")
    assert_ok(proc)
    assert user_state(iam, name) == before
    assert events[0]["outcome"] == "dry_run" and len(events[0]["plan"]) == 3
    assert_ok(run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)])[0])
    suspended = user_state(iam, name)
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)])
    assert_ok(proc)
    assert events[0]["outcome"] == "no_change" and user_state(iam, name) == suspended


def test_suspend_refuses_protected_principals(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    if support.PROTECTED_USER not in [u["UserName"] for u in iam.list_users()["Users"]]:
        make_user(iam, support.PROTECTED_USER)
    exempt = unique("exempt")
    make_user(iam, exempt, tags=[("trailwatch-governance", "exempt")])
    sso = "AWSReservedSSO_Admin_%s" % unique("x")[-8:]
    make_role(iam, sso, path="/aws-reserved/sso.amazonaws.com/")
    breakglass = unique("BreakGlass")
    make_role(iam, breakglass)
    watched = {support.PROTECTED_USER: user_state(iam, support.PROTECTED_USER), exempt: user_state(iam, exempt)}
    rows = [
        user_row(support.PROTECTED_USER),
        user_row(exempt),
        {"user_arn": "arn:aws:iam::%s:root" % ACCOUNT, "user_type": "Root", "aws_account_id": ACCOUNT},
        user_row("moto"),  # moto's identity for the stored account's keys: the add-on itself
        user_row("outsider", user_arn="arn:aws:iam::444455556666:user/outsider", aws_account_id="444455556666"),
        {"user_arn": "arn:aws:sts::%s:assumed-role/%s/alice@example.com" % (ACCOUNT, sso), "aws_account_id": ACCOUNT},
        {"user_arn": "arn:aws:sts::%s:assumed-role/%s/oncall" % (ACCOUNT, breakglass), "aws_account_id": ACCOUNT},
    ]
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, rows, account="prod")
    assert_ok(proc)
    assert [e["outcome"] for e in events] == ["skipped_protected"] * len(rows), [e["reason"] for e in events]
    reasons = [e["reason"] for e in events]
    assert "payment service account" in reasons[0]
    assert "trailwatch-governance=exempt" in reasons[1]
    assert "root user" in reasons[2]
    assert "own AWS identity" in reasons[3]
    assert "444455556666" in reasons[4]
    assert "Identity Center" in reasons[5]
    assert "break-glass" in reasons[6]
    assert {n: user_state(iam, n) for n in watched} == watched
    assert role_policies(iam, sso) == {} and role_policies(iam, breakglass) == {}
    assert splunkd.records() == {}


def test_suspend_fails_safe_when_the_protected_lists_cannot_be_read(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    """The protected lists live in the KV store: when splunkd cannot serve them, no target
    is acted on (it might be protected) and the failure is audited."""
    name = unique("oscar")
    make_user(iam, name)
    before = user_state(iam, name)
    splunkd.fail(r"/storage/collections/data/trailwatch_protected_principals$", status=503, times=None)
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)])
    assert proc.returncode == 2
    assert events[0]["outcome"] == "failure", events
    assert "protected lists could not be read" in events[0]["reason"]
    assert "trailwatch_protected_principals (HTTP 503)" in events[0]["reason"]
    assert user_state(iam, name) == before


def test_suspend_unknown_user_is_a_failure_with_the_aws_code(installed_app, splunkd, moto_endpoint, tmp_path, unique):
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(unique("ghost"))])
    assert proc.returncode == 2
    assert events[0]["outcome"] == "failure" and events[0]["error_code"] == "NoSuchEntity"
    assert "does not exist" in events[0]["reason"]


def test_suspend_undo_restores_policy_and_exactly_the_active_keys(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("trent")
    make_user(iam, name, keys=("Active", "Inactive"))
    before = user_state(iam, name)
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)])
    assert_ok(proc)
    _, rows, errors, stderr, undo_events = support.run_undo(
        installed_app, {"action_id": events[0]["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    assert user_state(iam, name) == before
    assert [p["operation"] for p in json.loads(rows[0]["plan"])] == ["DeleteUserPolicy", "UpdateAccessKey"]
    assert undo_events[0]["action"] == "undo:" + SUSPEND


def test_suspend_one_assumed_role_session_and_undo(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    role = unique("DataPipeline")
    role_id = make_role(iam, role)["RoleId"]
    row = {"user_arn": "arn:aws:sts::%s:assumed-role/%s/attacker-session" % (ACCOUNT, role),
           "aws_account_id": ACCOUNT, "user_type": "AssumedRole"}
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [row])
    assert_ok(proc)
    (policy_name, document), = role_policies(iam, role).items()
    assert policy_name.startswith("TrailWatchSuspendSession-")
    assert document["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:userid": "%s:attacker-session" % role_id}}
    assert events[0]["outcome"] == "success"
    _, rows, errors, stderr, _ = support.run_undo(
        installed_app, {"action_id": events[0]["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    assert role_policies(iam, role) == {}


# --------------------------------------------------------------------------- revoke sessions
def revoke_cutoff(document):
    value = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def test_revoke_sessions_of_a_user_then_no_change_then_undo(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("dave")
    make_user(iam, name, keys=("Active",))
    before = user_state(iam, name)
    last_seen = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    row = user_row(name, last_seen=last_seen)

    proc, events = run(REVOKE, installed_app, splunkd, moto_endpoint, tmp_path, [row], dry_run="1")
    assert_ok(proc)
    assert events[0]["outcome"] == "dry_run" and user_state(iam, name) == before

    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    proc, events = run(REVOKE, installed_app, splunkd, moto_endpoint, tmp_path, [row])
    assert_ok(proc)
    document = user_state(iam, name)["policies"]["AWSRevokeOlderSessions"]
    assert document["Statement"][0]["Effect"] == "Deny"
    assert started <= revoke_cutoff(document) <= started + datetime.timedelta(minutes=2)
    assert user_state(iam, name)["keys"] == before["keys"]  # long-term keys untouched
    (event,) = events
    assert event["outcome"] == "success" and "Long-term access keys are not affected" in event["note"]
    assert [p["operation"] for p in event["plan"]] == ["PutUserPolicy"]  # no console password

    proc, events = run(REVOKE, installed_app, splunkd, moto_endpoint, tmp_path, [row])
    assert events[0]["outcome"] == "no_change"
    assert user_state(iam, name)["policies"]["AWSRevokeOlderSessions"] == document

    _, rows, errors, stderr, _ = support.run_undo(
        installed_app, {"action_id": event["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    assert user_state(iam, name) == before


def test_revoke_plans_a_password_reset_for_console_users(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    # Dry run only: moto's UpdateLoginProfile without a password deletes the profile (a moto
    # bug), so the console step's effect is verified by the unit tests of the plan.
    name = unique("carol")
    make_user(iam, name, keys=())
    iam.create_login_profile(UserName=name, Password="Initial-Passw0rd!")
    proc, events = run(REVOKE, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)], dry_run="1")
    assert_ok(proc)
    plan = events[0]["plan"]
    assert [p["operation"] for p in plan] == ["PutUserPolicy", "UpdateLoginProfile"]
    assert plan[1]["params"] == {"UserName": name, "PasswordResetRequired": True}
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    proc, events = run(REVOKE, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)],
                       dry_run="1", require_password_reset="0")
    assert [p["operation"] for p in events[0]["plan"]] == ["PutUserPolicy"]


def test_revoke_on_a_role_protected_and_missing(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    role = unique("ci-deployer")
    make_role(iam, role)
    rows = [
        {"role_name": role, "aws_account_id": ACCOUNT},
        {"user_arn": "arn:aws:iam::%s:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS" % ACCOUNT,
         "aws_account_id": ACCOUNT},
        {"role_name": unique("gone"), "aws_account_id": ACCOUNT},
    ]
    proc, events = run(REVOKE, installed_app, splunkd, moto_endpoint, tmp_path, rows)
    assert proc.returncode == 2
    assert [e["outcome"] for e in events] == ["success", "skipped_protected", "failure"]
    assert "AWSRevokeOlderSessions" in role_policies(iam, role)
    assert events[2]["error_code"] == "NoSuchEntity"


# --------------------------------------------------------------------------- protections, record integrity
def test_protected_user_named_without_its_path_or_in_another_case(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    # The lookup protects arn:...:user/tw-admins/tw-path-admin (its ARN, with its IAM path);
    # the shipped lookup protects *break-glass* users.
    admin = support.PATH_PROTECTED_USER
    if admin not in [u["UserName"] for u in iam.list_users()["Users"]]:
        iam.create_user(UserName=admin, Path=support.ADMIN_PATH)
        iam.create_access_key(UserName=admin)
    glass = "Break-Glass-Admin-%s" % unique("x")[-8:]
    make_user(iam, glass, keys=("Active",))
    watched = {admin: user_state(iam, admin), glass: user_state(iam, glass)}
    rows = [{"iam_user": admin, "aws_account_id": ACCOUNT},  # a user name only
            user_row(admin),                                 # an ARN without the path
            user_row(glass)]
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, rows)
    assert_ok(proc)
    assert [e["outcome"] for e in events] == ["skipped_protected"] * 3, [e["reason"] for e in events]
    assert "administrator (protected by its ARN" in events[0]["reason"]
    assert events[0]["target"] == "arn:aws:iam::%s:user%s%s" % (ACCOUNT, support.ADMIN_PATH, admin)
    assert "administrator" in events[1]["reason"] and "break-glass" in events[2]["reason"]
    assert {n: user_state(iam, n) for n in watched} == watched
    assert splunkd.records() == {}


def kv_overwrite(splunkd, doc):
    """Rewrite one governance record through splunkd's KV store REST API, as anyone allowed to
    write the collection could."""
    from splunklib import binding

    from trailwatch.splunk.config import parse_server_uri

    scheme, host, port = parse_server_uri(splunkd.uri)
    context = binding.Context(token=splunkd.session_key, scheme=scheme, host=host, port=port,
                              owner="nobody", app="TA-trailwatch")
    context.post("storage/collections/data/%s/%s" % (support.COLLECTION, doc["_key"]),
                 body=json.dumps(doc), headers=[("Content-Type", "application/json")])


def test_undo_of_a_tampered_record_is_refused(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    victim = unique("ivan")
    make_user(iam, victim, keys=("Active",))
    if support.PROTECTED_USER not in [u["UserName"] for u in iam.list_users()["Users"]]:
        make_user(iam, support.PROTECTED_USER)
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(victim)])
    assert_ok(proc)
    action_id = events[0]["action_id"]
    genuine = splunkd.records()[action_id]
    assert genuine["seal"].startswith("hmac-sha256:")
    suspended, protected = user_state(iam, victim), user_state(iam, support.PROTECTED_USER)

    # The attack: the record's target becomes a protected user and its snapshot an inline
    # policy allowing everything, for undo to "put back".
    forged = dict(genuine)
    target = json.loads(genuine["target"])
    target.update(name=support.PROTECTED_USER, arn="arn:aws:iam::%s:user/%s" % (ACCOUNT, support.PROTECTED_USER))
    snapshot = json.loads(genuine["snapshot"])
    snapshot.update(policy={"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                    keys={})
    forged.update(target=json.dumps(target), snapshot=json.dumps(snapshot))
    unsealed = {k: v for k, v in genuine.items() if k != "seal"}
    for doc, why in ((forged, "does not match its integrity seal"), (unsealed, "has no integrity seal")):
        kv_overwrite(splunkd, doc)
        _, rows, errors, stderr, audit = support.run_undo(
            installed_app, {"action_id": action_id, "force": "true"}, splunkd, moto_endpoint.url, tmp_path)
        assert (rows[0]["outcome"], rows[0]["error_code"]) == ("failure", "RecordTampered"), (rows, errors, stderr)
        assert why in rows[0]["reason"] and "nothing was changed in AWS" in rows[0]["reason"]
        assert audit[0]["outcome"] == "failure"
        assert user_state(iam, support.PROTECTED_USER) == protected
        assert user_state(iam, victim) == suspended

    # The seal key is in Splunk's credential store only: not in records, events or logs.
    (key,) = [p["clear_password"] for p in splunkd.passwords()
              if (p["realm"], p["username"]) == ("trailwatch_governance", "record_seal_key")]
    assert len(key) == 64
    assert key not in json.dumps(splunkd.kv_records(support.COLLECTION))
    assert key not in json.dumps(splunkd.audit_events()) + support.modalert_log(tmp_path, SUSPEND)

    # Nothing was lost: the genuine record, put back, still undoes the suspension.
    kv_overwrite(splunkd, genuine)
    _, rows, errors, stderr, _ = support.run_undo(
        installed_app, {"action_id": action_id}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    assert user_state(iam, victim)["policies"] == {}
    assert set(user_state(iam, victim)["keys"].values()) == {"Active"}


def test_undo_checks_protections_again(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("judy")
    make_user(iam, name, keys=("Active",))
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)])
    assert_ok(proc)
    # Since the suspension, the administrators exempted the user from TrailWatch.
    iam.tag_user(UserName=name, Tags=[{"Key": "trailwatch-governance", "Value": "exempt"}])
    suspended = user_state(iam, name)
    _, rows, errors, stderr, audit = support.run_undo(
        installed_app, {"action_id": events[0]["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "skipped_protected", (rows, errors, stderr)
    assert "trailwatch-governance=exempt" in rows[0]["reason"]
    assert user_state(iam, name) == suspended
    assert splunkd.records()[events[0]["action_id"]]["status"] == "done"


def test_suspend_undo_refuses_a_hand_edited_policy_unless_forced(installed_app, splunkd, moto_endpoint, iam, unique, tmp_path):
    name = unique("oscar")
    (key,) = make_user(iam, name, keys=("Active",))
    proc, events = run(SUSPEND, installed_app, splunkd, moto_endpoint, tmp_path, [user_row(name)])
    assert_ok(proc)
    # An administrator narrows TrailWatch's deny-all policy by hand.
    narrowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="TrailWatchSuspend", PolicyDocument=json.dumps(narrowed))
    by_hand = user_state(iam, name)
    _, rows, errors, stderr, _ = support.run_undo(
        installed_app, {"action_id": events[0]["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
    assert (rows[0]["outcome"], rows[0]["error_code"]) == ("failure", "Drifted"), (rows, errors, stderr)
    assert "inline policy TrailWatchSuspend changed after the action" in rows[0]["reason"]
    assert user_state(iam, name) == by_hand
    _, rows, errors, stderr, _ = support.run_undo(
        installed_app, {"action_id": events[0]["action_id"], "force": "true"}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    # Forced: the key it deactivated is active again; the administrator's policy is kept.
    assert user_state(iam, name) == {"policies": {"TrailWatchSuspend": narrowed}, "keys": {key: "Active"}}
