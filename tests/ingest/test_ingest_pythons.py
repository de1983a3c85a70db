"""The ingest modules on the interpreters Splunk runs them with (3.9 and 3.13).

The rest of tests/ingest runs on the test venv's Python; this runs the core checks in a
subprocess of each Splunk Python, importing the modules from the built add-on's bin/.
"""

import os
import subprocess
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
# The built add-on's bin/ (as tests/conftest.py puts on sys.path); not imported from
# conftest because several conftest modules share that name in a full run.
APP_BIN = os.path.join(os.path.dirname(os.path.dirname(HERE)), "output", "TA-trailwatch", "bin")

SCRIPT = textwrap.dedent(r'''
    import gzip, io, json, random, sys
    import xml.etree.ElementTree as ET
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import ingest_samples as S
    from trailwatch.ingest import cloudtrail_records as cr, xml_stream as xs
    from trailwatch.ingest import sqs_messages as sq, lookup_window as lw

    records = S.ALL_RECORDS + [S.deep_record(cr.MAX_FAST_DEPTH + 4)]
    log = cr.parse_log(S.log_bytes(records))
    good = [t for t in records if t not in (S.NO_EVENT_TIME, S.NULL_EVENT_TIME)]
    assert [r.raw for r in log.records] == [t.encode() for t in good], "byte identity"
    assert [s.index for s in log.skipped] == [5, 7], log.skipped
    for r in log.records:
        if r.event_id in S.EXPECTED_MS:
            assert r.time_ms == S.EXPECTED_MS[r.event_id], r.event_id
    pretty = json.dumps({"Records": [json.loads(t) for t in good]}, indent=2).encode()
    assert [json.loads(r.raw) for r in cr.parse_log(pretty).records] == [json.loads(t) for t in good]
    assert cr.split_records(S.log_text(good).encode()) == [t.encode() for t in good]
    for bad, kind in ((b"\x1f\x8bxx", cr.CorruptGzip), (b"<html>", cr.NotJSON),
                      (S.log_text(good).encode()[:-5], cr.TruncatedJSON),
                      (b'{"x":[]}', cr.MissingRecords)):
        try:
            cr.parse_log(bad)
        except kind:
            pass
        else:
            raise AssertionError(kind)
    assert cr.parse_event(S.TAG_RESOURCES).raw == S.TAG_RESOURCES.encode()
    assert cr.parse_event_time("2024-05-01T12:00:00.123456Z") == 1714564800123

    out = io.BytesIO()
    with xs.EventStreamWriter(out) as writer:
        result = writer.write_cloudtrail_log(S.log_bytes(records), source="s3://b/k&k", index="aws")
        writer.write_records(log.records[:2], source="aws_cloudtrail_api:1:us-east-1")
    assert result.written == len(good) and len(result.skipped) == 2
    data = [e.find("data").text.encode() for e in ET.fromstring(out.getvalue())]
    assert data == [t.encode() for t in good] + [t.encode() for t in good[:2]]

    body = json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "t",
                       "Message": json.dumps({"s3Bucket": "b", "s3ObjectKey": [
                           "AWSLogs/o-a1b2c3d4e5/210987654321/CloudTrail/us-east-1/2024/05/01/f.json.gz",
                           "AWSLogs/210987654321/CloudTrail-Digest/us-east-1/2024/05/01/d.json.gz"]})})
    parsed = sq.parse_message(body)
    assert parsed.shape == "sns/cloudtrail" and len(parsed.objects) == 1 and len(parsed.ignored) == 1

    class Clock:
        now = 0.0
        def sleep(self, s):
            self.now += s
    clock = Clock()
    bucket = lw.TokenBucket(rate=2, clock=lambda: clock.now, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    assert abs(clock.now - 2.0) < 1e-9, clock.now
    window = lw.next_window(None, 1714564800)
    assert window.start == 1714564800 - 7 * 86400 and window.first_run
    checkpoint = lw.advance_checkpoint(None, window, log.records)
    assert json.loads(json.dumps(checkpoint)) == checkpoint
    print("OK %d.%d" % sys.version_info[:2])
''')


def test_core_checks_on_splunk_pythons(splunk_python, tmp_path):
    script = tmp_path / "check_ingest.py"
    script.write_text(SCRIPT)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [splunk_python, str(script), APP_BIN, HERE], capture_output=True, text=True,
        timeout=120, env=env, cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("OK "), proc.stdout


def test_modules_compile_for_python_3_9_grammar(splunk_python, tmp_path):
    """Byte-compile every ingest module with the Splunk interpreter (syntax check)."""
    folder = os.path.join(APP_BIN, "trailwatch", "ingest")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".py"))
    code = ("import sys, py_compile\n"
            "for path in sys.argv[1:]:\n"
            "    py_compile.compile(path, cfile=path + '.check', doraise=True)\n")
    copies = []
    for name in names:
        target = tmp_path / name
        with open(os.path.join(folder, name), "rb") as src:
            target.write_bytes(src.read())
        copies.append(str(target))
    proc = subprocess.run([splunk_python, "-c", code] + copies, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
