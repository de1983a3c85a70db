"""aws_cloudtrail_sqs, run from the built add-on as splunkd runs it: SQS and S3 answered by
moto on 127.0.0.1, configuration and KV store by the splunkd double."""
import gzip
import json
import sys
import time
import uuid

import boto3
import pytest
from inputs_helpers import (
    ACCOUNT_ID,
    COLLECTION,
    cloudtrail_notification,
    crash_loop,
    event_ids,
    input_definition,
    input_env,
    log_file,
    log_key,
    make_record,
    parse_stream,
    read_log,
    run_input,
    s3_notification,
    sns_wrapped,
    start_input,
    stop_with_sigterm,
)

INPUT = "aws_cloudtrail_sqs"
BUCKET = "trail-bucket"


class Trail(object):
    """A trail bucket and its notification queue in moto."""

    def __init__(self, url, visibility=30):
        kwargs = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                      aws_secret_access_key="setup-secret-not-checked")
        self.s3 = boto3.client("s3", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)
        self.s3.create_bucket(Bucket=BUCKET)
        self.queue_name = "ct-" + uuid.uuid4().hex[:8]
        self.queue_url = self.sqs.create_queue(
            QueueName=self.queue_name,
            Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]
        self.records = {}  # eventID -> record text
        self.sources = {}  # eventID -> s3://bucket/key

    def put_log(self, count, region="us-east-1", when=None, notify=True, wrap=None, extra=None):
        when = when or time.time() - 3600
        ids = [str(uuid.uuid4()) for _ in range(count)]
        texts = [make_record(event_id, when + i, region=region, style=i, extra=extra)
                 for i, event_id in enumerate(ids)]
        key = log_key(region, when, len(self.sources))
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=log_file(texts))
        for event_id, text in zip(ids, texts, strict=True):
            self.records[event_id] = text
            self.sources[event_id] = "s3://%s/%s" % (BUCKET, key)
        if notify:
            self.notify(key, wrap)
        return key

    def put_object(self, key, body, notify=True, bucket=BUCKET):
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)
        if notify:
            self.notify(key, bucket=bucket)

    def notify(self, key, wrap=None, bucket=BUCKET, size=1000):
        body = s3_notification(bucket, key, size)
        if wrap == "sns":
            body = sns_wrapped(body)
        elif wrap == "cloudtrail":
            body = sns_wrapped(cloudtrail_notification(BUCKET, [key]))
        self.send(body)

    def send(self, body):
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def queue_counts(self):
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return (int(attributes["ApproximateNumberOfMessages"]),
                int(attributes["ApproximateNumberOfMessagesNotVisible"]))


@pytest.fixture
def trail(moto):
    return Trail(moto.url)


def definition(splunkd, tmp_path, trail, name="sqs", **params):
    full = {"account": "prod", "queue_url": trail.queue_url, "sqs_region": "us-east-1",
            "batch_size": "10", "visibility_timeout": "30", "index": "cloudtrail"}
    full.update(params)
    return input_definition(splunkd, INPUT, name, full, tmp_path)


def run(splunkd, tmp_path, splunk_home, moto, trail, python=sys.executable, name="sqs",
        **params):
    result = run_input(python, INPUT, definition(splunkd, tmp_path, trail, name, **params),
                       input_env(splunk_home, moto.url))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", result.stderr.decode()
    return parse_stream(result.stdout)


def test_every_record_of_every_notified_log_is_written_unchanged(
        installed, tmp_path, splunk_home, moto, trail):
    trail.put_log(120)
    trail.put_log(30, region="eu-west-1", wrap="sns")
    trail.put_log(7, wrap="cloudtrail")
    events = run(installed, tmp_path, splunk_home, moto, trail)
    assert sorted(event_ids(events)) == sorted(trail.records)
    for event in events:
        record = json.loads(event["data"])
        assert event["data"] == trail.records[record["eventID"]]  # byte-identical
        assert event["source"] == trail.sources[record["eventID"]]
        assert event["sourcetype"] == "aws:cloudtrail"
        assert event["index"] == "cloudtrail"
        when = float(event["time"])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
        assert record["eventTime"].startswith(stamp)
        if "." in record["eventTime"]:
            assert record["eventTime"][20:23] == event["time"][-3:]  # milliseconds kept
    assert trail.queue_counts() == (0, 0)  # every message deleted
    log = read_log(splunk_home, INPUT, "sqs")
    assert "3 log files, 157 events" in log
    assert "action=events_ingested" in log and "ERROR" not in log
    assert installed.kv_records(COLLECTION) == []  # file marks cleared once deleted


def test_test_events_digests_and_other_keys_are_ignored_and_deleted(
        installed, tmp_path, splunk_home, moto, trail):
    trail.send(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}))
    digest = "trail/AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/01/x.json.gz"
    trail.put_object(digest, b"{}")
    trail.put_object("exports/report.csv", b"a,b")
    key = trail.put_log(3)
    events = run(installed, tmp_path, splunk_home, moto, trail)
    assert sorted(event_ids(events)) == sorted(trail.records)
    assert {e["source"] for e in events} == {"s3://%s/%s" % (BUCKET, key)}
    assert trail.queue_counts() == (0, 0)


# mtime=0: the same bytes, so the same test ids, in every pytest-xdist worker.
@pytest.mark.parametrize("body, reason", [
    (b"\x1f\x8b\x08\x00garbage-that-is-not-deflate", "corrupt-gzip"),
    (gzip.compress(b"<html>not json</html>", mtime=0), "not-json"),
    (gzip.compress(b'{"Records":[{"eventTime":"2024-05-01T00:00:00Z","eventID":"a"},{"eventT',
                   mtime=0), "truncated"),
])
def test_a_corrupt_log_is_reported_with_bucket_and_key_and_left_for_redrive(
        body, reason, installed, tmp_path, splunk_home, moto, trail):
    good = trail.put_log(5)
    bad = log_key("us-east-1", time.time(), 99)
    trail.put_object(bad, body)
    trail.put_log(4)
    events = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5")
    assert sorted(event_ids(events)) == sorted(trail.records)  # nothing valid lost
    assert good
    log = read_log(splunk_home, INPUT, "sqs")
    assert "bucket %s, key %s" % (BUCKET, bad) in log and "(%s)" % reason in log
    assert "stays in the queue" in log
    assert trail.queue_counts() == (0, 1)  # the bad one's message is still in the queue


def test_records_without_event_time_are_logged_and_the_rest_written(
        installed, tmp_path, splunk_home, moto, trail):
    ok = make_record("has-time", time.time() - 60)
    no_time = '{"eventID":"no-time","eventName":"GetObject","recipientAccountId":"%s"}' % ACCOUNT_ID
    bad_time = '{"eventID":"bad-time","eventTime":"yesterday","recipientAccountId":"%s"}' % ACCOUNT_ID
    huge = make_record("huge", time.time() - 30, extra={"blob": "y" * 3000000})
    key = log_key("us-east-1", time.time(), 7)
    trail.put_object(key, log_file([ok, no_time, bad_time, huge]))
    events = run(installed, tmp_path, splunk_home, moto, trail)
    assert event_ids(events) == ["has-time", "huge"]
    assert events[1]["data"] == huge
    log = read_log(splunk_home, INPUT, "sqs")
    assert "(eventID no-time)" in log and "(eventID bad-time)" in log
    assert trail.queue_counts() == (0, 0)


def test_a_message_that_is_not_a_notification_is_left_for_redrive(
        installed, tmp_path, splunk_home, moto, trail):
    trail.send("hello, not json")
    trail.put_log(2)
    events = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5")
    assert len(events) == 2
    log = read_log(splunk_home, INPUT, "sqs")
    assert "is not an S3, SNS or CloudTrail notification" in log
    assert trail.queue_counts() == (0, 1)


def test_a_message_announcing_a_missing_object_is_left_for_redrive(
        installed, tmp_path, splunk_home, moto, trail):
    trail.notify(log_key("us-east-1", time.time(), 5))  # never uploaded
    events = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5")
    assert events == []
    log = read_log(splunk_home, INPUT, "sqs")
    assert "s3:GetObject on s3://%s/" % BUCKET in log and "NoSuchKey" in log
    assert trail.queue_counts() == (0, 1)


def test_a_message_coming_back_does_not_write_files_twice(
        installed, tmp_path, splunk_home, moto, trail):
    """A message announcing two files, one corrupt: the good file is written once, however
    often the message comes back."""
    good = trail.put_log(6, notify=False)
    bad = log_key("us-east-1", time.time(), 42)
    trail.put_object(bad, b"\x1f\x8bbroken", notify=False)
    trail.send(sns_wrapped(cloudtrail_notification(BUCKET, [good, bad])))
    first = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5")
    assert len(first) == 6
    time.sleep(5.5)
    second = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5")
    assert second == []
    assert "was already written" in read_log(splunk_home, INPUT, "sqs")
    # The admin fixes the object: the message completes and is deleted.
    trail.s3.put_object(Bucket=BUCKET, Key=bad, Body=log_file([make_record("fixed", time.time())]))
    time.sleep(5.5)
    third = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5")
    assert event_ids(third) == ["fixed"]
    assert trail.queue_counts() == (0, 0)
    assert installed.kv_records(COLLECTION) == []


def test_visibility_is_extended_while_a_message_is_worked_on(moto, trail):
    """The keeper of the built add-on, against moto's SQS: a message held past its
    visibility timeout is not handed to another reader; released, it comes back."""
    import logging

    from trailwatch.ingest.cloudtrail_sqs import VisibilityKeeper

    trail.send("held message")
    received = trail.sqs.receive_message(QueueUrl=trail.queue_url, VisibilityTimeout=2,
                                         MaxNumberOfMessages=1)["Messages"]
    keeper = VisibilityKeeper(trail.sqs, trail.queue_url, 2, logging.getLogger("test"))
    keeper.hold(received)
    keeper.start()
    try:
        time.sleep(4.5)  # more than twice the timeout
        again = trail.sqs.receive_message(QueueUrl=trail.queue_url, MaxNumberOfMessages=1)
        assert "Messages" not in again
        assert keeper.extensions >= 2
        keeper.release(received[0])
        time.sleep(2.5)
        again = trail.sqs.receive_message(QueueUrl=trail.queue_url, MaxNumberOfMessages=1)
        assert [m["Body"] for m in again["Messages"]] == ["held message"]
    finally:
        keeper.stop()


def test_two_inputs_on_one_queue_deliver_every_record(
        installed, tmp_path, splunk_home, moto, trail):
    for i in range(24):
        trail.put_log(50 + i, wrap="sns" if i % 3 == 0 else None)
    env = input_env(splunk_home, moto.url)
    procs = []
    for name in ("fwd1", "fwd2"):
        out = open(tmp_path / (name + ".xml"), "wb")
        stdin = definition(installed, tmp_path, trail, name, batch_size="2")
        procs.append((name, out, start_input(sys.executable, INPUT, stdin, env, out)))
    delivered = []
    per_reader = {}
    for name, out, proc in procs:
        proc.wait(180)
        proc.stderr.close()
        out.close()
        with open(tmp_path / (name + ".xml"), "rb") as handle:
            ids = event_ids(parse_stream(handle.read()))
        per_reader[name] = len(ids)
        delivered.extend(ids)
    assert sorted(set(delivered)) == sorted(trail.records)
    assert len(delivered) == len(trail.records), "duplicates: %d" % (
        len(delivered) - len(set(delivered)))
    assert all(per_reader.values()), per_reader  # both did part of the work
    assert trail.queue_counts() == (0, 0)


def test_sigterm_finishes_the_file_at_hand_and_loses_nothing(
        installed, tmp_path, splunk_home, moto, trail):
    """Splunk stops an input with SIGTERM: it ends promptly, having written whole files only;
    the next run delivers the rest."""
    for _ in range(24):
        trail.put_log(1000)
    env = input_env(splunk_home, moto.url)
    stdin = definition(installed, tmp_path, trail, batch_size="1", visibility_timeout="5")
    first, stopped_in = stop_with_sigterm(INPUT, stdin, env, tmp_path / "first.xml")
    assert 0 < len(first) < len(trail.records) and len(first) % 1000 == 0
    assert stopped_in < 10
    time.sleep(5.5)  # a message received but not started comes back after its timeout
    second = run(installed, tmp_path, splunk_home, moto, trail)
    delivered = event_ids(first) + event_ids(second)
    assert sorted(delivered) == sorted(trail.records)  # everything, once


def test_every_aws_call_goes_through_the_configured_proxy(
        installed, tmp_path, splunk_home, moto, trail):
    from http_proxy import ForwardProxy, save_proxy_settings

    proxy = ForwardProxy(credentials=("tw-proxy", "Proxy-Pass-0001"))
    try:
        save_proxy_settings(installed, "127.0.0.1", proxy.port, "tw-proxy", "Proxy-Pass-0001")
        trail.put_log(25, wrap="sns")
        events = run(installed, tmp_path, splunk_home, moto, trail)
    finally:
        proxy.close()
    assert sorted(event_ids(events)) == sorted(trail.records)
    key = trail.sources[event_ids(events)[0]][len("s3://"):]
    # sts:GetCallerIdentity, sqs:ReceiveMessage, s3:GetObject, sqs:DeleteMessage, the last
    # (empty) sqs:ReceiveMessage: every one through the proxy.
    assert proxy.forwarded == [("POST", moto.url + "/"), ("POST", moto.url + "/"),
                               ("GET", "%s/%s" % (moto.url, key)), ("POST", moto.url + "/"),
                               ("POST", moto.url + "/")]
    assert set(proxy.auth_headers) == {"Basic dHctcHJveHk6UHJveHktUGFzcy0wMDAx"}
    log = read_log(splunk_home, INPUT, "sqs")
    assert "via proxy http://tw-proxy@127.0.0.1:%d" % proxy.port in log
    assert "Proxy-Pass-0001" not in log


def test_runs_on_splunk_pythons(splunk_python, installed, tmp_path, splunk_home, moto, trail):
    trail.put_log(40, wrap="sns")
    events = run(installed, tmp_path, splunk_home, moto, trail, python=splunk_python)
    assert sorted(event_ids(events)) == sorted(trail.records)
    assert events[0]["data"] == trail.records[event_ids(events)[0]]


def test_missing_permission_and_wrong_credentials_are_said_in_words(
        installed, tmp_path, splunk_home, moto_iam):
    from inputs_helpers import store_account

    admin = moto_iam.client("s3")
    admin.create_bucket(Bucket=BUCKET)
    queue_url = moto_iam.client("sqs").create_queue(QueueName="perm-" + uuid.uuid4().hex[:6])["QueueUrl"]
    key = log_key("us-east-1", time.time(), 1)
    admin.put_object(Bucket=BUCKET, Key=key, Body=log_file([make_record("p-1", time.time())]))
    moto_iam.client("sqs").send_message(QueueUrl=queue_url, MessageBody=s3_notification(BUCKET, key))

    class Queue(object):
        pass

    queue = Queue()
    queue.queue_url = queue_url
    # The queue but not the bucket.
    key_id, secret = moto_iam.make_user("sqs-no-s3", [
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes"])
    store_account(installed, key_id=key_id, secret=secret)
    events = run(installed, tmp_path, splunk_home, moto_iam, queue, visibility_timeout="5")
    assert events == []
    log = read_log(splunk_home, INPUT, "sqs")
    assert "is not allowed to call s3:GetObject on s3://%s/%s (AccessDenied)" % (BUCKET, key) in log
    assert secret not in log
    # Wrong secret.
    store_account(installed, key_id=key_id, secret="wrong-secret-0000000000000000000000000000")
    events = run(installed, tmp_path, splunk_home, moto_iam, queue, name="sqs2")
    assert events == []
    log = read_log(splunk_home, INPUT, "sqs2")
    assert "cannot use AWS account 'prod'" in log and "SignatureDoesNotMatch" in log


@pytest.mark.slow
def test_killed_at_random_points_it_delivers_everything(
        installed, tmp_path, splunk_home, moto, trail):
    """SIGKILL at random points of a multi-file run, restart, repeat until the queue is
    empty: every record at least once; duplicates counted (target zero)."""
    for i in range(60):
        trail.put_log(300 + 10 * i, wrap="sns" if i % 2 else None)
    env = input_env(splunk_home, moto.url)
    stdin = definition(installed, tmp_path, trail, visibility_timeout="5", batch_size="2")

    def done(status, ids):
        if trail.queue_counts() == (0, 0):
            return True
        if not ids:
            time.sleep(2)  # messages of a killed run come back after their 5 s timeout
        return False

    lost, duplicates = crash_loop(tmp_path, INPUT, stdin, env, trail.records, kill_runs=5,
                                  kill_after=(1.0, 2.8), max_runs=30, done=done)
    assert not lost, "lost %d records" % len(lost)
    assert duplicates <= 5 * 900  # per kill, one file written but not yet marked, at most


# ---------------------------------------------------------------------------- attacks


def test_a_forged_notification_naming_another_bucket_is_refused_unread(
        installed, tmp_path, splunk_home, moto, trail):
    """Anyone who may send to the queue names a bucket of theirs holding a CloudTrail-shaped
    log: with the trail bucket as the only allowed bucket, nothing of it is read or
    written, and the message is left for the dead-letter queue."""
    trail.s3.create_bucket(Bucket="attacker-bucket")
    forged = log_key("us-east-1", time.time(), 1)
    trail.put_object(forged, log_file([make_record("forged", time.time() - 60)]),
                     bucket="attacker-bucket")
    trail.put_log(3)
    events = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5",
                 allowed_buckets=BUCKET)
    assert sorted(event_ids(events)) == sorted(trail.records)  # the genuine log, not "forged"
    log = read_log(splunk_home, INPUT, "sqs")
    assert ("Refused s3://attacker-bucket/%s" % forged) in log
    assert "is not one of the input's allowed buckets (%s)" % BUCKET in log
    assert trail.queue_counts() == (0, 1)  # for the dead-letter queue


def test_a_log_whose_records_claim_another_account_is_refused_whole(
        installed, tmp_path, splunk_home, moto, trail):
    """A writer of the trail bucket files records of account 210987654321 under
    AWSLogs/123456789012/: the whole log is refused, nothing of it written."""
    own = make_record("own", time.time() - 60)
    other = make_record("other", time.time() - 50, extra={"recipientAccountId": "210987654321"})
    forged = log_key("us-east-1", time.time(), 2)
    trail.put_object(forged, log_file([own, other]))
    trail.put_log(2)
    events = run(installed, tmp_path, splunk_home, moto, trail, visibility_timeout="5")
    assert sorted(event_ids(events)) == sorted(trail.records)  # neither "own" nor "other"
    log = read_log(splunk_home, INPUT, "sqs")
    assert ("record 1 has recipientAccountId 210987654321 but the log is filed under account "
            "%s (wrong-account)" % ACCOUNT_ID) in log
    assert "key %s" % forged in log
    assert trail.queue_counts() == (0, 1)


def test_every_read_names_the_expected_bucket_owner(
        installed, tmp_path, splunk_home, moto, trail):
    """S3 refuses (403) a request whose ExpectedBucketOwner is not the bucket's owner (moto
    does not model that check, so this shows the header is sent: by default the queue's
    account, else the setting)."""
    from http_proxy import ForwardProxy, save_proxy_settings

    proxy = ForwardProxy()
    try:
        save_proxy_settings(installed, "127.0.0.1", proxy.port)
        trail.put_log(2)
        run(installed, tmp_path, splunk_home, moto, trail)
        trail.put_log(2)
        run(installed, tmp_path, splunk_home, moto, trail, expected_bucket_owner="210987654321")
    finally:
        proxy.close()
    owners = [headers.get("x-amz-expected-bucket-owner")
              for (method, _url), headers in zip(proxy.forwarded, proxy.request_headers,
                                                 strict=True)
              if method == "GET"]
    assert owners == [ACCOUNT_ID, "210987654321"]


def test_a_decompression_bomb_is_refused_at_the_cap_and_not_retried(
        installed, tmp_path, splunk_home, moto, trail):
    """64 KB of gzip that decompresses to 64 MB, read with a 1 MB cap: decompression stops
    at the cap, nothing is written, and the message is deleted with an error naming the
    setting (it would be read again every visibility timeout otherwise)."""
    bomb = gzip.compress(b'{"Records":[' + b" " * (64 << 20) + b"]}", 9)
    assert len(bomb) < 100 << 10
    key = log_key("us-east-1", time.time(), 3)
    trail.put_object(key, bomb)
    trail.put_log(2)
    events = run(installed, tmp_path, splunk_home, moto, trail, max_log_mb="1")
    assert sorted(event_ids(events)) == sorted(trail.records)
    log = read_log(splunk_home, INPUT, "sqs")
    assert ("Refused log file s3://%s/%s" % (BUCKET, key)) in log
    assert "decompresses to more than 1048576 bytes" in log
    assert "raise 'Largest decompressed log (MB)'" in log
    assert trail.queue_counts() == (0, 0)  # deleted, not retried
    assert run(installed, tmp_path, splunk_home, moto, trail) == []


def test_an_object_over_the_size_cap_is_refused_before_download(
        installed, tmp_path, splunk_home, moto, trail):
    """The notification says 200 MB: refused without a request to S3 (the key does not even
    exist, so a download would have failed with NoSuchKey), message deleted.  An object
    whose notification understates its size is stopped by S3's Content-Length."""
    big = log_key("us-east-1", time.time(), 4)
    trail.notify(big, size=200 << 20)
    understated = log_key("us-east-1", time.time(), 5)
    trail.s3.put_object(Bucket=BUCKET, Key=understated, Body=b"\x1f\x8b" + b"x" * (2 << 20))
    trail.notify(understated, size=100)
    events = run(installed, tmp_path, splunk_home, moto, trail, max_object_mb="1")
    assert events == []
    log = read_log(splunk_home, INPUT, "sqs")
    assert "the notification gives its size as %d bytes, more than the cap of 1048576" % (
        200 << 20) in log
    assert "NoSuchKey" not in log
    assert "S3 gives its size as %d bytes" % ((2 << 20) + 2) in log
    assert trail.queue_counts() == (0, 0)


def test_a_proxy_host_urls_cannot_hold_stops_the_input_without_leaking_the_password(
        installed, tmp_path, splunk_home, moto, trail):
    """The attack as the input meets it: the proxy stanza holds a host that passes the form
    but not URL parsing, and a password with characters that URLs percent-encode."""
    from http_proxy import save_proxy_settings

    save_proxy_settings(installed, "::1]", 3128, "tw-proxy", "p@ss/w0rd:secret")
    trail.put_log(2)
    assert run(installed, tmp_path, splunk_home, moto, trail) == []
    log = read_log(splunk_home, INPUT, "sqs")
    assert "Proxy host '::1]' is not a host name" in log
    assert "p@ss/w0rd:secret" not in log and "p%40ss%2Fw0rd%3Asecret" not in log
    assert trail.queue_counts() == (1, 0)  # nothing received
