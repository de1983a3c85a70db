"""cloudtrail_records: byte-identical splitting, eventTime/eventID, errors."""

import gzip
import json
import random
import zlib

import pytest

import ingest_samples as S
from trailwatch.ingest import cloudtrail_records as cr


def _ids(records):
    return [r.event_id for r in records]


# --------------------------------------------------------------------- byte identity


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_records_are_byte_identical_slices(compress):
    data = S.log_bytes(S.GOOD_RECORDS, compress=compress)
    log = cr.parse_log(data)
    assert log.skipped == []
    assert [r.raw for r in log.records] == [t.encode("utf-8") for t in S.GOOD_RECORDS]
    assert log.size == len(S.log_text(S.GOOD_RECORDS).encode("utf-8"))


def test_records_match_a_json_parser():
    text = S.log_text(S.GOOD_RECORDS)
    expected = json.loads(text)["Records"]
    log = cr.parse_log(text.encode("utf-8"))
    assert [json.loads(r.raw) for r in log.records] == expected


def test_event_time_and_id_of_each_record():
    log = cr.parse_log(S.log_bytes(S.GOOD_RECORDS))
    assert {r.event_id: r.time_ms for r in log.records} == S.EXPECTED_MS
    first = log.records[0]
    assert first.time == 1714564800.0
    assert first.time_text == "1714564800.000"
    assert log.records[1].time_text == "1714564801.250"


def test_nested_event_time_and_id_are_not_the_records():
    # NESTED_FIRST has requestParameters.entries[0].eventTime/eventID before its own keys;
    # RUN_INSTANCES has a nested eventTime after its own.
    log = cr.parse_log(S.log_bytes([S.NESTED_FIRST, S.RUN_INSTANCES]))
    nested, run = log.records
    assert nested.event_id == "3c2b1a09-f8e7-4d6c-b5a4-938271605f08"
    assert nested.time_ms == S.EXPECTED_MS[nested.event_id]
    assert run.time_ms == S.EXPECTED_MS["4b3a2918-0716-4f5e-8d4c-3b2a19080706"]


def test_record_without_event_time_is_skipped_with_a_reason():
    log = cr.parse_log(S.log_bytes(S.ALL_RECORDS))
    assert len(log.records) == 7
    assert [(s.index, s.event_id) for s in log.skipped] == [
        (5, "2b1a0908-e7d6-4c5b-a493-827160504f09"),
        (7, "1a090807-d6c5-4b4a-9382-716050403f10"),
    ]
    assert all("no eventTime" in s.reason for s in log.skipped)
    assert log.skipped[0].size == len(S.NO_EVENT_TIME.encode())
    # The other records are untouched and in order.
    kept = [t for t in S.ALL_RECORDS if t not in (S.NO_EVENT_TIME, S.NULL_EVENT_TIME)]
    assert [r.raw for r in log.records] == [t.encode() for t in kept]


def test_unparsable_event_time_is_skipped_with_the_value():
    bad = S.CONSOLE_LOGIN.replace("2024-05-01T12:00:00Z", "2024-13-01T12:00:00Z")
    log = cr.parse_log(S.log_bytes([bad, S.ASSUME_ROLE]))
    assert _ids(log.records) == ["0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b02"]
    assert "2024-13-01T12:00:00Z" in log.skipped[0].reason


def test_unicode_and_escapes_survive_unchanged():
    log = cr.parse_log(S.log_bytes([S.TAG_RESOURCES, S.CREATE_POLICY]))
    tags, policy = log.records
    assert tags.raw == S.TAG_RESOURCES.encode("utf-8")
    assert "🚀".encode() in tags.raw and b"\\ud83d\\ude80" in tags.raw
    assert policy.raw == S.CREATE_POLICY.encode("utf-8")
    assert json.loads(policy.raw)["requestParameters"]["path"] == "\\windows\\share\\"


def test_empty_records_array():
    assert cr.parse_log(b'{"Records":[]}').records == []
    assert cr.parse_log(b'{ "Records" : [ ] }\n').records == []
    assert cr.split_records(b'{"Records":[]}') == []


# --------------------------------------------------------------------- fast vs slow path


def _pretty(records, indent=2):
    """A log file pretty-printed by a JSON library, with its record texts as slices."""
    text = json.dumps({"Records": [json.loads(r) for r in records]}, indent=indent,
                      ensure_ascii=False)
    doc = json.loads(text)
    return text.encode("utf-8"), doc


def test_whitespace_between_records_uses_the_exact_slices():
    data, doc = _pretty(S.GOOD_RECORDS)
    log = cr.parse_log(data)
    assert [json.loads(r.raw) for r in log.records] == doc["Records"]
    for record in log.records:  # each slice is a contiguous piece of the source
        assert record.raw in data and record.raw.startswith(b"{") and record.raw.endswith(b"}")
    assert {r.event_id: r.time_ms for r in log.records} == S.EXPECTED_MS


@pytest.mark.parametrize("depth", [cr.MAX_FAST_DEPTH - 3, cr.MAX_FAST_DEPTH + 5, 200])
def test_records_nested_deeper_than_the_fast_pattern(depth):
    records = [S.CONSOLE_LOGIN, S.deep_record(depth), S.ASSUME_ROLE]
    log = cr.parse_log(S.log_bytes(records))
    assert [r.raw for r in log.records] == [t.encode() for t in records]
    assert log.records[1].event_id == "deep-0001"
    assert log.records[1].time_text == "1714564808.000"


def test_fast_and_slow_scanners_agree():
    rng = random.Random(4)
    pool = S.ALL_RECORDS + [S.deep_record(3), S.deep_record(30)]
    records = [rng.choice(pool) for _ in range(300)]
    buf, _ = cr._neutralise(S.log_text(records).encode())
    fast = cr._scan_buffer(buf)
    slow = cr._scan_slow(buf)
    assert fast == slow
    assert len(fast) == 300


def test_split_records_is_the_same_split():
    records = S.ALL_RECORDS + [S.deep_record(40)]
    data = S.log_text(records).encode()
    assert cr.split_records(data) == [t.encode() for t in records]
    pretty, doc = _pretty(records)
    assert [json.loads(r) for r in cr.split_records(pretty)] == doc["Records"]


def test_other_top_level_keys_are_allowed():
    data = ('{"Trail":{"name":"x","tags":["a"]},"Records":[%s],"Digest":null,"n":1.5e3}'
            % S.CONSOLE_LOGIN).encode()
    assert [r.raw for r in cr.parse_log(data).records] == [S.CONSOLE_LOGIN.encode()]


def test_tricky_strings():
    cases = [
        r'{"eventTime":"2024-05-01T12:00:00Z","a":"\\","eventID":"e1"}',
        r'{"eventTime":"2024-05-01T12:00:00Z","a":"\\\"}{","eventID":"e2"}',
        r'{"a":"},{\"eventTime\":\"1999-01-01T00:00:00Z\"","eventTime":"2024-05-01T12:00:00Z","eventID":"e3"}',
        r'{"a":["{","}",{"b":"]}"}],"eventTime":"2024-05-01T12:00:00Z","eventID":"e4"}',
        r'{"eventID":"e5\"quoted\"","eventTime":"2024-05-01T12:00:00Z","x":"\u0022"}',
        '{"eventTime" : "2024-05-01T12:00:00Z" , "eventID" : "e6"}',
        r'{"a\"eventTime":"1999-01-01T00:00:00Z","eventTime":"2024-05-01T12:00:00Z","eventID":"e7"}',
    ]
    log = cr.parse_log(S.log_text(cases).encode())
    assert [r.raw for r in log.records] == [c.encode() for c in cases]
    assert _ids(log.records) == ["e1", "e2", "e3", "e4", 'e5"quoted"', "e6", "e7"]
    assert {r.time_ms for r in log.records} == {1714564800000}


def test_raw_control_characters_do_not_confuse_the_placeholder():
    # Not valid JSON (raw control characters in strings), but it must not split wrongly:
    # escaped quotes are replaced by a control character absent from the file.
    controls = "".join(chr(c) for c in range(1, 9))
    record = ('{"eventTime":"2024-05-01T12:00:00Z","eventID":"ctl","a":"%s \\"}{\\" %s"}'
              % (controls, controls))
    records = [S.CREATE_POLICY, record, S.ASSUME_ROLE]
    log = cr.parse_log(S.log_bytes(records))
    assert [r.raw for r in log.records] == [t.encode() for t in records]
    assert log.records[1].event_id == "ctl"


def test_huge_record():
    blob = "x" * (8 << 20)
    items = ",".join('{"k":"v%d","n":{"m":[%d]}}' % (i, i) for i in range(50000))
    huge = ('{"eventVersion":"1.09","eventTime":"2024-05-01T12:00:09Z","requestParameters":'
            '{"blob":"%s","items":[%s]},"eventID":"huge-1"}' % (blob, items))
    records = [S.CONSOLE_LOGIN, huge, S.ASSUME_ROLE]
    log = cr.parse_log(S.log_bytes(records))
    assert [len(r.raw) for r in log.records] == [len(t) for t in records]
    assert log.records[1].raw == huge.encode()
    assert log.records[1].event_id == "huge-1"


def test_multi_member_gzip():
    first = gzip.compress(b'{"Records":[' + S.CONSOLE_LOGIN.encode())
    second = gzip.compress(b"," + S.ASSUME_ROLE.encode() + b"]}")
    log = cr.parse_log(first + second)
    assert len(log.records) == 2


# --------------------------------------------------------------------- errors


def _error(data):
    with pytest.raises(cr.CloudTrailFormatError) as info:
        cr.parse_log(data)
    return info.value


def test_corrupt_gzip():
    good = S.log_bytes(S.GOOD_RECORDS)
    corrupt = good[:20] + bytes(b ^ 0x5A for b in good[20:60]) + good[60:]
    error = _error(corrupt)
    assert isinstance(error, cr.CorruptGzip) and error.reason == "corrupt-gzip"
    assert isinstance(_error(b"\x1f\x8b" + b"garbage" * 10), cr.CorruptGzip)


def test_truncated_gzip():
    good = S.log_bytes(S.GOOD_RECORDS)
    error = _error(good[: len(good) // 2])
    assert isinstance(error, cr.CorruptGzip)
    assert "truncated" in str(error)


def test_gzip_followed_by_garbage():
    assert isinstance(_error(S.log_bytes([S.CONSOLE_LOGIN]) + b"tail"), cr.CorruptGzip)


def test_not_json():
    for data in (b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>",
                 b"\x00\x01binary", b"Records", b"", b"   \n"):
        error = _error(data)
        assert isinstance(error, cr.NotJSON), data
        assert error.reason == "not-json"


@pytest.mark.parametrize("cut", [1, 12, 13, 300, 1000, -3, -2, -1])
def test_truncated_json(cut):
    text = S.log_text(S.GOOD_RECORDS).encode()
    error = _error(gzip.compress(text[:cut] if cut > 0 else text[:cut]))
    assert isinstance(error, (cr.TruncatedJSON, cr.MissingRecords)), error
    if cut > 13:
        assert isinstance(error, cr.TruncatedJSON)
        assert error.reason == "truncated" and error.offset is not None


def test_truncated_inside_a_string():
    text = S.log_text(S.GOOD_RECORDS).encode()
    cut = text.index(b"Mozilla") + 3
    assert isinstance(_error(text[:cut]), cr.TruncatedJSON)


def test_missing_records():
    for data in (b'{"records":[]}', b"{}", b'[{"eventTime":"2024-05-01T12:00:00Z"}]', b"42"):
        error = _error(data)
        assert isinstance(error, cr.MissingRecords), data
        assert error.reason == "no-records"


def test_malformed_shapes():
    for data in (
        b'{"Records":{"a":1}}',
        b'{"Records":[1,2]}',
        b'{"Records":[' + S.CONSOLE_LOGIN.encode() + b"]}trailing",
        b'{"Records":[' + S.CONSOLE_LOGIN.encode() + b" " + S.ASSUME_ROLE.encode() + b"]}",
        b'{"Records":[' + S.CONSOLE_LOGIN.encode() + b"}]}",
        b'{"Records":[' + S.CONSOLE_LOGIN.encode() + b"[" + S.ASSUME_ROLE.encode() + b"]}",
        b'{"Records":[' + S.CONSOLE_LOGIN.encode() + b",," + S.ASSUME_ROLE.encode() + b"]}",
        b'{"Records":[],"Records":[]}',
        b'{"Records" [] }',
    ):
        error = _error(data)
        assert isinstance(error, cr.MalformedLog), (data[:40], error)


def test_errors_never_return_partial_records():
    text = S.log_text(S.GOOD_RECORDS * 3).encode()
    with pytest.raises(cr.TruncatedJSON):
        cr.parse_log(text[:-40])


def test_too_large():
    data = gzip.compress(b" " * 5000 + S.log_text([S.CONSOLE_LOGIN]).encode())
    with pytest.raises(cr.LogTooLarge):
        cr.parse_log(data, max_size=1000)
    assert len(cr.parse_log(data, max_size=None).records) == 1


@pytest.mark.parametrize("members", [1, 3])
def test_a_decompression_bomb_is_stopped_at_the_cap_not_after(members):
    """200 KB of gzip that expands to 200 MB, with a 1 MB cap: refused having allocated
    about the cap (each inflate step is bounded by what is left of it), not the whole
    expansion of a compressed step (up to 1000 times 256 KB)."""
    import tracemalloc

    bomb = gzip.compress(b"\0" * (200 << 20), 9) * members
    tracemalloc.start()
    try:
        with pytest.raises(cr.LogTooLarge):
            cr.decompress(bomb, max_size=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def test_decompress_exactly_at_the_cap_and_across_members():
    text = S.log_text([S.CONSOLE_LOGIN]).encode()
    data = gzip.compress(text[:40]) + gzip.compress(text[40:]) + b"\0" * 8
    assert cr.decompress(data, max_size=len(text)) == text
    with pytest.raises(cr.LogTooLarge):
        cr.decompress(data, max_size=len(text) - 1)
    with pytest.raises(cr.LogTooLarge):
        cr.decompress(text, max_size=len(text) - 1)  # plain JSON is capped too


def test_decompress_passes_plain_data_through():
    assert cr.decompress(b'{"Records":[]}') == b'{"Records":[]}'
    raw = zlib.compress(b"x")  # zlib, not gzip: not ours to guess, returned as is
    assert cr.decompress(raw) == raw


# --------------------------------------------------------------------- LookupEvents


def test_parse_event_from_lookup_events():
    for text in S.GOOD_RECORDS:
        record = cr.parse_event(text)
        assert record.raw == text.encode("utf-8")
        assert record.time_ms == S.EXPECTED_MS[record.event_id]
    assert cr.parse_event(S.TAG_RESOURCES.encode()).raw == S.TAG_RESOURCES.encode()
    assert cr.parse_event(S.deep_record(60)).event_id == "deep-0001"


def test_parse_event_same_bytes_as_s3():
    from_s3 = cr.parse_log(S.log_bytes(S.GOOD_RECORDS)).records
    # botocore hands CloudTrailEvent over as a str decoded from the API's JSON.
    api_response = json.dumps({"Events": [{"CloudTrailEvent": t} for t in S.GOOD_RECORDS]})
    from_api = [cr.parse_event(e["CloudTrailEvent"]) for e in json.loads(api_response)["Events"]]
    assert from_api == from_s3


def test_parse_event_lone_surrogate_stays_valid_json():
    text = '{"eventTime":"2024-05-01T12:00:00Z","eventID":"s1","v":"a\ud800b"}'
    record = cr.parse_event(text)
    assert json.loads(record.raw)["v"] == "a\ud800b"


def test_parse_event_errors():
    with pytest.raises(cr.BadEventTime) as info:
        cr.parse_event(S.NO_EVENT_TIME)
    assert info.value.event_id == "2b1a0908-e7d6-4c5b-a493-827160504f09"
    assert info.value.reason == "bad-event-time"
    with pytest.raises(cr.NotJSON):
        cr.parse_event("")
    with pytest.raises(cr.NotJSON):
        cr.parse_event("[1]")
    with pytest.raises(cr.TruncatedJSON):
        cr.parse_event(S.CONSOLE_LOGIN[:-1])
    with pytest.raises(cr.MalformedLog):
        cr.parse_event(S.CONSOLE_LOGIN + "{}")


# --------------------------------------------------------------------- time


@pytest.mark.parametrize("text,expected", [
    ("2024-05-01T12:00:00Z", 1714564800000),
    ("2024-05-01T12:00:00.5Z", 1714564800500),
    ("2024-05-01T12:00:00.123Z", 1714564800123),
    ("2024-05-01T12:00:00.123999Z", 1714564800123),
    ("2024-05-01T12:00:00.999999999Z", 1714564800999),
    ("2024-05-01T14:00:00+02:00", 1714564800000),
    ("2024-05-01T07:30:00-0430", 1714564800000),
    ("2024-05-01T12:00:00", 1714564800000),
    ("2024-02-29T00:00:00Z", 1709164800000),
    ("1970-01-01T00:00:00Z", 0),
    ("1969-12-31T23:59:59.900Z", -100),
])
def test_parse_event_time(text, expected):
    assert cr.parse_event_time(text) == expected
    assert cr.parse_event_time(text.encode()) == expected


@pytest.mark.parametrize("text", [
    "2023-02-29T00:00:00Z", "2024-05-01 12:00:00Z", "2024-05-01T24:00:00Z",
    "2024-05-01T12:60:00Z", "2024-05-01T12:00:00ZZ", "yesterday", "", "2024-05-01",
    "2024-05-01T12:00:00+25:00",
])
def test_parse_event_time_rejects(text):
    with pytest.raises(ValueError):
        cr.parse_event_time(text)


def test_format_time():
    assert cr.format_time(1714564800123) == "1714564800.123"
    assert cr.format_time(5) == "0.005"
    assert cr.format_time(-100) == "-0.100"
    assert cr.format_time(-1500) == "-1.500"


# --------------------------------------------------------------------- crafted records

# A record whose eventTime/eventID key is repeated and which never closes: the fast pattern
# must fail on it.  Before the scanner matched each piece of a record one way only, every
# duplicate key doubled the ways a failing match tried (34 s at 22 keys, 4x per two more).
_CRAFTED = {
    "time": b'"eventTime":"",',
    "id": b'"eventID":"",',
    "spaced": b'"eventTime" : "" ,',
}


def crafted_log(keys, kind="time"):
    return b'{"Records":[{},{' + _CRAFTED[kind] * keys + b'"a"]}'


_SCAN_ALL_WAYS = r"""
import sys
from trailwatch.ingest import cloudtrail_records as cr, xml_stream as xs
data = sys.stdin.buffer.read()
for scan in (cr.parse_records, cr.split_records, cr.record_event_id,
             lambda d: xs.EventStreamWriter(open("/dev/null", "wb")).write_cloudtrail_log(d, "s")):
    try:
        scan(data)
        print("ok")
    except cr.CloudTrailFormatError as exc:
        print(exc.reason)
"""


def _scan_crafted(python, kind):
    import os
    import subprocess

    bin_dir = os.path.dirname(os.path.dirname(os.path.dirname(cr.__file__)))
    data = crafted_log(64, kind)
    try:
        done = subprocess.run([python, "-c", _SCAN_ALL_WAYS], input=data,
                              capture_output=True, timeout=60,
                              env=dict(os.environ, PYTHONPATH=bin_dir))
    except subprocess.TimeoutExpired:
        pytest.fail("scanning a %d-byte crafted log did not end" % len(data))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["truncated", "truncated", "ok", "truncated"]


@pytest.mark.parametrize("kind", sorted(_CRAFTED))
def test_a_crafted_record_with_64_duplicate_keys_is_refused_not_hung_on(kind):
    """The attack: 64 repeated keys in an unclosed record.  The scan ends (in a child
    process, so a regression fails here instead of hanging the suite; the 60 s guard is
    not a speed measurement: bench/bench_ingest.py prints the times) with the precise
    error, through every entry point that scans records."""
    import sys

    _scan_crafted(sys.executable, kind)


@pytest.mark.parametrize("kind", sorted(_CRAFTED))
def test_a_crafted_record_is_refused_on_splunk_pythons(splunk_python, kind):
    """The same on 3.9 (whose ``re`` has no possessive repeats) and 3.13."""
    _scan_crafted(splunk_python, kind)


def test_duplicate_keys_in_a_closed_record_still_parse():
    data = b'{"Records":[{"eventTime":"2024-05-01T00:00:00Z","eventID":"a",' + \
        b'"eventTime":"2024-05-01T00:00:01Z","eventID":"b","eventTime" : "2024-05-01T00:00:02Z"}]}'
    log = cr.parse_records(data)
    assert [r.raw for r in log.records] == [data[12:-2]]
    # The last duplicate wins, as in json.loads.
    assert log.records[0].event_id == "b"
    assert log.records[0].time_ms == cr.parse_event_time("2024-05-01T00:00:02Z")
