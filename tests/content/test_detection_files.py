"""The detection source files (detections/*/detection.yml): valid against their schema, one per
saved search, rendered into the built add-on's savedsearches.conf with schedules that run and
Enterprise Security settings, and indexed in the docs."""
import copy
import json
import os
import re

import pytest
import yaml

from twcontent import docs, model, render
from splreplay.conf import load_conf

ROOT = model.ROOT
APP_DIR = os.path.join(ROOT, "output", "TA-trailwatch")
CONTENT = model.load_all()
DETECTIONS = [d for d in CONTENT if d.kind == "detection"]
POLICY_IDS = ["A%02d" % i for i in range(1, 11)] + ["B%02d" % i for i in range(1, 12)] + ["C01"]


@pytest.fixture(scope="module")
def built():
    return load_conf(APP_DIR, "savedsearches")


@pytest.mark.parametrize("path", sorted(d.path for d in CONTENT), ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_file_matches_the_schema(path):
    with open(path) as handle:
        model.validate(yaml.safe_load(handle), path)


def test_one_file_per_policy_and_the_support_searches():
    assert sorted(d.policy_id for d in DETECTIONS) == POLICY_IDS
    kinds = {d.kind for d in CONTENT}
    assert kinds == {"detection", "baseline", "support"}
    assert len(CONTENT) == 33


def _doc(slug):
    return copy.deepcopy(next(d.doc for d in CONTENT if d.slug == slug))


@pytest.mark.parametrize("change, complaint", [
    (lambda d: d.update(is_scheduled=1), "is_scheduled"),
    (lambda d: d.pop("how_to_tune"), "how_to_tune"),
    (lambda d: d["tags"].update(mitre_attack_id=["T110"]), "T110"),
    (lambda d: d["schedule"].update(profile="every_minute"), "every_minute"),
    (lambda d: d["alert"]["throttle"].update(period="1 hour"), "1 hour"),
    (lambda d: d.update(id="not-a-uuid"), "not-a-uuid"),
])
def test_schema_refuses_a_bad_file(change, complaint):
    doc = _doc("a09_security_groups")
    change(doc)
    with pytest.raises(model.ContentError) as err:
        model.validate(doc, "detections/a09_security_groups/detection.yml")
    assert "a09_security_groups" in str(err.value) and complaint in str(err.value)


def test_baselines_carry_no_alert_settings():
    doc = _doc("baseline_user_activity")
    doc["alert"] = {"severity": 3, "throttle": {"fields": ["user"], "period": "1h"}}
    with pytest.raises(model.ContentError):
        model.validate(doc, "baseline")


def test_cross_file_checks(tmp_path):
    """Two files with one id, a requirement nobody defines: load_all names both problems."""
    root = tmp_path / "detections"
    root.mkdir()
    for name in ("detection.schema.json", "schedules.yml"):
        (root / name).write_text(open(os.path.join(model.DETECTIONS, name)).read())
    for slug in ("a01_console_signin_failures", "a02_cloudtrail_changes"):
        doc = _doc(slug)
        doc["id"] = "00000000-0000-4000-8000-000000000000"
        doc["requires"] = ["TrailWatch - Support - Nothing"]
        (root / slug).mkdir()
        (root / slug / "detection.yml").write_text(yaml.safe_dump(doc))
    with pytest.raises(model.ContentError) as err:
        model.load_all(str(root))
    assert "share id" in str(err.value) and "Support - Nothing" in str(err.value)


def test_savedsearches_conf_is_generated_only():
    assert not os.path.exists(os.path.join(ROOT, "package", "default", "savedsearches.conf"))
    with open(os.path.join(APP_DIR, "default", "savedsearches.conf")) as handle:
        assert handle.read() == render.render(), "the build is older than detections/: ./build.sh"


def test_every_stanza_comes_from_a_file(built):
    assert sorted(built.names()) == sorted(d.name for d in CONTENT)


@pytest.mark.parametrize("policy_id", POLICY_IDS)
def test_detection_runs_alerts_per_result_and_feeds_es(policy_id, built):
    d = next(d for d in DETECTIONS if d.policy_id == policy_id)
    s = built.get(d.name)
    assert s["disabled"] == "1"  # shipped disabled: the admin chooses
    assert s["enableSched"] == "1" and "is_scheduled" not in s
    assert s["realtime_schedule"] == "0"  # windows tile: none is skipped
    assert s["alert.digest_mode"] == "0"  # one alert per result, each throttled on its fields
    assert s["alert.suppress"] == "1" and "user" in s["alert.suppress.fields"].split(",")
    assert s["action.correlationsearch.enabled"] == "1"
    assert s["action.correlationsearch.label"] == "TrailWatch - %s - %s" % (policy_id, d.policy)
    annotations = json.loads(s["action.correlationsearch.annotations"])
    assert annotations["mitre_attack"] == d.tags["mitre_attack_id"]
    assert annotations["analytic_story"]
    assert s["action.notable"] == "1"
    assert "$user$" in s["action.notable.param.rule_title"]
    assert s["action.notable.param.rule_description"] == "$description$"
    assert s["action.notable.param.security_domain"] in ("access", "endpoint", "network", "threat",
                                                          "identity", "audit")
    assert "$event_id_list$" in s["action.notable.param.drilldown_search"]
    # alert history without ES: one trailwatch:alert event per result, by Splunk's Log Event action
    assert s["action.logevent"] == "1" and s["action.logevent.param.event"] == "$result.tw_alert_event$"
    assert s["action.logevent.param.sourcetype"] == "trailwatch:alert"
    assert s["search"].rstrip().endswith("| `trailwatch_alert_event`")
    assert s["action.risk"] == "1"
    risk = json.loads(s["action.risk.param._risk"])
    assert {"risk_object_field": "user", "risk_object_type": "user"}.items() <= risk[0].items()
    assert {"threat_object_field": "src_ip", "threat_object_type": "ip_address"} in risk
    # the fields the ES settings name are in the table every result is cut to
    table = d.search.rstrip().split("\n| ")[-1]
    if table.strip() == "`trailwatch_alert_table`":
        table = load_conf(APP_DIR, "macros").get("trailwatch_alert_table")["definition"]
    for field in ("user", "target", "description", "src_ip", "event_id_list", "urgency", "severity",
                  "risk_score"):
        assert re.search(r"\b%s\b" % field, table), (policy_id, field)


def test_baselines_and_support_searches_run_without_alerting(built):
    for d in CONTENT:
        if d.kind == "detection":
            continue
        s = built.get(d.name)
        assert s["enableSched"] == "1" and s["disabled"] == "1"
        assert not any(k.startswith(("action.", "alert.")) for k in s), d.name
        # The scheduler may start a baseline late (its window overlaps the last run's), but
        # never skip the summary or the trail buckets, whose index-time windows tile:
        # continuous scheduling.
        if s.get("dispatch.index_earliest"):
            assert s["realtime_schedule"] == "0" and "schedule_window" not in s, d.name
        else:
            assert 0 < int(s["schedule_window"]) < 60, d.name


def test_no_minute_of_the_hour_starts_more_than_two_searches(built):
    starts = {}
    for name in built.names():
        minute, hour = built.get(name)["cron_schedule"].split()[:2]
        if hour != "*":
            continue  # daily searches
        for m in minute.split(","):
            starts.setdefault(int(m), []).append(name)
    busiest = max(starts.values(), key=len)
    assert len(busiest) <= 2, busiest


def test_docs_index_is_generated_from_the_files():
    with open(docs.INDEX_FILE) as handle:
        text = handle.read()
    assert text == docs.render_index(CONTENT), "run ./build.sh docs"
    for d in DETECTIONS:
        row = next(line for line in text.splitlines() if line.startswith("| %s |" % d.policy_id))
        assert d.slug in row and "_filter`" in row


def test_each_alert_row_carries_its_alert_event(tmp_path):
    """The rendered A09 search over its own cases: every result's tw_alert_event is one JSON
    object with the Alerts fields, ready for the Log Event action."""
    import subprocess
    import sys
    d = next(d for d in DETECTIONS if d.policy_id == "A09")
    proc = subprocess.run(
        [sys.executable, "-m", "splreplay", "--app", APP_DIR, "--events", d.cases_dir, "--search", d.name,
         "--state", str(tmp_path)], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools")))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(rows) > 5
    for row in rows:
        event = json.loads(row["tw_alert_event"])
        assert event["signature_id"] == "A09" and event["severity"] == row["severity"]
        assert event["user"] == row["user"] and event["description"] == row["description"]
        assert set(event["event_ids"]) == set(row["event_ids"] if isinstance(row["event_ids"], list)
                                             else [row["event_ids"]])
