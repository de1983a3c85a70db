"""The search-time layer the detections stand on: props (tw_* fields, CIM fields),
eventtypes and tags, lookups, as the built add-on ships them."""
import csv
import json
import os
import re
import sys

import pytest

from detection_cases import APP_DIR, HERE, LOOKUPS, ROOT, TOOLS, replay

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.conf import load_conf  # noqa: E402

KNOWLEDGE = os.path.join(HERE, "knowledge", "identities.json")
# CIM fields props.conf sets for aws:cloudtrail (all other added fields are tw_*)
CIM_FIELDS = {"action", "status", "result", "reason", "signature", "app", "src", "command",
              "vendor_account", "vendor_region", "vendor_product", "dvc", "dest", "user_type",
              "user", "src_user", "object", "object_id", "object_category", "object_attrs",
              "change_type", "instance_type", "image_id"}
OUR_SOURCETYPES = ("trailwatch:s3:posture", "trailwatch:iam:user", "trailwatch:action",
                   "trailwatch:alert")


@pytest.fixture(scope="module")
def shapes():
    with open(KNOWLEDGE) as handle:
        doc = json.load(handle)
    fields = sorted({f for want in doc["expect"].values() for f in want})
    rows = replay(KNOWLEDGE, spl="`trailwatch_cloudtrail` | table eventID " + " ".join(fields))
    return doc["expect"], {row["eventID"]: row for row in rows}


def test_every_shape_gets_its_fields(shapes):
    expect, rows = shapes
    assert set(rows) == set(expect)
    problems = []
    for event_id, want in expect.items():
        row = rows[event_id]
        for field, value in want.items():
            got = row.get(field)
            if isinstance(value, list):
                got = sorted(got) if isinstance(got, list) else [got]
                value = sorted(value)
            if got != value:
                problems.append("%s %s=%r, expected %r" % (event_id[:8], field, got, value))
    assert not problems, "\n".join(problems)


def test_added_fields_are_tw_prefixed_or_cim():
    props = load_conf(APP_DIR, "props").get("aws:cloudtrail")
    added = set()
    for key, value in props.items():
        if key.startswith("EVAL-"):
            added.add(key[5:])
        elif key.startswith("FIELDALIAS-"):
            added |= set(re.findall(r"\bAS\s+(\S+)", value))
        elif key.startswith("LOOKUP-"):
            added |= set(re.findall(r"\bAS\s+(\S+)", value.split("OUTPUT", 1)[1]))
    assert added - CIM_FIELDS, added
    assert all(f.startswith("tw_") for f in added - CIM_FIELDS), sorted(added - CIM_FIELDS)


def test_same_index_time_settings_as_the_splunk_add_on_for_aws():
    props = load_conf(APP_DIR, "props").get("aws:cloudtrail")
    assert props["KV_MODE"] == "json"
    assert "INDEXED_EXTRACTIONS" not in props  # both would extract every value twice
    assert props["TIME_PREFIX"] == r'\"eventTime\"\s*\:\s*\"'
    assert props["TIME_FORMAT"] == "%Y-%m-%dT%H:%M:%S%Z"
    assert props["SHOULD_LINEMERGE"] == "false"


def test_our_sourcetypes_have_props():
    props = load_conf(APP_DIR, "props")
    for sourcetype in OUR_SOURCETYPES:
        assert props.get(sourcetype)["KV_MODE"] == "json", sourcetype


def test_eventtypes_keep_the_alert_actions_result_types():
    """Our eventtypes.conf/tags.conf replace the ones ucc-gen generates for alert actions with
    an adaptive-response sourcetype: they must carry the same stanzas."""
    with open(os.path.join(ROOT, "globalConfig.json")) as handle:
        alerts = json.load(handle).get("alerts", [])
    eventtypes = load_conf(APP_DIR, "eventtypes")
    tags = load_conf(APP_DIR, "tags")
    for alert in alerts:
        sourcetype = (alert.get("adaptiveResponse") or {}).get("sourcetype")
        if not sourcetype:
            continue
        name = "%s_modaction_result" % alert["name"]
        assert name in eventtypes.names(), name
        assert eventtypes.get(name)["search"] == 'sourcetype="%s"' % sourcetype
        assert tags.get("eventtype=" + name).get("modaction_result") == "enabled"


def test_lookups_named_in_transforms_ship():
    transforms = load_conf(APP_DIR, "transforms")
    for name in LOOKUPS:
        filename = transforms.get(name).get("filename")
        path = os.path.join(APP_DIR, "lookups", filename)
        assert os.path.isfile(path), "%s: %s is not shipped" % (name, filename)
        with open(path, newline="") as handle:
            header = next(csv.reader(handle))
        for match in re.findall(r"\((\w+)\)", transforms.get(name).get("match_type", "")):
            assert match in header, (name, match, header)


def test_collector_exclusion_ships_empty():
    """No identity is excluded until the admin lists the add-on's own ARN: a shipped pattern
    (e.g. a session name) would let anyone evade every detection by choosing that name."""
    with open(os.path.join(APP_DIR, "lookups", "trailwatch_collector_identities.csv")) as handle:
        assert list(csv.reader(handle)) == [["principal_arn", "reason"]]
