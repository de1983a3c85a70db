"""Benchmark: a generated day of CloudTrail events through every scheduled saved search of the
built add-on, with the scheduler-faithful backtest (tools/splreplay/backtest.py).

    ./build.sh bench            (all benchmarks; this one with 1,000,000 events)
    PYTHONPATH=tools .venv/bin/python bench/bench_backtest.py [--events N] [--seed N] [--app DIR]

The target is a day of 1,000,000 events in under 30 minutes and 4 GB on 2 cores; the figures
printed say where a run stands (nothing is asserted). Smaller days (--events 100000) give the
same figures per event ingested.

The day is written as one JSON-lines file in time order (streamed: the generator holds one
record at a time), then backtested from 00:00 to 24:00 with index delays p50=3m, p99=14m,
max=30m. Prints one JSON object: events, wall time (generation and backtest), peak resident
memory of this process and of the largest search command process (they run one at a time,
beside this one), events evaluated (the sum over runs of the events each run's windows
selected), runs, alerts and the most events held at once; and what the indexers read: raw
events read per event ingested, full passes over CloudTrail per hour of data (searches without
an index term to prune on), per search.
"""
import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from splreplay import protocol  # noqa: E402
from splreplay.backtest import Backtest, IndexDelay  # noqa: E402
from splreplay.runner import Replay  # noqa: E402

APP = os.path.join(ROOT, "output", "TA-trailwatch")
DAY = 1715644800  # 2024-05-14T00:00:00Z
ACCOUNT = "111122223333"
# a day of 1,000,000 events through every scheduled search: under 30 minutes, under 4 GB
TARGET_SECONDS = 1800
TARGET_MB = 4096

# (eventSource, eventName, weight): mostly reads, as in a real account's management events
CALLS = [("ec2.amazonaws.com", "DescribeInstances", 30), ("s3.amazonaws.com", "ListBuckets", 10),
         ("sts.amazonaws.com", "GetCallerIdentity", 10), ("sts.amazonaws.com", "AssumeRole", 12),
         ("iam.amazonaws.com", "ListRoles", 6), ("kms.amazonaws.com", "Decrypt", 12),
         ("signin.amazonaws.com", "ConsoleLogin", 2), ("ec2.amazonaws.com", "RunInstances", 2),
         ("ec2.amazonaws.com", "TerminateInstances", 1), ("s3.amazonaws.com", "DeleteObjects", 1),
         ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", 1),
         ("iam.amazonaws.com", "AttachUserPolicy", 1), ("s3.amazonaws.com", "PutBucketAcl", 1),
         ("cloudtrail.amazonaws.com", "UpdateTrail", 1)]


def record(rng, t, i):
    source, name = rng.choices([(s, n) for s, n, _ in CALLS], [w for _, _, w in CALLS])[0]
    # a few busy automation users make most calls; people work from one or two addresses
    n = rng.randrange(300) if rng.random() < 0.4 else rng.randrange(12)
    user = "user%03d" % n
    ip = "203.0.113.%d" % (n % 256) if rng.random() < 0.7 else \
        "198.51.100.%d" % ((n * 7 + rng.randrange(2)) % 256) if rng.random() < 0.9 else \
        "192.0.2.%d" % rng.randrange(256)
    req = {"instancesSet": {"items": [{"instanceId": "i-%08x" % rng.randrange(1 << 32)}]}} \
        if "Instances" in name else {"bucketName": "bucket-%02d" % rng.randrange(50)}
    rec = {"eventVersion": "1.09",
           "userIdentity": {"type": "IAMUser", "principalId": "AIDA" + user.upper(),
                            "arn": "arn:aws:iam::%s:user/%s" % (ACCOUNT, user),
                            "accountId": ACCOUNT, "userName": user},
           "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
           "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
           "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.30"}
    if rng.random() < 0.03:
        rec["errorCode"], rec["errorMessage"] = "AccessDenied", "not authorized"
    rec.update({"requestParameters": req, "responseElements": None,
                "requestID": "req-%d" % i, "eventID": "bench-%08d" % i,
                "readOnly": name.startswith(("Describe", "List", "Get")),
                "eventType": "AwsConsoleSignIn" if name == "ConsoleLogin" else "AwsApiCall",
                "managementEvent": True, "recipientAccountId": ACCOUNT,
                "eventCategory": "Management"})
    if name == "ConsoleLogin":
        rec["responseElements"] = {"ConsoleLogin": "Failure" if "errorCode" in rec else "Success"}
    return rec


def generate(path, n, seed):
    rng = random.Random(seed)
    step = 86400.0 / n
    with open(path, "w") as handle:
        for i in range(n):
            handle.write(json.dumps(record(rng, DAY + int(i * step), i)) + "\n")


class _Count:
    def __init__(self):
        self.alerts = 0

    def write(self, text):
        self.alerts += text.count('"type": "alert"')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--app", default=APP, help="a built add-on (default: output/TA-trailwatch); "
                    "another build, e.g. of an earlier commit, gives the figures before a change")
    args = ap.parse_args()
    if not os.path.isdir(args.app):
        sys.exit("bench_backtest: build the add-on first (./build.sh)")
    with tempfile.TemporaryDirectory(prefix="tw-bench-backtest-") as tmp:
        events = os.path.join(tmp, "day.jsonl")
        t0 = time.time()
        generate(events, args.events, args.seed)
        t1 = time.time()
        replay = Replay(args.app, state_dir=os.path.join(tmp, "state"), warn=lambda m: None)
        os.makedirs(os.path.join(tmp, "state", "lookups"))
        sink = _Count()
        bt = Backtest(replay, [], DAY, DAY + 86400, IndexDelay("p50=3m,p99=14m,max=30m", args.seed),
                      sink)
        bt.run([events])
        t2 = time.time()
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak_command = protocol.PEAK_COMMAND_KB[0] / 1024.0
    runs = sum(s.stats["runs"] for s in bt.searches)
    unpruned = [s for s in bt.searches if not s.index_terms and s.stats["events_read_raw"]]
    print(json.dumps({
        "benchmark": "backtest of every scheduled saved search over a generated day",
        "events": args.events,
        "searches": len(bt.searches),
        "runs": runs,
        "events_evaluated": bt.evaluated,
        # events the indexers read (event-time windows, less what index terms rule out) per
        # CloudTrail event ingested, over all scheduled searches
        "raw_events_read_per_event_ingested": round(bt.read_raw / float(args.events), 2),
        # of those, by searches with no index term to prune on: full passes over CloudTrail
        # per hour of data
        "full_raw_passes_per_hour_of_data": round(
            sum(s.stats["events_read_raw"] for s in unpruned) / float(args.events), 2),
        "full_passes_by_search": {s.name: round(s.stats["events_read_raw"] / float(args.events), 2)
                                  for s in unpruned},
        "raw_reads_by_search": dict(sorted(
            ((s.name, round(s.stats["events_read_raw"] / float(args.events), 2))
             for s in bt.searches if s.stats["events_read_raw"]),
            key=lambda kv: -kv[1])[:12]),
        "summary_events_read": bt.read - bt.read_raw,
        "alerts": sink.alerts,
        "failed_runs": sum(s.stats["errors"] for s in bt.searches),
        "most_events_held": bt.peak_held,
        "generate_seconds": round(t1 - t0, 1),
        "backtest_seconds": round(t2 - t1, 1),
        "peak_rss_mb": round(peak_self, 1),
        "peak_rss_command_mb": round(peak_command, 1),
        "targets": {"backtest_seconds": TARGET_SECONDS, "peak_memory_mb": TARGET_MB},
        "within_targets": args.events >= 1000000 and t2 - t1 <= TARGET_SECONDS
        and peak_self + peak_command <= TARGET_MB,
    }))


if __name__ == "__main__":
    main()
