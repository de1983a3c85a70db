"""The capability matrix of docs/roles.md, exercised: the built alert script and undo command
run with the session key of Splunk users holding the shipped roles, against the splunkd
double enforcing the roles and object permissions of the built add-on's authorize.conf and
metadata/default.meta (see splunkd_double/_authz.py for what splunkd enforces), and moto.

- an analyst cannot act for real, undo, or read the governance records;
- a responder (no admin capability) acts and undoes;
- a TrailWatch admin configures (stored credentials), which a responder cannot."""
import json
import os

import pytest
from splunklib import binding

import twgovern_support as support
from test_user_actions import make_user, user_row, user_state

SUSPEND = "trailwatch_suspend_user"


@pytest.fixture
def people(splunkd):
    """Users of each role, after a TrailWatch admin configured the add-on (saving an account
    prepares the governance record seal key, as the account handler does)."""
    from trailwatch.splunk.account_rest import prepare_governance

    keys = {role: splunkd.add_user(role.replace("trailwatch_", ""), [role])
            for role in ("trailwatch_analyst", "trailwatch_responder", "trailwatch_admin")}
    prepare_governance(keys["trailwatch_admin"], splunkd.uri)
    return keys


def rest(splunkd, session_key):
    return binding.Context(token=session_key, scheme="http", host=splunkd.host, port=splunkd.port,
                           owner="nobody", app=support.APP)


def current_context(splunkd, session_key):
    body = rest(splunkd, session_key).get("authentication/current-context", output_mode="json")
    return json.loads(body.body.read())["entry"][0]["content"]


def suspend(installed_app, splunkd, moto_endpoint, tmp_path, key, user, name):
    return support.run_alert(installed_app, SUSPEND, [user_row(name)], {"dry_run": "0"}, splunkd,
                             moto_endpoint.url, tmp_path, session_key=key, user=user)


def test_roles_as_splunkd_reports_them(splunkd, people):
    analyst = current_context(splunkd, people["trailwatch_analyst"])
    responder = current_context(splunkd, people["trailwatch_responder"])
    tw_admin = current_context(splunkd, people["trailwatch_admin"])
    assert analyst["roles"] == ["trailwatch_analyst"]
    assert not {"trailwatch_govern", "trailwatch_undo", "list_storage_passwords"} & set(analyst["capabilities"])
    assert {"trailwatch_govern", "trailwatch_undo", "list_storage_passwords", "edit_tcp"} <= set(responder["capabilities"])
    # A responder is not an admin: no admin_all_objects, cannot change stored credentials.
    assert not {"admin_all_objects", "edit_storage_passwords"} & set(responder["capabilities"])
    assert {"trailwatch_govern", "trailwatch_undo", "edit_storage_passwords"} <= set(tw_admin["capabilities"])
    assert "admin_all_objects" not in tw_admin["capabilities"]
    # Splunk's admin (and splunk-system-role, which runs scheduled alerts owned by nobody).
    assert {"trailwatch_govern", "trailwatch_undo"} <= splunkd.capabilities_of("admin")
    splunkd.add_user("scheduler", ["splunk-system-role"])
    assert {"trailwatch_govern", "trailwatch_undo"} <= splunkd.capabilities_of("scheduler")


def test_analyst_cannot_act_for_real(installed_app, splunkd, people, moto_endpoint, iam, unique, tmp_path):
    name = unique("eve")
    make_user(iam, name)
    before = user_state(iam, name)
    proc, events = suspend(installed_app, splunkd, moto_endpoint, tmp_path,
                           people["trailwatch_analyst"], "analyst", name)
    assert proc.returncode == 2
    assert user_state(iam, name) == before
    assert splunkd.records() == {}
    log = support.modalert_log(tmp_path, SUSPEND)
    assert "outcome=failure" in log
    assert "lacks the trailwatch_govern capability" in log and "trailwatch_responder role" in log
    # The refusal's audit event is attempted; splunkd refuses it to an analyst (no edit_tcp).
    assert events == []
    assert [r.status for r in splunkd.find_requests("POST", r"/receivers/simple$")] == [403]


def test_analyst_cannot_read_governance_records_or_undo(installed_app, splunkd, people, moto_endpoint,
                                                        iam, unique, tmp_path):
    name = unique("eve")
    make_user(iam, name)
    proc, (done,) = suspend(installed_app, splunkd, moto_endpoint, tmp_path,
                            people["trailwatch_responder"], "responder", name)
    assert proc.returncode == 0 and done["outcome"] == "success", done["reason"]
    path = "storage/collections/data/%s/%s" % (support.COLLECTION, done["action_id"])
    with pytest.raises(binding.HTTPError) as denied:
        rest(splunkd, people["trailwatch_analyst"]).get(path, output_mode="json")
    assert denied.value.status == 403
    assert rest(splunkd, people["trailwatch_responder"]).get(path, output_mode="json").status == 200

    for dry_run in ("true", "false"):
        _, rows, errors, stderr, _ = support.run_undo(
            installed_app, {"action_id": done["action_id"], "dry_run": dry_run}, splunkd,
            moto_endpoint.url, tmp_path, session_key=people["trailwatch_analyst"], user="analyst")
        (row,) = rows
        assert row["outcome"] == "failure" and row["error_code"] == "MissingCapability", (row, errors, stderr)
        assert "lacks the trailwatch_undo capability" in row["reason"]
        assert row["before"] == "null"  # nothing of the snapshot is shown
    assert user_state(iam, name)["policies"]  # still suspended
    assert splunkd.records()[done["action_id"]]["status"] == "done"


def test_responder_acts_and_undoes_without_admin(installed_app, splunkd, people, moto_endpoint, iam,
                                                 unique, tmp_path):
    name = unique("eve")
    active, inactive = make_user(iam, name)
    key = people["trailwatch_responder"]
    proc, (event,) = suspend(installed_app, splunkd, moto_endpoint, tmp_path, key, "responder", name)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert event["outcome"] == "success" and event["user"] == "responder"
    assert user_state(iam, name)["keys"] == {active: "Inactive", inactive: "Inactive"}
    _, (row,), _, stderr, (undo_event,) = support.run_undo(
        installed_app, {"action_id": event["action_id"]}, splunkd, moto_endpoint.url, tmp_path,
        session_key=key, user="responder")
    assert row["outcome"] == "success", (row, stderr)
    assert undo_event["outcome"] == "success" and undo_event["user"] == "responder"
    assert user_state(iam, name) == {"policies": {}, "keys": {active: "Active", inactive: "Inactive"}}
    # Every splunkd call the responder's runs made was allowed.
    assert not [r for r in splunkd.requests if r.status == 403]


def test_responder_before_any_admin_configured_is_told_why(installed_app, splunkd, moto_endpoint,
                                                           iam, unique, tmp_path):
    key = splunkd.add_user("responder", ["trailwatch_responder"])
    name = unique("eve")
    make_user(iam, name)
    before = user_state(iam, name)
    proc, (event,) = suspend(installed_app, splunkd, moto_endpoint, tmp_path, key, "responder", name)
    assert proc.returncode == 2 and event["error_code"] == "SealKey"
    assert user_state(iam, name) == before


def test_trailwatch_admin_configures_and_responder_cannot(splunkd, people):
    realm = "__REST_CREDENTIAL__#%s#configs/conf-ta_trailwatch_account" % support.APP
    with pytest.raises(binding.HTTPError) as denied:
        rest(splunkd, people["trailwatch_responder"]).post(
            "storage/passwords", name="staging", password='{"aws_secret_access_key": "x"}', realm=realm)
    assert denied.value.status == 403 and b"edit_storage_passwords" in denied.value.body
    answer = rest(splunkd, people["trailwatch_admin"]).post(
        "storage/passwords", name="staging", password='{"aws_secret_access_key": "x"}', realm=realm)
    assert answer.status == 201
    with pytest.raises(binding.HTTPError) as denied:
        rest(splunkd, people["trailwatch_analyst"]).get("storage/passwords", output_mode="json")
    assert denied.value.status == 403 and b"list_storage_passwords" in denied.value.body


def test_shipped_roles_name_real_capabilities_and_every_object_has_permissions(installed_app):
    from splunkd_double._authz import BUILTIN_ROLES
    from splunkd_double._conffile import parse_conf

    def conf(*path):
        with open(os.path.join(installed_app, *path), encoding="utf-8") as handle:
            return parse_conf(handle.read())

    authorize = conf("default", "authorize.conf")
    ours = {s[len("capability::"):] for s in authorize if s.startswith("capability::")}
    assert ours == {"trailwatch_govern", "trailwatch_undo"}
    roles = {s[len("role_"):] for s in authorize if s.startswith("role_")} | set(BUILTIN_ROLES)
    for version in ("9.4", "10.0"):
        with open(os.path.join(support.ROOT, "tools", "confcheck", "specs", version,
                               "authorize.conf.json"), encoding="utf-8") as handle:
            splunk = {e["stanza"][len("capability::"):] for e in json.load(handle)["stanzas"]
                      if e["stanza"].startswith("capability::")}
        assert not ours & splunk  # a custom capability never redefines one of Splunk's
        for stanza, fields in authorize.items():
            if not stanza.startswith("role_"):
                continue
            for key, value in fields.items():
                if key == "importRoles":
                    assert set(value.split(";")) <= roles, (stanza, value)
                else:
                    assert value == "enabled" and key in splunk | ours, (version, stanza, key)
    meta = conf("metadata", "default.meta")
    for name in conf("default", "alert_actions.conf"):
        assert "access" in meta.get("alert_actions/%s" % name, {}), name
    for name in ("trailwatch_governance_actions", "trailwatch_input_checkpoints", "trailwatch_mail_outbox"):
        assert "access" in meta.get("collections/%s" % name, {}), name
    assert "access" in meta["collections"]  # the other collections: admin lists, learned state
    assert "access" in meta["commands/trailwatchundo"] and "access" in meta["passwords"]
