"""CIM compliance of what TrailWatch's search-time knowledge makes of its events: CloudTrail
records (the shared sample when present, and the project's own test data), the alert events
the detections write (trailwatch:alert), and IAM user snapshots (trailwatch:iam:user); each
event through the built add-on's props, eventtypes and tags (splreplay), checked against the
data model definitions of pytest-splunk-addon (cim_check.py). Every check that fails must be
a gap docs/cim.md explains."""
import json
import os
import shutil

import pytest

import cim_check
from cloudtrail_sample import sample_dir
from splreplay.runner import Replay
from splreplay.values import text_of, values_of

APP_DIR = os.path.join(cim_check.ROOT, "output", "TA-trailwatch")
DOC = os.path.join(cim_check.ROOT, "docs", "cim.md")
SAMPLE = sample_dir()
# CloudTrail records of the project's own tests (detection cases, identity shapes).
PROJECT_DATA = ("tests/detections/*/cases/*.json", "tests/detections/knowledge/*.json",
                "detections/*/cases/*.json")
# The Change data model's expected values of `action` (Common Information Model manual, Change
# data model, All_Changes.action: "acl_modified, cleared, created, deleted, modified, read,
# stopped, updated"); pytest-splunk-addon's JSON only rejects values with a double quote.
CHANGE_ACTIONS = {"acl_modified", "cleared", "created", "deleted", "modified", "read", "stopped",
                  "updated"}


@pytest.fixture(scope="module")
def replay():
    return Replay(APP_DIR, warn=lambda message: None)


@pytest.fixture(scope="module")
def gaps():
    return cim_check.documented_gaps(DOC)


def show(capsys, lines):
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def undocumented(report, gaps):
    return {key: fails[:5] for key, fails in report.failures.items() if key not in gaps}


def test_data_model_definitions_are_installed():
    names = set(os.listdir(cim_check.data_model_dir()))
    assert {"Authentication.json", "Change.json", "Alerts.json",
            "Compute_Inventory.json"} <= names


def test_shared_cloudtrail_sample(replay, gaps, capsys):
    if not os.path.isdir(SAMPLE):
        pytest.skip("the shared CloudTrail sample (%s) is not here: it sits beside the project "
                    "on development machines and in CI, not in a user's clone" % SAMPLE)
    datasets = cim_check.load_models(replay.app, ["Authentication", "Change"])
    events = replay.load_events([os.path.join(SAMPLE, "CloudTrail")])
    report = cim_check.Report()
    report.add(datasets, events)
    show(capsys, report.lines("shared CloudTrail sample, %d events" % len(events)))
    assert report.events["Authentication.Authentication"] > 0
    assert report.events["Change.All_Changes"] > 0
    assert report.ratio() >= 0.98, report.lines("shared sample")
    assert not undocumented(report, gaps)
    actions = {text_of(e["action"]) for e in events if "change" in values_of(e.get("tag"))}
    assert actions <= CHANGE_ACTIONS, actions - CHANGE_ACTIONS


def project_events(replay):
    files = cim_check.cloudtrail_files(*PROJECT_DATA)
    assert files, "no CloudTrail test data found (%s)" % ", ".join(PROJECT_DATA)
    return replay.load_events(files)


def test_project_cloudtrail_data(replay, gaps, capsys):
    events = project_events(replay)
    datasets = cim_check.load_models(replay.app, ["Authentication", "Change"])
    report = cim_check.Report()
    report.add(datasets, events)
    show(capsys, report.lines("project CloudTrail test data, %d events" % len(events)))
    for path in ("Authentication.Authentication", "Change.All_Changes",
                 "Change.All_Changes.Account_Management", "Change.All_Changes.Instance_Changes",
                 "Change.All_Changes.Network_Changes", "Change.All_Changes.Auditing_Changes"):
        assert report.events[path] > 0, path
    assert not undocumented(report, gaps)
    actions = {text_of(e["action"]) for e in events if "change" in values_of(e.get("tag"))}
    assert actions <= CHANGE_ACTIONS, actions - CHANGE_ACTIONS


def detection_searches(replay):
    return [name for name in replay.app.saved_search_names()
            if "`trailwatch_alert_table`" in replay.app.saved_search(name)
            and "`trailwatch_cloudtrail`" in replay.app.saved_search(name)]


# The Log Event alert action's event text (docs/cim.md): the token is replaced by the result's
# field value as it is, once per result (alert.digest_mode = 0).
EVENT_TEMPLATE = "$result.tw_alert_event$"


def test_detections_write_alert_events_the_alerts_model_accepts(replay, gaps, capsys):
    events = project_events(replay)
    now = replay.default_now(events)
    written = []
    names = detection_searches(replay)
    assert names
    for name in names:
        pipeline = replay.compile(replay.app.saved_search(name) + " | `trailwatch_alert_event`",
                                  name, now)
        for row in pipeline.run(events):
            text = EVENT_TEMPLATE.replace("$result.tw_alert_event$",
                                          text_of(row["tw_alert_event"]))
            alert = json.loads(text)  # the event must be valid JSON for KV_MODE=json
            assert alert["event_ids"] == [text_of(v) for v in values_of(row["event_ids"])]
            assert text_of(row["tw_alert_index"]) == "main"
            written.append(dict(alert, written_at=now))
    assert len({a["signature_id"] for a in written}) >= 3, written
    alert_events = replay.events_of_sourcetype(written, "trailwatch:alert", "written_at",
                                               source="alert:test")
    report = cim_check.Report()
    report.add(cim_check.load_models(replay.app, ["Alerts"]), alert_events,
               label=lambda e: e.get("signature_id"))
    show(capsys, report.lines("alert events of %d detections, %d alerts" % (len(names),
                                                                            len(written))))
    assert report.events["Alerts.Alerts"] == len(written)
    assert not undocumented(report, gaps)
    assert all(e["tag"] == "alert" and e["type"] == "alert" for e in alert_events)


def test_alert_event_text_stays_valid_json_whatever_the_values(replay):
    rows = replay.spl('| makeresults | eval policy_id="A99", policy="Quote \\" and \\\\ back", '
                      'severity="high", description=urldecode("line%0Aone"), user="bob", '
                      'aws_account_id="111122223333", target="t", first_seen="a", '
                      'last_seen="b", count=1, risk_score=75, event_ids=split("x,y", ",") '
                      '| `trailwatch_alert_event`', [], now=0)
    alert = json.loads(text_of(rows[0]["tw_alert_event"]))
    assert alert["signature"] == "Quote ' and / back"
    assert alert["description"] == "line one"
    assert alert["event_ids"] == ["x", "y"]
    assert alert["src"] == "111122223333" and alert["dest"] == "t"


IAM_USER = {"user_name": "alice", "user_id": "AIDAEXAMPLE", "path": "/",
            "user_arn": "arn:aws:iam::111122223333:user/alice", "console_access": True,
            "mfa_enabled": False, "access_keys": [], "active_access_keys": 0, "groups": [],
            "attached_policies": [], "inline_policies": [], "admin_policies": [],
            "is_admin": False, "read_errors": [], "aws_account_id": "111122223333",
            "account": "prod", "snapshot_time": "2024-05-14T08:00:00Z"}


def test_iam_user_snapshots_map_to_compute_inventory(replay, gaps, capsys):
    users = [IAM_USER, dict(IAM_USER, user_name="ci", console_access=False),
             dict(IAM_USER, user_name="unread", console_access=None,
                  read_errors=["iam:GetLoginProfile"])]
    events = replay.events_of_sourcetype(users, "trailwatch:iam:user", "snapshot_time")
    report = cim_check.Report()
    report.add(cim_check.load_models(replay.app, ["Compute_Inventory"]), events,
               label=lambda e: e.get("user"))
    show(capsys, report.lines("IAM user snapshots"))
    assert report.events["Compute_Inventory.All_Inventory.User"] == 3
    assert not undocumented(report, gaps)
    by_user = {e["user"]: e for e in events}
    assert by_user["alice"]["interactive"] == "true"
    assert by_user["ci"]["interactive"] == "false"
    assert "interactive" not in by_user["unread"]


def test_every_documented_gap_is_a_cim_field(gaps, replay):
    """The gap table names real datasets and fields, so it cannot hide a typo."""
    fields = {}
    for ds in cim_check.load_models(replay.app, ["Authentication", "Change", "Alerts",
                                                 "Compute_Inventory"]):
        fields[ds.path] = {f.name for f in ds.fields}
    assert gaps
    for path, field in gaps:
        assert field in fields.get(path, ()), (path, field)


# ---- Living beside the Splunk Add-on for AWS: an existing value wins ----------------------
CIM_FIELDS = ("action", "status", "result", "reason", "signature", "app", "src", "command",
              "vendor_account", "vendor_region", "vendor_product", "dvc", "dest", "user_type",
              "user", "src_user", "object", "object_id", "object_category", "object_attrs",
              "change_type", "instance_type", "image_id")


def overlay_with_aliases(tmp_path):
    """The built add-on plus a local/props.conf giving every CIM field a value before
    calculated fields run, as another add-on's field aliases do (search-time order:
    extractions, field aliases, calculated fields, lookups; Splunk Knowledge Manager Manual,
    "The sequence of search-time operations")."""
    app = tmp_path / "TA-trailwatch"
    shutil.copytree(APP_DIR, str(app), ignore=shutil.ignore_patterns("bin", "lib", "appserver"))
    (app / "local").mkdir(exist_ok=True)
    lines = ["[aws:cloudtrail]"]
    # eventTime: a key every record has within the JSON extraction limit (eventID of a large record
    # can lie past it)
    lines += ["FIELDALIAS-other_addon_%s = eventTime AS %s" % (f, f) for f in CIM_FIELDS]
    (app / "local" / "props.conf").write_text("\n".join(lines) + "\n")
    return str(app)


def test_existing_cim_values_are_left_unchanged(replay, tmp_path):
    records = []
    for path in cim_check.cloudtrail_files(*PROJECT_DATA):
        with open(path) as handle:
            records.extend(json.load(handle)["Records"])
    assert records
    alone = replay.events_from_records(records)
    beside = Replay(overlay_with_aliases(tmp_path), warn=lambda m: None).events_from_records(
        records)
    set_by_us = set()
    for ours, theirs in zip(alone, beside, strict=True):
        assert ours["_raw"] == theirs["_raw"]
        for field in CIM_FIELDS:
            assert theirs[field] == theirs["eventTime"], (field, theirs.get(field))
            if ours.get(field) is not None:
                set_by_us.add(field)
    assert set_by_us == set(CIM_FIELDS)  # every field checked is one TrailWatch sets


def test_sign_ins_and_changes_get_cim_values(replay):
    """A few events checked field by field (CIM's meanings, docs/cim.md)."""
    events = {e["tw_event_id"]: e for e in project_events(replay)}
    by_name = {}
    for e in events.values():
        by_name.setdefault(e["eventName"], []).append(e)
    login = by_name["ConsoleLogin"]
    assert {text_of(e["action"]) for e in login} == {"success", "failure"}
    assert all("authentication" in values_of(e["tag"]) for e in login)
    for name in ("AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"):
        for e in by_name.get(name, []):
            assert "authentication" in values_of(e["tag"]), name
            # a SAML assertion can push roleArn past the JSON extraction limit: read the raw
            raw = json.loads(e["_raw"])
            assert e["dest"] == ((raw.get("requestParameters") or {}).get("roleArn")
                                 or raw["recipientAccountId"])
    create_user = [e for e in by_name.get("CreateUser", []) if e.get("status") == "success"]
    assert create_user
    for e in create_user:
        assert e["object_category"] == "user" and e["action"] == "created"
        assert "account" in values_of(e["tag"])
        assert e["user"] == e["requestParameters.userName"] != e["src_user"]
    for e in by_name.get("AuthorizeSecurityGroupIngress", []):
        assert e["action"] == "acl_modified" and "network" in values_of(e["tag"])
    for e in by_name.get("StopLogging", []):
        assert e["action"] == "stopped" and "audit" in values_of(e["tag"])
    for e in by_name.get("RunInstances", []):
        assert "instance" in values_of(e["tag"])
        assert e["instance_type"] == e["requestParameters.instanceType"]


def test_read_only_calls_are_not_changes(replay):
    for e in project_events(replay):
        if e.get("readOnly") == "true":
            assert "change" not in values_of(e.get("tag")), e["eventName"]
            assert "object" not in e and "change_type" not in e, e["eventName"]

