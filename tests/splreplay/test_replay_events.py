"""Events: file formats, errors, and JSON field names as Splunk extracts them."""
import gzip
import json

import pytest

from splreplay.errors import InputError
from splreplay.events import flatten_json, load_records, read_records


def test_field_names_follow_splunk_json_extraction():
    rec = {
        "userIdentity": {"type": "IAMUser", "sessionContext": {"attributes": {"mfaAuthenticated": "true"}}},
        "requestParameters": {"ipPermissions": {"items": [
            {"fromPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "10.0.0.0/8"}]}},
            {"fromPort": 443, "ipRanges": {"items": [{"cidrIp": "192.0.2.0/24"}]}},
        ]}},
        "resources": [{"ARN": "arn:1"}],
        "tags": ["a", "b"],
        "readOnly": False,
        "responseElements": None,
        "empty": {},
        "none": [],
        "ratio": 0.5,
        "nested": [[1, 2], [3]],
    }
    f = flatten_json(rec)
    assert f["userIdentity.type"] == ["IAMUser"]
    assert f["userIdentity.sessionContext.attributes.mfaAuthenticated"] == ["true"]
    assert f["requestParameters.ipPermissions.items{}.ipRanges.items{}.cidrIp"] == [
        "0.0.0.0/0", "10.0.0.0/8", "192.0.2.0/24"]
    assert f["requestParameters.ipPermissions.items{}.fromPort"] == ["22", "443"]
    assert f["resources{}.ARN"] == ["arn:1"]
    assert f["tags{}"] == ["a", "b"]
    assert f["readOnly"] == ["false"]
    assert f["responseElements"] == ["null"]
    assert f["ratio"] == ["0.5"]
    assert f["nested{}{}"] == ["1", "2", "3"]
    assert "empty" not in f and "none" not in f


def test_event_shape_and_order(replay):
    events = replay.events_from_records([
        {"eventTime": "2024-01-01T00:00:00Z", "eventName": "A", "tags": ["x"]},
        {"eventTime": "2024-01-01T00:00:02.500Z", "eventName": "B", "tags": ["x", "y"]},
    ])
    assert [e["eventName"] for e in events] == ["B", "A"]  # newest first
    b = events[0]
    assert b["_time"] == pytest.approx(1704067202.5)
    assert b["sourcetype"] == "aws:cloudtrail"
    assert json.loads(b["_raw"])["eventName"] == "B"
    assert b["tags{}"] == ["x", "y"]
    assert events[1]["tags{}"] == "x"  # one value is a single value


def _records(path):
    return [r for r, _, _ in read_records(str(path))]


def test_cloudtrail_log_file_array_jsonl_and_gzip(tmp_path):
    recs = [{"eventTime": "2024-01-01T00:00:00Z", "eventName": "N%d" % i} for i in range(3)]
    (tmp_path / "trail.json").write_text(json.dumps({"Records": recs}))
    (tmp_path / "array.json").write_text(json.dumps(recs))
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    with gzip.open(tmp_path / "trail.json.gz", "wt") as handle:
        json.dump({"Records": recs}, handle)
    for name in ("trail.json", "array.json", "lines.jsonl", "trail.json.gz"):
        assert [r["eventName"] for r in _records(tmp_path / name)] == ["N0", "N1", "N2"], name
    assert len(load_records([str(tmp_path)])) == 12


def test_lookup_events_entries_are_unwrapped(tmp_path):
    inner = {"eventTime": "2024-01-01T00:00:00Z", "eventName": "StopLogging"}
    (tmp_path / "lookup.json").write_text(json.dumps(
        {"Events": [{"EventId": "1", "EventName": "StopLogging", "CloudTrailEvent": json.dumps(inner)}]}))
    assert _records(tmp_path / "lookup.json") == [inner]


def test_bad_json_line_is_reported_with_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"eventTime": "2024-01-01T00:00:00Z"}\n{"eventTime": "2024-01-01T00:00:00Z"}\n{"broken": \n')
    with pytest.raises(InputError, match=r"bad.jsonl: invalid JSON on line 3"):
        _records(p)


def test_bad_whole_file_json_names_the_line(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"Records": [\n  {"eventTime": "x"},\n  {oops}\n]}')
    with pytest.raises(InputError, match=r"bad.json: invalid JSON on line 3"):
        _records(p)


def test_bad_gzip_and_missing_path(tmp_path):
    p = tmp_path / "x.json.gz"
    p.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(InputError, match="gzip"):
        _records(p)
    with pytest.raises(InputError, match="no such file"):
        load_records([str(tmp_path / "missing")])


def test_record_without_event_time_is_an_error(replay, tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"Records": [{"eventName": "X"}]}))
    with pytest.raises(InputError, match=r"record 1 has no valid eventTime|record 1: the record has no valid eventTime"):
        replay.load_events([str(p)])


def test_non_object_record_is_an_error(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps([1, 2]))
    with pytest.raises(InputError, match="record 1: a CloudTrail record must be a JSON object"):
        _records(p)
