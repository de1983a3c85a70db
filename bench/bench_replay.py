"""Benchmark: replay 100,000 CloudTrail events through a representative TrailWatch-style search.

    .venv/bin/python bench/bench_replay.py [--events N] [--synthetic]

Events are replicated (and re-timed) from the CloudTrail sample folder (tools/cloudtrail_sample.py) when it is
present, else generated; the output says which. The search runs through the splreplay
fixture app (tests/splreplay/fixtures/app: macros, props with aliases, calculated fields,
an automatic CIDR lookup, eventtypes and tags). Prints one JSON object with the figures.
No timing is asserted anywhere.
"""
import argparse
import copy
import glob
import json
import os
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from cloudtrail_sample import sample_dir  # noqa: E402
from splreplay.runner import Replay  # noqa: E402

SHARED = sample_dir()
APP = os.path.join(ROOT, "tests", "splreplay", "fixtures", "app")

SEARCH = (
    "`trailwatch_cloudtrail` `trailwatch_not_aws_service` "
    "| eval outcome=if(isnull(errorCode), \"success\", \"failure\") "
    "| bin _time span=1h "
    "| stats count dc(eventName) as actions values(tw_ip_category) as ip_categories "
    "min(_time) as first_seen max(_time) as last_seen by tw_user outcome _time "
    "| where count >= 5 | sort 0 - count"
)

NAMES = ["ConsoleLogin", "StopLogging", "AuthorizeSecurityGroupIngress", "RunInstances",
         "TerminateInstances", "CreateUser", "PutBucketPolicy", "DescribeInstances",
         "ListBuckets", "GetCallerIdentity", "AssumeRole", "CreateAccessKey"]


def shared_records():
    files = sorted(glob.glob(os.path.join(SHARED, "**", "*.json*"), recursive=True))
    out = []
    for path in files:
        with open(path) as handle:
            try:
                doc = json.load(handle)
            except ValueError:
                continue
        if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
            out.extend(doc["Records"])
    return out


def synthetic_record(rng, i):
    user = "user%03d" % rng.randrange(200)
    ip = "203.0.113.%d" % rng.randrange(256) if rng.random() < 0.3 else \
        "192.0.2.%d" % rng.randrange(256)
    name = rng.choice(NAMES)
    rec = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDA%012d" % i,
                         "arn": "arn:aws:iam::111122223333:user/" + user,
                         "accountId": "111122223333", "accessKeyId": "AKIA%016d" % i,
                         "userName": user},
        "eventTime": "",
        "eventSource": "ec2.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.30",
        "requestParameters": {"groupId": "sg-%08x" % i, "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
             "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
        "responseElements": None, "requestID": "r%d" % i, "eventID": "e%d" % i,
        "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": "111122223333", "eventCategory": "Management",
    }
    if rng.random() < 0.1:
        rec["errorCode"] = "AccessDenied"
        rec["errorMessage"] = "User is not authorized"
    return rec


def build_records(n, synthetic):
    rng = random.Random(7)
    base = [] if synthetic else shared_records()
    source = "replicated from %s (%d records)" % (SHARED, len(base)) if base else \
        "generated synthetic CloudTrail records (CloudTrail sample not present, or --synthetic)"
    start = 1709596800  # 2024-03-05T00:00:00Z
    out = []
    for i in range(n):
        rec = copy.deepcopy(base[i % len(base)]) if base else synthetic_record(rng, i)
        t = start + (i * 86400) // n
        rec["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        rec["eventID"] = "bench-%d" % i
        out.append(rec)
    return out, source


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--synthetic", action="store_true", help="do not use the CloudTrail sample")
    args = ap.parse_args()
    records, source = build_records(args.events, args.synthetic)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        with open(path, "w") as handle:
            for rec in records:
                handle.write(json.dumps(rec) + "\n")
        del records
        replay = Replay(APP, warn=lambda m: None)
        t0 = time.perf_counter()
        events = replay.load_events([path])
        t1 = time.perf_counter()
        pipeline = replay.compile(SEARCH, "bench", replay.default_now(events))
        rows = pipeline.run(events)
        t2 = time.perf_counter()
    figures = {
        "events": len(events),
        "events_source": source,
        "search": SEARCH,
        "result_rows": len(rows),
        "load_seconds": round(t1 - t0, 3),
        "search_seconds": round(t2 - t1, 3),
        "total_seconds": round(t2 - t0, 3),
        "load_events_per_second": round(len(events) / (t1 - t0)),
        "search_events_per_second": round(len(events) / (t2 - t1)),
        "end_to_end_events_per_second": round(len(events) / (t2 - t0)),
        "python": sys.version.split()[0],
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
