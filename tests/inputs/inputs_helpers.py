"""Helpers of the input tests: running an input as splunkd does (tools/splunk_runner/modinput.py,
shared with the demo and the benchmarks) plus what only the tests need: snapshot runs with
their checks, SIGTERM and crash loops, CloudTrail records, log files and notifications.
"""
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from addon import APP_BIN  # noqa: E402
from splunk_runner.modinput import (  # noqa: E402,F401
    ACCOUNT_CONF,
    KEY_ID,
    SECRET,
    event_ids,
    input_definition,
    input_env,
    install_app,
    make_splunk_home,
    parse_stream,
    run_input,
    script_args,
    store_account,
    validation_definition,
)

ACCOUNT_ID = "123456789012"
COLLECTION = "trailwatch_input_checkpoints"


# ---------------------------------------------------------------------------- runs
def run_snapshot(splunkd, tmp_path, splunk_home, url, input_type, name, sourcetype, key,
                 python=sys.executable):
    """One run of a snapshot input (S3 posture, IAM inventory) into index aws, as splunkd runs
    it: it must exit 0 with nothing on stderr, and every event must carry the snapshot
    sourcetype, the source <input type>:<account id>, the index and a current time. Returns
    the events' JSON by ``key`` (bucket_name, user_name)."""
    stdin = input_definition(splunkd, input_type, name, {"account": "prod", "index": "aws"},
                             tmp_path)
    result = run_input(python, input_type, stdin, input_env(splunk_home, url))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", result.stderr.decode()
    events = parse_stream(result.stdout)
    for event in events:
        assert event["sourcetype"] == sourcetype
        assert event["source"] == "%s:123456789012" % input_type
        assert event["index"] == "aws"
        assert abs(float(event["time"]) - time.time()) < 120
    return {json.loads(e["data"])[key]: json.loads(e["data"]) for e in events}


def start_input(python, input_type, stdin, env, stdout):
    """Start an input as splunkd does, stdout to a file (so a SIGKILL loses nothing read)."""
    proc = subprocess.Popen(script_args(python, input_type), stdin=subprocess.PIPE,
                            stdout=stdout, stderr=subprocess.PIPE, cwd=APP_BIN, env=env)
    proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


def stop_with_sigterm(input_type, stdin, env, out_path, python=sys.executable):
    """Start an input as splunkd does, send SIGTERM (Splunk stopping it) once it has written
    its first event, and wait for it. The input must exit 0. Returns (events it wrote,
    seconds it took to stop); a clean stop closes the XML stream."""
    with open(out_path, "wb") as out:
        proc = start_input(python, input_type, stdin, env, out)
        assert _first_event_written(proc, out_path, 60), proc.stderr.read().decode()  # working
        proc.send_signal(signal.SIGTERM)
        started = time.time()
        assert proc.wait(30) == 0, proc.stderr.read().decode()
        stopped_in = time.time() - started
        proc.stderr.close()
    data = open(out_path, "rb").read()
    events = parse_stream(data)
    assert data.rstrip().endswith(b"</stream>"), data[-300:]
    return events, stopped_in


def crash_loop(out_dir, input_type, stdin, env, expected, kill_runs, kill_after, max_runs,
               done, python=sys.executable):
    """Run an input again and again as splunkd does after crashes: each of the first
    `kill_runs` runs is SIGKILLed a random `kill_after` (low, high) seconds after it has
    written its first event, unless it has ended; the runs after those go to their end until
    ``done(exit_status, ids)`` says the work is over (it may wait, e.g. for messages to come
    back), at most `max_runs` runs in all.

    The kill points are counted from the first event, not from the start, so that they fall
    in the run's work however long the interpreter takes to start (on a loaded machine,
    longer than `kill_after` itself). Fails unless a kill cut a run that had written events
    (else the test tested nothing).
    Returns (ids of `expected` never delivered, count of duplicate deliveries)."""
    random = rng()
    delivered = []
    runs = []  # (exit status, events written) per run
    kills = 0
    for attempt in range(max_runs):
        out_path = out_dir / ("out-%d.xml" % attempt)
        with open(out_path, "wb") as out:
            proc = start_input(python, input_type, stdin, env, out)
            if attempt < kill_runs and _first_event_written(proc, out_path):
                time.sleep(random.uniform(*kill_after))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
            proc.wait(120)
            proc.stderr.close()
        with open(out_path, "rb") as handle:
            ids = event_ids(parse_stream(handle.read()))
        delivered.extend(ids)
        runs.append((proc.returncode, len(ids)))
        if attempt >= kill_runs and done(proc.returncode, ids):
            break
    assert kills >= 1 and any(status == -9 and count for status, count in runs), runs
    duplicates = len(delivered) - len(set(delivered))
    print("%s crash test: runs (status, events) %s, %d duplicates"
          % (input_type, runs, duplicates))
    return set(expected) - set(delivered), duplicates


def _first_event_written(proc, out_path, wait=120):
    """Waits until the input's output holds a whole event: True, or False when the run ended
    first."""
    deadline = time.time() + wait
    while True:
        with open(out_path, "rb") as handle:
            if b"</event>" in handle.read():
                return True
        if proc.poll() is not None:
            return False
        assert time.time() < deadline, "the input wrote no event in %d s" % wait
        time.sleep(0.02)


def read_log(splunk_home, input_type, name):
    path = os.path.join(str(splunk_home), "var", "log", "splunk",
                        "ta-trailwatch_%s_%s.log" % (input_type, name))
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as handle:
        return handle.read()


# ---------------------------------------------------------------------------- records
def make_record(event_id, when, region="us-east-1", name="GetObject", style=0, extra=None):
    """One CloudTrail record as text; ``style`` varies the formatting (the input must keep
    whatever bytes it is given)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
    stamp += ".%03dZ" % (int(when * 1000) % 1000) if style % 3 == 1 else "Z"
    record = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn":
                         "arn:aws:iam::%s:user/bob" % ACCOUNT_ID, "accountId": ACCOUNT_ID,
                         "userName": "bob"},
        "eventTime": stamp, "eventSource": "s3.amazonaws.com", "eventName": name,
        "awsRegion": region, "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-sdk-java/1.12 \u00e9t\u00e9 <&>",
        "requestParameters": {"bucketName": "data", "key": "a/b \"c\".txt"},
        "responseElements": None, "eventID": event_id, "readOnly": True,
        "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT_ID,
    }
    if extra:
        record.update(extra)
    if style % 2 == 0:
        return json.dumps(record, separators=(",", ":"))
    return json.dumps(record, ensure_ascii=False)


def log_file(records):
    """A CloudTrail log file (gzip) holding the given record texts."""
    body = '{"Records":[' + ",".join(records) + "]}"
    return gzip.compress(body.encode("utf-8"))


def log_key(region, when, index, account=ACCOUNT_ID, prefix="trail"):
    day = time.strftime("%Y/%m/%d", time.gmtime(when))
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(when))
    return "%s/AWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%04d%s.json.gz" % (
        prefix, account, region, day, account, region, stamp, index, uuid.uuid4().hex[:8])


def s3_notification(bucket, key, size=1000):
    from urllib.parse import quote_plus

    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": "arn:aws:s3:::" + bucket},
               "object": {"key": quote_plus(key, safe="/"), "size": size}},
    }]})


def sns_wrapped(message):
    return json.dumps({"Type": "Notification", "MessageId": str(uuid.uuid4()),
                       "TopicArn": "arn:aws:sns:us-east-1:%s:cloudtrail" % ACCOUNT_ID,
                       "Message": message, "Timestamp": "2024-05-01T12:00:00.000Z"})


def cloudtrail_notification(bucket, keys):
    return json.dumps({"s3Bucket": bucket, "s3ObjectKey": list(keys)})


def random_delay(rng, low, high):
    return low + rng.random() * (high - low)


def rng(seed=None):
    return random.Random(seed if seed is not None else int(time.time()))
