"""CloudTrail ``LookupEvents`` on a loopback HTTP server, which moto lacks.

Speaks the CloudTrail JSON protocol as botocore does (``POST /`` with ``X-Amz-Target:
com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents``, JSON 1.1 bodies,
errors as ``{"__type": ..., "message": ...}`` with HTTP 400) and behaves like the service:

- events of each region (taken from the request's SigV4 credential scope) are returned
  newest first, at most ``MaxResults`` (and never more than 50) per page;
- ``StartTime``/``EndTime`` filter inclusively on ``EventTime``; ``LookupAttributes`` filter
  on one attribute as the API allows;
- ``NextToken`` continues the same query and is refused (``InvalidNextTokenException``) with
  other parameters;
- a token bucket per access key and region (``rate`` per second, ``burst``) answers
  ``ThrottlingException`` when exceeded, as the 2 requests/s limit does;
- faults can be injected: ``throttle_next(n)``, ``deny(region)``, ``fail_next(n, status)``.

Point the add-on at it with ``AWS_ENDPOINT_URL_CLOUDTRAIL``.
"""
import base64
import hashlib
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler

from loopback_http import LoopbackHttp

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
_SCOPE_RE = re.compile(r"Credential=([^/]+)/\d{8}/([a-z0-9-]+)/cloudtrail/aws4_request")
_ATTRIBUTE_FIELDS = {
    "EventId": "EventId", "EventName": "EventName", "ReadOnly": "ReadOnly",
    "Username": "Username", "EventSource": "EventSource", "AccessKeyId": "AccessKeyId",
}


def cloudtrail_event(event_id, when, name="DescribeInstances", source="ec2.amazonaws.com",
                     region="us-east-1", account="123456789012", user="alice", read_only=True,
                     extra=""):
    """A CloudTrailEvent string as CloudTrail writes it (compact JSON; ``extra`` is appended
    inside the object, verbatim)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
    text = (
        '{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE%s",'
        '"arn":"arn:aws:iam::%s:user/%s","accountId":"%s","userName":"%s"},'
        '"eventTime":"%s","eventSource":"%s","eventName":"%s","awsRegion":"%s",'
        '"sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0","requestParameters":null,'
        '"responseElements":null,"requestID":"%s","eventID":"%s","readOnly":%s,'
        '"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%s",'
        '"eventCategory":"Management"%s}'
    ) % (user.upper(), account, user, account, user, stamp, source, name, region,
         uuid.uuid5(uuid.NAMESPACE_OID, event_id), event_id, "true" if read_only else "false",
         account, extra)
    return text


class _Bucket(object):
    def __init__(self, rate, burst):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class LookupEventsFake(LoopbackHttp):
    def __init__(self, rate=2.0, burst=2.0, page_limit=50):
        self.rate = rate
        self.burst = burst
        self.page_limit = page_limit
        self._lock = threading.Lock()
        self._events = {}  # region -> [event dict]
        self._buckets = {}
        self._throttle = 0
        self._fail = []  # statuses to answer next
        self._denied = set()
        self.requests = []  # dicts: region, key, at, start, end, token, outcome, returned
        self._serve(_handler(self))

    # ------------------------------------------------------------------ test API
    def add(self, region, event_id, when, **kwargs):
        """Add one event; returns its CloudTrailEvent string."""
        text = cloudtrail_event(event_id, when, region=region, **kwargs)
        self.add_raw(region, event_id, when, text, name=kwargs.get("name", "DescribeInstances"),
                     source=kwargs.get("source", "ec2.amazonaws.com"),
                     user=kwargs.get("user", "alice"),
                     read_only=kwargs.get("read_only", True))
        return text

    def add_raw(self, region, event_id, when, text, name="DescribeInstances",
                source="ec2.amazonaws.com", user="alice", read_only=True):
        with self._lock:
            self._events.setdefault(region, []).append({
                "EventId": event_id, "EventName": name, "ReadOnly": "true" if read_only else "false",
                "AccessKeyId": "AKIAEXAMPLEACCESS01", "EventTime": float(when),
                "EventSource": source, "Username": user, "Resources": [],
                "CloudTrailEvent": text,
            })

    def throttle_next(self, count):
        with self._lock:
            self._throttle += count

    def fail_next(self, count, status=500):
        with self._lock:
            self._fail.extend([status] * count)

    def deny(self, region):
        with self._lock:
            self._denied.add(region)

    def outcomes(self, region=None):
        with self._lock:
            return [r["outcome"] for r in self.requests if region in (None, r["region"])]

    # ------------------------------------------------------------------ service
    def answer(self, headers, body):
        target = headers.get("X-Amz-Target", "")
        scope = _SCOPE_RE.search(headers.get("Authorization", ""))
        if scope is None:
            return 400, {"__type": "MissingAuthenticationTokenException",
                         "message": "Missing Authentication Token"}
        key, region = scope.group(1), scope.group(2)
        if target != TARGET:
            return 400, {"__type": "UnknownOperationException", "message": target}
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {"__type": "SerializationException", "message": "bad JSON"}
        record = {"region": region, "key": key, "at": time.monotonic(),
                  "start": request.get("StartTime"), "end": request.get("EndTime"),
                  "token": request.get("NextToken"), "outcome": None, "returned": 0}
        with self._lock:
            self.requests.append(record)
            bucket = self._buckets.setdefault((key, region), _Bucket(self.rate, self.burst))
            if self._throttle > 0:
                self._throttle -= 1
                record["outcome"] = "throttled"
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            if self.rate is not None and not bucket.take():
                record["outcome"] = "throttled"
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            if self._fail:
                status = self._fail.pop(0)
                record["outcome"] = "failed"
                return status, {"__type": "InternalFailure", "message": "injected failure"}
            if region in self._denied:
                record["outcome"] = "denied"
                return 400, {"__type": "AccessDeniedException",
                             "message": "User is not authorized to perform: cloudtrail:LookupEvents"}
            events = list(self._events.get(region, ()))
        return self._lookup(request, events, record)

    def _lookup(self, request, events, record):
        start = request.get("StartTime")
        end = request.get("EndTime")
        if start is not None and end is not None and start > end:
            record["outcome"] = "invalid"
            return 400, {"__type": "InvalidTimeRangeException",
                         "message": "Start time must not be after end time"}
        attributes = request.get("LookupAttributes") or []
        if len(attributes) > 1:
            record["outcome"] = "invalid"
            return 400, {"__type": "InvalidLookupAttributesException",
                         "message": "Only one lookup attribute is allowed"}
        limit = min(int(request.get("MaxResults") or 50), self.page_limit)
        fingerprint = hashlib.sha1(json.dumps([start, end, attributes], sort_keys=True)
                                   .encode()).hexdigest()[:16]
        offset = 0
        token = request.get("NextToken")
        if token:
            try:
                decoded = json.loads(base64.b64decode(token))
                if decoded["q"] != fingerprint:
                    raise ValueError
                offset = int(decoded["o"])
            except (ValueError, KeyError, TypeError):
                record["outcome"] = "invalid"
                return 400, {"__type": "InvalidNextTokenException",
                             "message": "Invalid NextToken for this request"}
        selected = []
        for event in events:
            if start is not None and event["EventTime"] < start:
                continue
            if end is not None and event["EventTime"] > end:
                continue
            if attributes:
                field = _ATTRIBUTE_FIELDS.get(attributes[0]["AttributeKey"])
                if field is None or event.get(field) != attributes[0]["AttributeValue"]:
                    continue
            selected.append(event)
        # Newest first; for equal times the latest stored first.
        selected = [e for _i, e in sorted(enumerate(selected),
                                          key=lambda p: (p[1]["EventTime"], p[0]), reverse=True)]
        page = selected[offset:offset + limit]
        answer = {"Events": page}
        if offset + limit < len(selected):
            answer["NextToken"] = base64.b64encode(json.dumps(
                {"q": fingerprint, "o": offset + limit}).encode()).decode()
        record["outcome"] = "ok"
        record["returned"] = len(page)
        return 200, answer


def _handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = fake.answer(self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # noqa: A002
            pass

    return Handler
