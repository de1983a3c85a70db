"""`./build.sh demo`: the demo story through the add-on's detections, without AWS or Splunk.

What it does today:
1. builds the demo organisation's CloudTrail activity (story.py) and writes it as CloudTrail
   log files in the S3 delivery layout (gzip, `AWSLogs/<account>/CloudTrail/<region>/...`)
   under <out>/cloudtrail;
2. replays those files through the add-on's saved searches with splreplay, support and
   baseline searches first, then every detection;
3. prints and writes <out>/summary.json: events, alerts per policy, and for each step of the
   attack the policies that alerted on its events; searches that could not run are listed
   with the reason. Exit status 1 if a step went undetected.

Not done yet (and said so in the summary): delivering the files through moto S3+SQS and the
S3+SQS input, the governance actions against moto with their undo, and the dashboards as PNG
(the browser test renders those over its own demo data: tests/browser).
"""
import argparse
import collections
import datetime
import gzip
import json
import os
import shutil
import sys

from splreplay.runner import Replay
from trailwatch_demo import story as demo_story
from trailwatch_demo.detect import policies_alerting_on, run_searches

NOT_YET = [
    "CloudTrail delivery through S3 and SQS in moto, read by the S3+SQS input as Splunk runs it "
    "(today the log files are replayed directly)",
    "governance actions (dry run, real change against moto, undo)",
    "dashboards rendered to PNG from the demo's own results",
]


def write_log_files(records, folder):
    """One gzip log file per account, region and hour, named as CloudTrail names them."""
    groups = collections.defaultdict(list)
    for rec in records:
        hour = rec["eventTime"][:13]
        groups[(rec["recipientAccountId"], rec["awsRegion"], hour)].append(rec)
    for n, ((account, region, hour), recs) in enumerate(sorted(groups.items())):
        day = hour[:10].replace("-", "/")
        stamp = hour.replace("-", "").replace("T", "T") + "00Z"
        path = os.path.join(folder, "AWSLogs", account, "CloudTrail", region, day,
                            "%s_CloudTrail_%s_%s_%06d.json.gz" % (account, region, stamp, n))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            json.dump({"Records": recs}, handle)
    return len(groups)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="./build.sh demo")
    parser.add_argument("--app", required=True, help="the built add-on (output/TA-trailwatch)")
    parser.add_argument("--out", default="demo-output")
    args = parser.parse_args(argv)

    shutil.rmtree(args.out, ignore_errors=True)
    logs = os.path.join(args.out, "cloudtrail")
    story = demo_story.build()
    files = write_log_files(story["records"], logs)

    replay = Replay(args.app, state_dir=os.path.join(args.out, "state"),
                    warn=lambda message: None)
    events = replay.load_events([logs])
    now = max(e["_time"] for e in events) + 1800
    failed = {}
    found = run_searches(replay, events, now, failed=failed)

    steps = {step: sorted(policies_alerting_on(found, records))
             for step, records in story["steps"].items()}
    summary = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accounts": story["accounts"],
        "cloudtrail_log_files": files,
        "events_replayed": len(events),
        "alerts_per_policy": dict(sorted(collections.Counter(
            row["policy_id"] for _, row in found if row.get("policy_id")).items())),
        "attack_steps": steps,
        "all_steps_detected": all(steps.values()),
        "searches_that_could_not_run": failed,
        "not_yet_in_this_demo": NOT_YET,
    }
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)

    print("TrailWatch demo: %d CloudTrail events in %d log files, accounts %s"
          % (len(events), files, ", ".join(story["accounts"])))
    print("alerts per policy: " + ", ".join("%s=%d" % kv
                                           for kv in summary["alerts_per_policy"].items()))
    for step, policies in steps.items():
        print("  %-26s %s" % (step, ", ".join(policies) or "NOT DETECTED"))
    for name, why in sorted(failed.items()):
        print("  could not run %s: %s" % (name, why))
    print("not yet in this demo:")
    for item in NOT_YET:
        print("  - " + item)
    print("summary: %s" % os.path.join(args.out, "summary.json"))
    return 0 if summary["all_steps_detected"] else 1


if __name__ == "__main__":
    sys.exit(main())
