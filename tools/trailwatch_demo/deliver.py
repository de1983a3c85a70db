"""CloudTrail delivery through S3 and SQS in moto, read by the add-on's S3+SQS input.

An organisation trail delivers every account's log files to one bucket; the bucket sends its
object-created notifications to an SQS queue; the add-on's `aws_cloudtrail_sqs` input (the
built script, run as splunkd runs it: input definition on stdin, XML event stream on stdout,
account and checkpoints from the splunkd double) reads the queue, downloads each file and
writes its records. The demo then searches the events the input wrote, not the files.
"""
import gzip
import json
import os
import re
import sys
import time

from splunk_runner.modinput import input_definition, input_env, parse_stream, run_input

TRAIL_BUCKET = "organisation-trail-logs"
QUEUE = "organisation-trail-notifications"
INPUT = "aws_cloudtrail_sqs"
# CloudTrail delivers a log file about every five minutes; the story's files hold an hour, so
# each is taken as delivered seven minutes after its last record (its events' _indextime).
DELIVERY_DELAY = 7 * 60


def aws_client(service, moto_url):
    import boto3

    return boto3.session.Session().client(
        service, endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="moto-does-not-check")


def trail_destination(moto_url):
    """The trail bucket, the queue, and the bucket's notifications to the queue -> queue URL."""
    s3 = aws_client("s3", moto_url)
    sqs = aws_client("sqs", moto_url)
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    queue_url = sqs.create_queue(QueueName=QUEUE,
                                 Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=TRAIL_BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]})
    return queue_url


def upload(log_folder, moto_url):
    """Every log file under log_folder into the trail bucket (same key) -> {s3 source: the
    time it was delivered in the story}."""
    s3 = aws_client("s3", moto_url)
    delivered = {}
    for dirpath, _dirs, files in os.walk(log_folder):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            key = os.path.relpath(path, log_folder).replace(os.sep, "/")
            with open(path, "rb") as handle:
                body = handle.read()
            records = json.loads(gzip.decompress(body))["Records"]
            last = max(r["eventTime"] for r in records)
            s3.put_object(Bucket=TRAIL_BUCKET, Key=key, Body=body)
            delivered["s3://%s/%s" % (TRAIL_BUCKET, key)] = last
    return delivered


def queue_counts(queue_url, moto_url):
    attributes = aws_client("sqs", moto_url).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def collect(app_dir, splunkd, splunk_home, checkpoint_dir, queue_url, moto_url, account):
    """One run of the built S3+SQS input over the queue -> (stream events, its log text)."""
    stdin = input_definition(splunkd, INPUT, "demo", {
        "account": account, "queue_url": queue_url, "sqs_region": "us-east-1",
        "batch_size": "10", "visibility_timeout": "120", "index": "aws"}, checkpoint_dir)
    result = run_input(sys.executable, INPUT, stdin, input_env(splunk_home, moto_url),
                       timeout=600, app_dir=app_dir)
    log_path = os.path.join(str(splunk_home), "var", "log", "splunk",
                            "ta-trailwatch_%s_demo.log" % INPUT)
    log = open(log_path, encoding="utf-8").read() if os.path.exists(log_path) else ""
    if result.returncode != 0 or result.stderr:
        raise RuntimeError("the S3+SQS input exited %d: %s\n%s" % (
            result.returncode, result.stderr.decode("utf-8", "replace")[-2000:], log[-2000:]))
    return parse_stream(result.stdout), log


def as_search_events(replay, stream_events, delivered):
    """The input's events as Splunk indexes them: _raw the record's text as written, source
    and sourcetype from the stream, search-time knowledge applied by splreplay; _indextime
    the story's delivery time of the event's log file."""
    from splreplay.events import parse_time

    items = []
    for n, event in enumerate(stream_events):
        if event.get("sourcetype") != "aws:cloudtrail":
            raise RuntimeError("the input wrote sourcetype %r" % event.get("sourcetype"))
        items.append((json.loads(event["data"]), event["data"], event["source"],
                      "%s: event %d" % (INPUT, n + 1)))
    events = replay.app.make_events(items)
    for event in events:
        event["_indextime"] = int(parse_time(delivered[event["source"]]) + DELIVERY_DELAY)
    return events


def snapshot(app_dir, splunkd, splunk_home, checkpoint_dir, moto_url, input_type, account, when):
    """One run of a snapshot input (aws_s3_posture, aws_iam_inventory) against moto -> its
    events as dashboard and detection events, moved to the story's clock: the snapshot is
    taken at ``when`` and every time in it (key creation, last use) shifts with it (moto and
    the input stamp the real time)."""
    from splreplay.events import parse_time
    from trailwatch_demo.dashboard_data import json_event

    stdin = input_definition(splunkd, input_type, "demo", {"account": account, "index": "aws"},
                             checkpoint_dir)
    result = run_input(sys.executable, input_type, stdin, input_env(splunk_home, moto_url),
                       timeout=300, app_dir=app_dir)
    if result.returncode != 0 or result.stderr:
        raise RuntimeError("%s exited %d: %s" % (input_type, result.returncode,
                                                 result.stderr.decode("utf-8", "replace")[-2000:]))
    events = []
    for event in parse_stream(result.stdout):
        obj = json.loads(event["data"])
        obj = _shift_times(obj, when - parse_time(obj["snapshot_time"]))
        events.append(json_event(obj, when, event["sourcetype"], event["source"], when + 2))
    return events


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def _shift_times(node, offset):
    from splreplay.events import parse_time

    if isinstance(node, dict):
        return {k: _shift_times(v, offset) for k, v in node.items()}
    if isinstance(node, list):
        return [_shift_times(v, offset) for v in node]
    if isinstance(node, str) and _ISO.match(node) and parse_time(node) is not None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(parse_time(node) + offset))
    return node
