"""Which CloudTrail log objects does an SQS message announce?

The ``aws_cloudtrail_sqs`` input reads a queue that receives one of:

* an S3 event notification sent to SQS directly: ``{"Records": [{"eventSource": "aws:s3",
  "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ...}, "object": {"key": ...}}}]}``
  (object keys are URL-encoded, ``application/x-www-form-urlencoded`` style: a space is
  ``+``, a ``+`` is ``%2B``);
* the same wrapped by SNS (``{"Type": "Notification", "Message": "<the JSON above as a
  string>"}``), or delivered by SNS with raw message delivery (the JSON above as is);
* CloudTrail's own SNS notification of a delivered log: ``{"s3Bucket": "...",
  "s3ObjectKey": ["AWSLogs/..."]}`` (keys not encoded), wrapped by SNS or raw;
* an S3 "Object Created" event routed through EventBridge to SQS (``"source": "aws.s3"``,
  ``"detail-type": "Object Created"``).  Whether EventBridge URL-encodes keys is not stated
  in the S3 documentation; CloudTrail log keys contain no character that encoding changes,
  and ``eventbridge_keys_encoded`` selects the interpretation.

Things that are not CloudTrail logs are ignored with a reason: ``s3:TestEvent`` (sent when a
notification is configured), SNS subscription confirmations, other S3 event types, digest
files (``CloudTrail-Digest/``), Insights files (``CloudTrail-Insight/``, unless asked for) and
any key that is not ``[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/
<file>.json.gz``.  ``parse_message`` never raises for a bad body: the result says why it was
not understood, so the input can log it and leave the message for redrive.

Pure Python, standard library only, Python 3.9 to 3.13.
"""

import json
import re
from typing import List, NamedTuple, Optional
from urllib.parse import unquote_plus

__all__ = [
    "LogObject",
    "Ignored",
    "ParsedMessage",
    "parse_message",
    "classify_key",
    "decode_s3_key",
    "key_account",
    "KEY_CLOUDTRAIL",
    "KEY_DIGEST",
    "KEY_INSIGHT",
    "KEY_OTHER",
]

KEY_CLOUDTRAIL = "cloudtrail"
KEY_DIGEST = "digest"
KEY_INSIGHT = "insight"
KEY_OTHER = "other"

# [any prefix/]AWSLogs/[o-orgid/]123456789012/CloudTrail[-Digest|-Insight]/region/Y/M/D/file
_KEY_RE = re.compile(
    r"(?:^|/)AWSLogs/(?:o-[a-z0-9]{10,32}/)?(\d{12})/(CloudTrail(?:-Digest|-Insight)?)/"
    r"[a-z0-9-]+/\d{4}/\d{2}/\d{2}/[^/]+\.json\.gz\Z"
)
_KIND = {
    "CloudTrail": KEY_CLOUDTRAIL,
    "CloudTrail-Digest": KEY_DIGEST,
    "CloudTrail-Insight": KEY_INSIGHT,
}


class LogObject(NamedTuple):
    """A CloudTrail log file to download."""

    bucket: str
    key: str  #: the real object key (decoded)
    size: Optional[int] = None  #: bytes, when the notification says
    region: Optional[str] = None  #: the bucket's region, when the notification says


class Ignored(NamedTuple):
    """Something the message announced that is not a CloudTrail log to read."""

    reason: str  #: e.g. "s3:TestEvent", "digest file", "not a CloudTrail log key"
    bucket: Optional[str] = None
    key: Optional[str] = None


class ParsedMessage(NamedTuple):
    objects: List[LogObject]  #: log files to read, in message order, without duplicates
    ignored: List[Ignored]  #: what was skipped and why (log at debug)
    shape: str  #: "s3", "sns/s3", "cloudtrail", "sns/cloudtrail", "eventbridge", ...
    error: Optional[str] = None  #: set when the body was not understood at all

    @property
    def understood(self):
        return self.error is None

    def describe(self):
        """One line for a debug log."""
        if self.error:
            return "%s message not understood: %s" % (self.shape, self.error)
        parts = ["%s message: %d log file(s)" % (self.shape, len(self.objects))]
        for item in self.ignored:
            where = " s3://%s/%s" % (item.bucket, item.key) if item.key else ""
            parts.append("ignored (%s)%s" % (item.reason, where))
        return "; ".join(parts)


def decode_s3_key(key):
    """Decode an object key as S3 event notifications encode it (``+`` is a space)."""
    return unquote_plus(key, encoding="utf-8", errors="replace")


def classify_key(key):
    """``KEY_CLOUDTRAIL``, ``KEY_DIGEST``, ``KEY_INSIGHT`` or ``KEY_OTHER`` for a decoded
    object key."""
    m = _KEY_RE.search(key)
    if m is None:
        return KEY_OTHER
    return _KIND[m.group(2)]


def key_account(key):
    """The account ID a CloudTrail log key is filed under (``AWSLogs/[o-org/]<account>/``),
    or None for a key that is not a CloudTrail log key."""
    m = _KEY_RE.search(key)
    return m.group(1) if m is not None else None


def parse_message(body, include_insights=False, eventbridge_keys_encoded=True):
    """Parse one SQS message body (str or bytes) into the log objects it announces."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        return ParsedMessage([], [], "unknown", "body is not JSON (%s)" % exc)
    state = _State(include_insights)
    shape = _dispatch(doc, state, eventbridge_keys_encoded, wrapped=False)
    if state.error is not None:
        return ParsedMessage(state.objects, state.ignored, shape, state.error)
    return ParsedMessage(state.objects, state.ignored, shape)


class _State:
    def __init__(self, include_insights):
        self.include_insights = include_insights
        self.objects = []
        self.ignored = []
        self.seen = set()
        self.error = None

    def offer(self, bucket, key, size=None, region=None):
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            self.ignored.append(Ignored("notification without bucket or key", None, None))
            return
        kind = classify_key(key)
        if kind == KEY_DIGEST:
            self.ignored.append(Ignored("CloudTrail digest file", bucket, key))
        elif kind == KEY_INSIGHT and not self.include_insights:
            self.ignored.append(Ignored("CloudTrail Insights file", bucket, key))
        elif kind == KEY_OTHER:
            self.ignored.append(Ignored("not a CloudTrail log key", bucket, key))
        elif (bucket, key) in self.seen:
            self.ignored.append(Ignored("duplicate in message", bucket, key))
        else:
            self.seen.add((bucket, key))
            if not isinstance(size, int) or isinstance(size, bool):
                size = None
            self.objects.append(LogObject(bucket, key, size, region))


def _dispatch(doc, state, eventbridge_keys_encoded, wrapped):
    prefix = "sns/" if wrapped else ""
    if not isinstance(doc, dict):
        state.error = "body is JSON but not an object"
        return prefix + "unknown"
    if not wrapped and "Type" in doc and ("TopicArn" in doc or "MessageId" in doc):
        return _sns(doc, state, eventbridge_keys_encoded)
    if isinstance(doc.get("Records"), list):
        _s3_records(doc["Records"], state)
        return prefix + "s3"
    if doc.get("Event") == "s3:TestEvent":
        state.ignored.append(Ignored("s3:TestEvent", doc.get("Bucket"), None))
        return prefix + "s3-test"
    if "s3Bucket" in doc and "s3ObjectKey" in doc:
        _cloudtrail(doc, state)
        return prefix + "cloudtrail"
    if doc.get("source") == "aws.s3" and "detail" in doc and "detail-type" in doc:
        _eventbridge(doc, state, eventbridge_keys_encoded)
        return prefix + "eventbridge"
    state.error = "unrecognised message (keys: %s)" % ", ".join(sorted(doc)[:8])
    return prefix + "unknown"


def _sns(doc, state, eventbridge_keys_encoded):
    kind = doc.get("Type")
    if kind != "Notification":
        # SubscriptionConfirmation / UnsubscribeConfirmation: nothing to read.
        state.ignored.append(Ignored("SNS %s" % kind, None, None))
        return "sns-control"
    message = doc.get("Message")
    if not isinstance(message, str):
        state.error = "SNS notification without a Message string"
        return "sns/unknown"
    try:
        inner = json.loads(message)
    except ValueError as exc:
        state.error = "SNS Message is not JSON (%s)" % exc
        return "sns/unknown"
    return _dispatch(inner, state, eventbridge_keys_encoded, wrapped=True)


def _s3_records(records, state):
    if not records:
        state.ignored.append(Ignored("S3 notification without records", None, None))
    for record in records:
        if not isinstance(record, dict):
            state.ignored.append(Ignored("S3 notification record is not an object"))
            continue
        name = record.get("eventName")
        s3 = record.get("s3") if isinstance(record.get("s3"), dict) else {}
        bucket = (s3.get("bucket") or {}).get("name") if isinstance(s3.get("bucket"), dict) else None
        obj = s3.get("object") if isinstance(s3.get("object"), dict) else {}
        raw_key = obj.get("key")
        key = decode_s3_key(raw_key) if isinstance(raw_key, str) else None
        source = record.get("eventSource")
        if source not in (None, "aws:s3"):
            state.ignored.append(Ignored("not an S3 event (%s)" % source, bucket, key))
        elif not isinstance(name, str) or not name.startswith("ObjectCreated:"):
            state.ignored.append(Ignored("S3 event %s" % name, bucket, key))
        else:
            state.offer(bucket, key, obj.get("size"), record.get("awsRegion"))


def _cloudtrail(doc, state):
    bucket = doc.get("s3Bucket")
    keys = doc.get("s3ObjectKey")
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list):
        state.error = "CloudTrail notification: s3ObjectKey is not a list"
        return
    for key in keys:
        state.offer(bucket, key)


def _eventbridge(doc, state, keys_encoded):
    detail = doc.get("detail") if isinstance(doc.get("detail"), dict) else {}
    bucket_doc = detail.get("bucket") if isinstance(detail.get("bucket"), dict) else {}
    obj = detail.get("object") if isinstance(detail.get("object"), dict) else {}
    bucket = bucket_doc.get("name")
    key = obj.get("key")
    if isinstance(key, str) and keys_encoded:
        key = decode_s3_key(key)
    kind = doc.get("detail-type")
    if kind != "Object Created":
        state.ignored.append(Ignored("EventBridge S3 event %s" % kind, bucket, key))
        return
    state.offer(bucket, key, obj.get("size"), doc.get("region"))
