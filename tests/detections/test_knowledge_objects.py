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
    """Each lookup is a KV store lookup whose collection collections.conf declares with every
    field it lists, or a CSV file the add-on ships; match_type names fields of the table."""
    transforms = load_conf(APP_DIR, "transforms")
    collections = load_conf(APP_DIR, "collections")
    for name in LOOKUPS:
        settings = transforms.get(name)
        if settings.get("external_type") == "kvstore":
            collection = collections.get(settings["collection"])
            assert collection is not None, "%s: collection %s is not declared" % (name, settings["collection"])
            header = [f.strip() for f in settings["fields_list"].split(",")]
            assert [f for f in header if f != "_key" and "field." + f not in collection] == [], name
        else:
            path = os.path.join(APP_DIR, "lookups", settings["filename"])
            assert os.path.isfile(path), "%s: %s is not shipped" % (name, settings["filename"])
            with open(path, newline="") as handle:
                header = next(csv.reader(handle))
        for match in re.findall(r"\((\w+)\)", settings.get("match_type", "")):
            assert match in header, (name, match, header)


def test_no_shipped_file_is_written_or_edited():
    """Installing a new version replaces the files it ships: nothing a search writes
    (outputlookup) or an admin edits may be one of them. Every outputlookup target and every
    admin list is a KV store lookup, and no shipped file carries one of their names."""
    transforms = load_conf(APP_DIR, "transforms")
    searches = load_conf(APP_DIR, "savedsearches")
    macros = load_conf(APP_DIR, "macros")
    text = "\n".join([searches.get(n).get("search", "") for n in searches.names()]
                     + [macros.get(n).get("definition", "") for n in macros.names()])
    written = set(re.findall(r"outputlookup(?:\s+\w+=\S+)*\s+([\w.]+)", text))
    admin_lists = {"trailwatch_allowlist", "trailwatch_terminated_users", "trailwatch_ip_ranges",
                   "trailwatch_protected_principals", "trailwatch_protected_buckets",
                   "trailwatch_collector_identities", "trailwatch_trail_buckets",
                   "trailwatch_public_route_tables"}
    assert len(written) >= 10, written
    for name in sorted(written | admin_lists):
        assert transforms.get(name).get("external_type") == "kvstore", name
    shipped = {os.path.splitext(f)[0] for f in os.listdir(os.path.join(APP_DIR, "lookups"))}
    assert shipped & (written | admin_lists) == set()


def test_collector_exclusion_ships_empty():
    """No identity is excluded until the admin lists the add-on's own ARN: a shipped pattern
    (e.g. a session name) would let anyone evade every detection by choosing that name. The
    list is a KV store collection, which starts empty, and no shipped file adds rows to it."""
    assert load_conf(APP_DIR, "transforms").get("trailwatch_collector_identities")["external_type"] == "kvstore"
    assert [f for f in os.listdir(os.path.join(APP_DIR, "lookups")) if "collector" in f] == []
