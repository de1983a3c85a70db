"""`./build.sh demo`: the whole add-on in one command, without AWS or Splunk.

1. story: the demo organisation's two weeks of CloudTrail activity ending in an attack
   (story.py), written as CloudTrail log files (gzip, `AWSLogs/<account>/CloudTrail/...`);
2. delivery: moto on 127.0.0.1 (running as the prod account) gets the trail bucket and its
   SQS queue; the files go into the bucket, whose notifications go to the queue; the built
   S3+SQS input reads the queue as splunkd runs it (splunkd answered by tools/splunkd_double);
3. posture: the prod account's users and buckets (the exposed one as the attacker left it)
   are created in moto and snapshotted by the built S3 posture and IAM inventory inputs;
4. detection: the add-on's saved searches over the events the inputs wrote (splreplay:
   support and baseline searches first, then every detection), iplocation reading the
   story's GeoIP database (written into the work folder: office in Dublin, attacker in
   Singapore);
5. governance: the actions attached to the public-bucket (C01) and spraying (A01, B06)
   detections on their alerts, in dry run, then for real against moto; the AWS state is
   checked, and one action is undone with `trailwatchundo` and the state checked again;
6. dashboards: the six Dashboard Studio views rendered to PNG in headless Chromium by
   Splunk's dashboard framework, each search computed by splreplay over the demo's own
   events, alerts and audit events (demo-output/dashboards/*.png).

It prints the summary and writes <out>/summary.json; exit status 1 when a step failed or an
attack step went undetected.
"""
import argparse
import collections
import datetime
import gzip
import json
import os
import pathlib
import shutil
import sys
import time
import traceback

from splreplay.events import parse_time
from splreplay.runner import Replay
from trailwatch_demo import story as demo_story
from trailwatch_demo.detect import is_support, policies_alerting_on, run_searches

PROD_ACCOUNT_NAME = "prod"


def write_log_files(records, folder, hours=3):
    """One gzip log file per account, region and ``hours`` hours, named as CloudTrail names
    them (CloudTrail writes one about every five minutes: fewer, larger files keep the demo's
    delivery quick)."""
    groups = collections.defaultdict(list)
    for rec in records:
        start = int(rec["eventTime"][11:13]) // hours * hours
        hour = "%sT%02d" % (rec["eventTime"][:10], start)
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


class Steps:
    """Runs the demo's steps in order, timing each; a step that raises is recorded as failed
    (with its error) and the steps that need its result are skipped."""

    def __init__(self):
        self.status = collections.OrderedDict()

    def run(self, name, function, *args):
        started = time.time()
        try:
            result = function(*args)
        except Exception as exc:  # reported in the summary; the exit status says it failed
            self.status[name] = {"ok": False, "seconds": round(time.time() - started, 1),
                                 "error": "%s: %s" % (type(exc).__name__, exc)}
            traceback.print_exc(file=sys.stderr)
            return None
        self.status[name] = {"ok": True, "seconds": round(time.time() - started, 1)}
        return result

    def fail(self, name, problems):
        self.status[name]["ok"] = False
        self.status[name]["problems"] = problems

    def skip(self, name, why):
        self.status[name] = {"ok": False, "skipped": why}

    def ok(self, *names):
        return all(self.status.get(n, {}).get("ok") for n in names)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="./build.sh demo")
    parser.add_argument("--app", required=True, help="the built add-on (output/TA-trailwatch)")
    parser.add_argument("--out", default="demo-output")
    parser.add_argument("--days", type=int, default=16,
                        help="days of story (the last one holds the attack; baselines need 14)")
    parser.add_argument("--no-dashboards", action="store_true",
                        help="skip rendering the dashboards (the step is reported as skipped)")
    args = parser.parse_args(argv)
    app = os.path.abspath(args.app)
    out = os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    work = pathlib.Path(out) / "work"
    work.mkdir(parents=True)
    steps = Steps()
    started = time.time()

    story = demo_story.build(days=args.days)
    logs = os.path.join(out, "cloudtrail")
    files = write_log_files(story["records"], logs)
    geoip = demo_story.write_geoip(str(work / "geoip-city.mmdb"))
    replay = Replay(app, state_dir=os.path.join(out, "state"), geoip=geoip,
                    warn=lambda message: None)
    now = parse_time(story["records"][-1]["eventTime"]) + 1800

    from splunk_runner.alert_action import AddonSplunkd
    from splunk_runner.moto_server import MotoServer

    # moto answers as the prod account: the actions act there and refuse other accounts.
    os.environ["MOTO_ACCOUNT_ID"] = demo_story.PROD
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"  # AdministratorAccess
    moto = MotoServer()
    splunkd = AddonSplunkd(app)
    splunkd.start()
    summary = collections.OrderedDict()
    try:
        splunkd.add_account(PROD_ACCOUNT_NAME)
        delivery = steps.run("delivery", deliver_step, app, splunkd, moto.url, work, logs, replay)
        snapshots = steps.run("posture", posture_step, app, splunkd, moto.url, work, story, now)
        events = (delivery or {}).get("events", []) + (snapshots or [])
        events.sort(key=lambda e: -e["_time"])
        found = []
        failed = {}
        if delivery:
            found = steps.run("detection", run_searches, replay, events, now, failed) or []
        else:
            steps.skip("detection", "no events were ingested")
        attack = {step: sorted(policies_alerting_on(found, records))
                  for step, records in story["steps"].items()}
        if not all(attack.values()):
            steps.fail("detection", ["attack step not detected: " + s
                                     for s, p in attack.items() if not p])
        if failed:
            steps.fail("detection", ["could not run %s: %s" % kv for kv in sorted(failed.items())])

        audits = []
        governance = {}
        if found and steps.ok("posture"):
            result = steps.run("governance", govern_step, app, splunkd, moto.url, work, found,
                               story)
            if result:
                governance, audits, problems = result
                if problems:
                    steps.fail("governance", problems)
        else:
            steps.skip("governance", "needs the detections' alerts and the moto organisation")

        dashboards = {}
        if args.no_dashboards:
            steps.skip("dashboards", "--no-dashboards")
        elif found:
            dashboards = steps.run("dashboards", dashboards_step, app, replay, events, found,
                                   audits, now, out) or {}
            problems = [p for view in dashboards.values() for p in view.get("problems", [])]
            if problems:
                steps.fail("dashboards", problems)
        else:
            steps.skip("dashboards", "no alerts to show")

        summary.update([
            ("generated", datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")),
            ("accounts", story["accounts"]),
            ("cloudtrail_log_files", files),
            ("delivery", {k: v for k, v in (delivery or {}).items() if k != "events"}),
            ("events_ingested", len((delivery or {}).get("events", []))),
            ("story_records", len(story["records"])),
            ("snapshot_events", collections.Counter(
                e["sourcetype"] for e in snapshots or [])),
            ("alerts_per_policy", dict(sorted(collections.Counter(
                row["policy_id"] for _, row in found if row.get("policy_id")).items()))),
            ("attack_steps", attack),
            ("all_steps_detected", bool(found) and all(attack.values())),
            ("searches_that_could_not_run", failed),
            ("governance", governance),
            ("dashboards", dashboards),
            # What the dashboards show that no part of the demo produces (no Splunk runs).
            ("dashboard_data_modelled", [
                "the add-on's own log lines (index=_internal source=*ta-trailwatch_*.log)",
                "splunkd's scheduler log of the support and baseline searches"]),
            ("steps", steps.status),
            ("seconds", round(time.time() - started, 1)),
        ])
    finally:
        splunkd.stop()
        moto.stop()
    summary["ok"] = all(s.get("ok") or s.get("skipped") == "--no-dashboards"
                        for s in steps.status.values()) and summary["all_steps_detected"]
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print_summary(summary, out)
    return 0 if summary["ok"] else 1


def deliver_step(app, splunkd, moto_url, work, logs, replay):
    from trailwatch_demo import deliver

    queue_url = deliver.trail_destination(moto_url)
    delivered = deliver.upload(logs, moto_url)
    queued, _ = deliver.queue_counts(queue_url, moto_url)
    home = _splunk_home(work)
    stream, _log = deliver.collect(app, splunkd, home, work, queue_url, moto_url,
                                   PROD_ACCOUNT_NAME)
    left = deliver.queue_counts(queue_url, moto_url)
    events = deliver.as_search_events(replay, stream, delivered)
    if left != (0, 0):
        raise RuntimeError("the input left %d messages in the queue (%d in flight)" % left)
    return {"bucket": deliver.TRAIL_BUCKET, "files_delivered": len(delivered),
            "sqs_messages": queued, "messages_left": left[0] + left[1],
            "files_read": len({e["source"] for e in events}), "events": events}


def posture_step(app, splunkd, moto_url, work, story, now):
    from trailwatch_demo import deliver, govern

    govern.build_organisation(moto_url, story)
    home = _splunk_home(work)
    events = []
    for input_type in ("aws_s3_posture", "aws_iam_inventory"):
        events += deliver.snapshot(app, splunkd, home, work, moto_url, input_type,
                                   PROD_ACCOUNT_NAME, now - 1200)
    return events


def govern_step(app, splunkd, moto_url, work, found, story):
    from trailwatch_demo import govern

    return govern.govern(app, splunkd, moto_url, work, found, story)


def dashboards_step(app, replay, events, found, audits, now, out):
    from trailwatch_demo import dashboard_data, dashboards

    missing = dashboards.missing_tools()
    if missing:
        raise RuntimeError("rendering needs " + "; and ".join(missing))
    shown = list(events)
    shown += dashboard_data.alert_events(found)
    shown += dashboard_data.audit_events(audits, now - 1500)
    shown += dashboard_data.log_events(now)
    names = replay.app.saved_search_names()
    shown += dashboard_data.scheduler_events([n for n in names if is_support(n)], now)
    shown.sort(key=lambda e: -e["_time"])
    pages = os.path.join(out, "work", "pages")
    os.makedirs(pages)
    return dashboards.render_all(app, replay, shown, now, os.path.join(out, "dashboards"), pages)


def _splunk_home(work):
    home = work / "splunk"
    if not home.exists():
        from splunk_runner.modinput import make_splunk_home

        make_splunk_home(work)
    return home


def print_summary(summary, out):
    delivery = summary["delivery"]
    print("TrailWatch demo: %d CloudTrail log files of accounts %s delivered to s3://%s, "
          "%d SQS notifications, %d events ingested by the S3+SQS input"
          % (delivery.get("files_delivered", 0), ", ".join(summary["accounts"]),
             delivery.get("bucket", "?"), delivery.get("sqs_messages", 0),
             summary["events_ingested"]))
    print("alerts per policy: " + ", ".join("%s=%d" % kv
                                           for kv in summary["alerts_per_policy"].items()))
    print("attack steps and the policies that caught them:")
    for step, policies in summary["attack_steps"].items():
        print("  %-26s %s" % (step, ", ".join(policies) or "NOT DETECTED"))
    governance = summary["governance"]
    if governance:
        print("governance (dry run first: AWS %s):" % (
            "CHANGED" if governance["dry_run_changed_aws"] else "unchanged"))
        for line in governance["actions"]:
            print("  %-32s %-4s %-48s %s%s" % (line["action"], line["policy"], line["target"],
                                             line["outcome"],
                                             " (%s)" % line["error_code"] if line["error_code"] else ""))
        for check, ok in governance["aws_state_checks"].items():
            print("  checked in AWS: %-50s %s" % (check, "yes" if ok else "NO"))
        undo = governance["undo"]
        if undo:
            print("  undo %s (%s on %s): %s, state restored: %s" % (
                undo["action_id"], undo["action"], undo["target"], undo["outcome"],
                "yes" if undo["state_restored"] else "NO"))
    for view, result in summary["dashboards"].items():
        print("  dashboard %-30s %s" % (view, result.get("png", "")))
    print("steps:")
    for name, status in summary["steps"].items():
        state = "ok" if status.get("ok") else ("skipped: " + status["skipped"]
                                              if "skipped" in status else "FAILED")
        print("  %-11s %s%s" % (name, state, " (%.1f s)" % status["seconds"]
                                if "seconds" in status else ""))
        for problem in status.get("problems", []) + ([status["error"]] if "error" in status else []):
            print("      " + problem)
    print("summary: %s (%s)" % (os.path.join(out, "summary.json"),
                                "all steps done" if summary["ok"] else "SOME STEPS FAILED"))


if __name__ == "__main__":
    sys.exit(main())
