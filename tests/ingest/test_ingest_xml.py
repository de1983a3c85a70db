"""xml_stream: the modular-input event stream, checked against splunklib and an XML parser."""

import gzip
import io
import json
import xml.etree.ElementTree as ET

import pytest

import ingest_samples as S
from trailwatch.ingest import cloudtrail_records as cr
from trailwatch.ingest import xml_stream as xs


def _write(fn, **kwargs):
    out = io.BytesIO()
    writer = xs.EventStreamWriter(out, **kwargs)
    result = fn(writer)
    writer.close()
    return out.getvalue(), result


def _events(stream):
    """Parse a stream (bytes or str) into [(attributes, [(tag, text)])]."""
    if isinstance(stream, bytes):
        root = ET.fromstring(stream)
    else:
        root = ET.fromstring(stream.encode("utf-8"))
    assert root.tag == "stream"
    return [(dict(e.attrib), [(c.tag, c.text) for c in e]) for e in root]


def _data_bytes(stream):
    return [e.find("data").text.encode("utf-8") for e in ET.fromstring(stream)]


# --------------------------------------------------------------------- S3 fast path


def test_log_round_trips_byte_identical_through_xml():
    records = S.GOOD_RECORDS
    stream, result = _write(lambda w: w.write_cloudtrail_log(
        S.log_bytes(records), source="s3://trail-bucket/AWSLogs/210987654321/x.json.gz",
        index="aws", host="hf-01"))
    assert result.written == len(records) and result.skipped == [] and result.repaired == 0
    assert _data_bytes(stream) == [t.encode("utf-8") for t in records]
    events = _events(stream)
    expected_times = [cr.parse_event(t).time_text for t in records]
    for (attrs, children), when in zip(events, expected_times, strict=True):
        assert attrs == {"unbroken": "1"}
        assert [tag for tag, _ in children] == [
            "time", "source", "sourcetype", "index", "host", "data", "done"]
        assert dict(children)["time"] == when
        assert dict(children)["sourcetype"] == "aws:cloudtrail"


def test_xml_special_characters_are_escaped():
    stream, _ = _write(lambda w: w.write_cloudtrail_log(
        S.log_bytes([S.TAG_RESOURCES, S.SERVICE_EVENT]), source="s3://b/k&<x>.json.gz"))
    assert b"<ui&amp;v2>" not in stream and b"&lt;ui&amp;v2&gt;" in stream
    assert _data_bytes(stream) == [S.TAG_RESOURCES.encode(), S.SERVICE_EVENT.encode()]
    assert dict(_events(stream)[0][1])["source"] == "s3://b/k&<x>.json.gz"
    assert "🚀".encode() in stream  # UTF-8 output, not character references


def test_skipped_records_are_reported_and_not_written():
    stream, result = _write(lambda w: w.write_cloudtrail_log(
        S.log_bytes(S.ALL_RECORDS), source="s3://b/k"))
    assert result.written == 7
    assert [(s.index, s.event_id) for s in result.skipped] == [
        (5, "2b1a0908-e7d6-4c5b-a493-827160504f09"),
        (7, "1a090807-d6c5-4b4a-9382-716050403f10"),
    ]
    assert all("eventTime" in s.reason for s in result.skipped)
    assert result.skipped[0].size == len(S.NO_EVENT_TIME.encode())
    assert len(_events(stream)) == 7


def test_crlf_whitespace_and_escaped_quotes_survive():
    text = json.dumps({"Records": [json.loads(t) for t in S.GOOD_RECORDS]}, indent=1,
                      ensure_ascii=False).replace("\n", "\r\n")
    records = [r.raw for r in cr.parse_log(text.encode()).records]
    assert b"\r\n" in records[0]
    stream, _ = _write(lambda w: w.write_cloudtrail_log(text.encode(), source="s3://b/k"))
    assert b"&#13;" in stream
    assert _data_bytes(stream) == records


def test_characters_xml_forbids_become_json_escapes():
    # U+FFFF is valid raw in JSON but forbidden in XML; a raw control character is invalid
    # JSON already (json.loads(strict=False) reads it).
    record = ('{"eventTime":"2024-05-01T12:00:00Z","eventID":"c1",'
              '"a":"bell\x07 and \uffff and \ufffe","b":"tab\tok"}')
    stream, result = _write(lambda w: w.write_cloudtrail_log(
        S.log_bytes([record]), source="s3://b/k"))
    assert result.repaired == 3
    data = _data_bytes(stream)[0]
    assert json.loads(data, strict=False) == json.loads(record, strict=False)
    assert b"\\u0007" in data and b"\\uffff" in data and b"\t" in data


@pytest.mark.parametrize("text", ["🚀", "é", "日本", "\U0001f680x"])
def test_multibyte_characters_across_validation_chunks(text):
    # Several MB of non-ASCII text: UTF-8 is validated in 1 MB steps, which must not split
    # a character (whatever its length and alignment).
    records = [S.TAG_RESOURCES.replace("Zoë", text * (3000 + i)) for i in range(300)]
    stream, result = _write(lambda w: w.write_cloudtrail_log(S.log_bytes(records), source="s3://b/k"))
    assert result.repaired == 0 and result.written == 300
    assert _data_bytes(stream) == [t.encode("utf-8") for t in records]


def test_invalid_utf8_is_replaced_and_counted():
    raw = S.log_text([S.CONSOLE_LOGIN]).encode().replace(b"ana.souza", b"ana\xff\xfesouza", 1)
    stream, result = _write(lambda w: w.write_cloudtrail_log(raw, source="s3://b/k"))
    assert result.repaired == 2
    data = _data_bytes(stream)[0]
    assert json.loads(data)["userIdentity"]["principalId"] == "AIDA2EXAMPLEUSERID01"
    assert json.loads(data)["userIdentity"]["arn"].endswith("user/ana\ufffd\ufffdsouza")


def test_corrupt_file_writes_nothing():
    out = io.BytesIO()
    writer = xs.EventStreamWriter(out)
    writer.write_cloudtrail_log(S.log_bytes([S.CONSOLE_LOGIN]), source="s3://b/ok")
    writer.flush()
    before = out.getvalue()
    good = S.log_text(S.GOOD_RECORDS).encode()
    for bad in (gzip.compress(good)[:-30], good[:-10], b"<html>", b'{"nope":[]}'):
        with pytest.raises(cr.CloudTrailFormatError):
            writer.write_cloudtrail_log(bad, source="s3://b/bad")
        writer.flush()
        assert out.getvalue() == before
    writer.close()
    assert len(_events(out.getvalue())) == 1


def test_many_records_span_batches_and_buffer_flushes():
    records = [S.CONSOLE_LOGIN.replace("5d01", "%04d" % i) for i in range(5000)]
    out = io.BytesIO()
    writer = xs.EventStreamWriter(out, buffer_bytes=64 * 1024)
    result = writer.write_cloudtrail_log(S.log_bytes(records), source="s3://b/k")
    assert result.written == 5000
    assert len(out.getvalue()) > 0  # the buffer limit made it write before flush()
    writer.close()
    assert _data_bytes(out.getvalue()) == [t.encode() for t in records]


def test_nothing_reaches_the_output_before_flush_when_small():
    out = io.BytesIO()
    writer = xs.EventStreamWriter(out)
    writer.write_cloudtrail_log(S.log_bytes([S.CONSOLE_LOGIN]), source="s3://b/k")
    assert out.getvalue() == b""
    writer.flush()
    assert out.getvalue().startswith(b"<stream><event")
    assert not out.getvalue().endswith(b"</stream>")
    writer.close()
    writer.close()
    assert out.getvalue().endswith(b"<done/></event></stream>")
    assert out.getvalue().count(b"</stream>") == 1


def test_empty_stream_writes_nothing():
    assert _write(lambda w: None)[0] == b""


def test_write_records_for_lookup_events():
    records = [cr.parse_event(t) for t in S.GOOD_RECORDS]
    stream, count = _write(lambda w: w.write_records(
        records, source="aws_cloudtrail_api:210987654321:us-east-1", index="aws"))
    assert count == len(records)
    assert _data_bytes(stream) == [t.encode() for t in S.GOOD_RECORDS]


def test_write_records_matches_the_fast_path():
    data = S.log_bytes(S.GOOD_RECORDS)
    fast, _ = _write(lambda w: w.write_cloudtrail_log(data, source="s3://b/k", index="i"))
    slow, _ = _write(lambda w: w.write_records(
        cr.parse_log(data).records, source="s3://b/k", index="i"))
    assert _events(fast) == _events(slow)


def test_closed_writer_refuses_events():
    out = io.BytesIO()
    writer = xs.EventStreamWriter(out)
    writer.close()
    with pytest.raises(ValueError):
        writer.write_event("x")


# --------------------------------------------------------------------- splunklib equivalence


def _splunklib_stream(events):
    from splunklib.modularinput.event import Event
    from splunklib.modularinput.event_writer import EventWriter

    out = io.StringIO()
    err = io.StringIO()
    writer = EventWriter(output=out, error=err)
    for kwargs in events:
        writer.write_event(Event(**kwargs))
    writer.close()
    return out.getvalue()


def _our_stream(events):
    def run(writer):
        for kwargs in events:
            kwargs = dict(kwargs)
            writer.write_event(kwargs.pop("data"), **kwargs)
    return _write(run)[0]


SPLUNKLIB_CASES = [
    dict(data=S.CONSOLE_LOGIN, time="1714564800.000", source="s3://b/k", sourcetype="aws:cloudtrail",
         index="main"),
    dict(data=S.TAG_RESOURCES, time="%.3f" % 1714564803.007, source="s3://b/a&b <c>",
         sourcetype="aws:cloudtrail", index="aws", host="hf-01.example.com"),
    dict(data="plain text with <tags> & ampersands", stanza="aws_cloudtrail_sqs://q1"),
    dict(data=S.CREATE_POLICY, time="1714564802.000", sourcetype="aws:cloudtrail",
         unbroken=False, done=False),
    dict(data="ünïcødé ☃ 🚀", source="s3://b/ü", time="0.001"),
]


def test_events_are_equivalent_to_splunklib():
    ours = _our_stream(SPLUNKLIB_CASES)
    theirs = _splunklib_stream(SPLUNKLIB_CASES)
    assert _events(ours) == _events(theirs)
    assert len(_events(ours)) == len(SPLUNKLIB_CASES)


def test_cloudtrail_log_is_equivalent_to_splunklib_per_record():
    data = S.log_bytes(S.GOOD_RECORDS)
    ours, _ = _write(lambda w: w.write_cloudtrail_log(
        data, source="s3://trail/AWSLogs/x.json.gz", index="aws"))
    theirs = _splunklib_stream([
        dict(data=r.raw.decode("utf-8"), time=r.time_text, source="s3://trail/AWSLogs/x.json.gz",
             sourcetype="aws:cloudtrail", index="aws")
        for r in cr.parse_log(data).records
    ])
    assert _events(ours) == _events(theirs)


def test_time_argument_forms():
    stream, _ = _write(lambda w: (w.write_event("a", time=1714564800.1234),
                                  w.write_event("b", time=1714564800),
                                  w.write_event("c", time="1714564800.5")))
    assert [dict(c)["time"] for _, c in _events(stream)] == [
        "1714564800.123", "1714564800.000", "1714564800.5"]


def test_escape_text_drops_forbidden_characters():
    assert xs.escape_text("a\x00b\uffff<c>&d\re") == b"ab&lt;c&gt;&amp;d&#13;e"
