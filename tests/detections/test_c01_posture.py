"""C01's posture half: `trailwatch:s3:posture` snapshots through the saved search, and the
support search that keeps the latest posture per bucket for the CloudTrail half.

splreplay only reads CloudTrail files (every record becomes an `aws:cloudtrail` event), so
these tests build the snapshot events the way replay builds events (JSON extraction as
KV_MODE=json, `_time` from `snapshot_time`) with sourcetype `trailwatch:s3:posture`, and run
the saved search through splreplay's Python API. Case files:
detections/c01_s3_public_bucket/posture/*.json = {"case": {...}, "Snapshots": [...]}, judged like the
CloudTrail cases (detection_cases.py), one run per case.
"""
import glob
import json
import os
import sys

import pytest

from detection_cases import (APP_DIR, POLICIES, TOOLS, app_with_lookups, contract_problems,
                             mismatches, policy_dir)

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.events import flatten_json, parse_time  # noqa: E402
from splreplay.output import row_for_output  # noqa: E402
from splreplay.kvstore import KvStore  # noqa: E402
from splreplay.runner import Replay  # noqa: E402

SEARCH = POLICIES["C01"][1]
POSTURE = os.path.join(policy_dir("C01"), "posture")
CASES = sorted(os.path.splitext(os.path.basename(p))[0]
               for p in glob.glob(os.path.join(POSTURE, "*.json")))


def posture_events(snapshots):
    """Snapshot objects -> events as Splunk would have them (newest first)."""
    events = []
    for snap in snapshots:
        event = {"_raw": json.dumps(snap), "_time": parse_time(snap["snapshot_time"]),
                 "host": "splreplay", "source": "aws_s3_posture:test",
                 "sourcetype": "trailwatch:s3:posture"}
        for name, vals in flatten_json(snap).items():
            event[name] = vals[0] if len(vals) == 1 else vals
        events.append(event)
    return sorted(events, key=lambda e: -e["_time"])


def run(replay, search, events):
    now = max(e["_time"] for e in events)
    rows = replay.compile_saved(search, now).run(events)
    return [row_for_output(r, search) for r in rows]


@pytest.fixture(scope="module")
def replay(geoip, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("c01-posture"))
    return Replay(app_with_lookups("C01", work), state_dir=os.path.join(work, "state"),
                  geoip=geoip, warn=lambda message: None)


def test_enough_posture_cases():
    assert len([c for c in CASES if c.startswith("p")]) >= 4
    assert len([c for c in CASES if c.startswith("n")]) >= 4


@pytest.mark.parametrize("name", CASES)
def test_posture_case(name, replay):
    with open(os.path.join(POSTURE, name + ".json")) as handle:
        doc = json.load(handle)
    rows = run(replay, SEARCH, posture_events(doc["Snapshots"]))
    expected = doc["case"]["expect"]
    assert len(rows) == len(expected), rows
    for want, row in zip(expected, rows, strict=True):
        assert not mismatches(want, row), (mismatches(want, row), row)
        assert not contract_problems(row), (contract_problems(row), row)


def test_snapshot_and_cloudtrail_change_alert_apart(replay):
    """One bucket seen public in a snapshot and made public by a user: two alerts, each saying
    where it comes from."""
    with open(os.path.join(POSTURE, "p1_public_acl_effective.json")) as handle:
        snapshots = json.load(handle)["Snapshots"]
    with open(os.path.join(policy_dir("C01"), "cases", "p1_canned_public_read_string.json")) as handle:
        record = json.load(handle)["Records"][0]
    record = dict(record, requestParameters=dict(record["requestParameters"],
                                                 bucketName="open-data-111122223333"))
    events = posture_events(snapshots) + replay.events_from_records([record])
    rows = run(replay, SEARCH, sorted(events, key=lambda e: -e["_time"]))
    by_source = {row["detected_by"]: row for row in rows}
    assert sorted(by_source) == ["CloudTrail change", "posture snapshot"], rows
    assert by_source["CloudTrail change"]["user"] == "alice"
    assert by_source["posture snapshot"]["user"] == "none"
    assert {row["bucket_name"] for row in rows} == {"open-data-111122223333"}


def test_latest_posture_support_search(replay, tmp_path):
    """The support search keeps, per bucket, the newest snapshot's flags in the lookup C01 reads."""
    flags = {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
             "RestrictPublicBuckets": False}
    older = {"snapshot_time": "2024-05-14T08:00:00Z", "aws_account_id": "111122223333",
             "region": "us-east-1", "bucket_name": "flip-111122223333", "acl_public": True,
             "acl_public_grants": [{"grantee": "AllUsers", "permission": "READ"}],
             "policy_public": False, "bucket_public_access_block": None,
             "account_public_access_block": flags, "effective_block": flags,
             "acls_disabled": False, "effective_public": True}
    blocked = dict(flags, IgnorePublicAcls=True, RestrictPublicBuckets=True)
    newer = dict(older, snapshot_time="2024-05-14T09:00:00Z", bucket_public_access_block=blocked,
                 effective_block=blocked, effective_public=False)
    other = dict(older, bucket_name="other-111122223333", acl_public=False, acl_public_grants=[],
                 effective_public=False)
    state = str(tmp_path / "state")
    support = Replay(APP_DIR, state_dir=state, warn=lambda message: None)
    run(support, "TrailWatch - Support - Latest S3 posture", posture_events([older, newer, other]))
    rows = {r["bucket_name"]: r for r in KvStore(state).rows("trailwatch_s3_posture_latest", None)}
    assert sorted(rows) == ["flip-111122223333", "other-111122223333"]
    flip = rows["flip-111122223333"]
    assert (flip["ignore_public_acls"], flip["restrict_public_buckets"], flip["public_acl"],
            flip["effective_public"]) == ("true", "true", "true", "false")
    assert rows["other-111122223333"]["public_acl"] == "false"


def test_posture_lookup_is_learned_state_not_a_shipped_file():
    assert not glob.glob(os.path.join(APP_DIR, "lookups", "trailwatch_s3_posture_latest*"))


def test_snapshots_written_by_the_posture_input(replay):
    """The contract with the aws_s3_posture input: events built by its own assess() (the
    built add-on's trailwatch.ingest.s3_posture) alert as C01 expects."""
    import datetime

    from trailwatch.ingest import s3_posture

    all_users = {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                 "Permission": "READ"}
    owner = {"Grantee": {"Type": "CanonicalUser", "ID": "79a59df900b949e55d96a1e698fbaced"},
             "Permission": "FULL_CONTROL"}
    public_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::input-policy-111122223333/*"}]}
    none_blocked = dict.fromkeys(s3_posture.BLOCK_FLAGS, False)
    all_blocked = dict.fromkeys(s3_posture.BLOCK_FLAGS, True)

    def snapshot(name, acl_grants, policy, account_block):
        reads = {"acl": {"Grants": acl_grants}, "policy": policy, "policy_status": policy is not None,
                 "block": None, "ownership": "ObjectWriter", "website": False,
                 "region": "eu-west-1", "errors": {}}
        event = s3_posture.assess({"Name": name, "CreationDate": datetime.datetime(2023, 1, 1)},
                                  reads, account_block)
        event.update(aws_account_id="111122223333", snapshot_time="2024-05-14T09:00:00Z")
        return json.loads(json.dumps(event))  # as written: JSON

    cases = {
        "input-acl-111122223333": (snapshot("input-acl-111122223333", [owner, all_users], None, none_blocked), "high"),
        "input-policy-111122223333": (snapshot("input-policy-111122223333", [owner], public_policy, all_blocked), "low"),
        "input-private-111122223333": (snapshot("input-private-111122223333", [owner], None, none_blocked), None),
    }
    for bucket, (snap, severity) in cases.items():
        rows = run(replay, SEARCH, posture_events([snap]))
        assert [r["severity"] for r in rows] == ([severity] if severity else []), (bucket, snap, rows)
        for row in rows:
            assert row["bucket_name"] == bucket and row["region"] == "eu-west-1"
            assert row["detected_by"] == "posture snapshot"
