#!/usr/bin/env python3
"""Benchmark of the four modular inputs run as Splunk runs them: the built
add-on's input scripts as child processes, input definition XML on stdin, the XML event
stream read back from stdout; splunkd answered by the test double (tools/splunkd_double),
AWS by moto on 127.0.0.1, LookupEvents by the rate-limited loopback fake of
tests/inputs/lookup_events_fake.py (2 requests/s per account and region, 50 events per
page, throttling beyond that). Real time, real HTTP: no virtual clock.

Prints one JSON object per figure: ``name``, ``value``, ``unit`` and, where they apply,
``limit`` and ``ratio`` (value / limit), plus context fields.

Figures:
- aws_cloudtrail_api_sustained_events_per_s: one region, a window of N pages, events written
  over the time from the first LookupEvents request (plus that request's 0.5 s slot of the
  rate budget) to the end of the run; limit 100 events/s (2 requests/s x 50);
  target ratio >= 0.95, with no request throttled and no throttling error in the log;
- aws_cloudtrail_api_3_regions_events_per_s: the same with three regions at once (limit 300);
- aws_cloudtrail_sqs_events_per_s / _mb_per_s: queue -> S3 (moto) -> stream, end to end,
  including SQS receive/delete, downloads and KV store file marks;
- aws_cloudtrail_sqs_peak_rss_mb: peak resident memory of the input process reading one
  50 MB (uncompressed) log file.

Usage: bench/bench_inputs.py [--pages N] [--files N] [--quick]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILT = os.path.join(ROOT, "output", "TA-trailwatch")
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "inputs"),
                os.path.join(ROOT, "tools")]


def _wait_for_build(seconds=180):
    """Other sessions may be rebuilding output/ (build.sh starts with rm -rf): wait a bit."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if os.path.exists(os.path.join(BUILT, "bin", "aws_cloudtrail_sqs.py")) and \
                os.path.isdir(os.path.join(BUILT, "lib", "splunklib")):
            return True
        time.sleep(2)
    return False


def emit(name, value, unit, **extra):
    figure = {"name": name, "value": round(value, 3) if isinstance(value, float) else value,
              "unit": unit}
    figure.update(extra)
    print(json.dumps(figure), flush=True)


def _environment():
    from inputs_helpers import install_app, make_splunk_home, store_account
    from lookup_events_fake import LookupEventsFake
    from moto_fixtures import MotoServer
    from splunkd_double import SplunkdDouble

    class Env(object):
        pass

    env = Env()
    env.tmp = tempfile.mkdtemp(prefix="bench-inputs-")
    import pathlib

    env.home = make_splunk_home(pathlib.Path(env.tmp))
    env.moto = MotoServer()
    env.fake = LookupEventsFake(rate=2.0, burst=2.0)
    env.splunkd = SplunkdDouble().start()
    install_app(env.splunkd)
    store_account(env.splunkd)
    return env


def _close(env):
    env.splunkd.stop()
    env.fake.stop()
    env.moto.stop()


def _run(env, input_type, name, params, aws_url, cloudtrail_url=None, measure_rss=False):
    from inputs_helpers import input_definition, input_env, parse_stream, script_args

    stdin = input_definition(env.splunkd, input_type, name, params, env.tmp)
    child_env = input_env(env.home, aws_url, cloudtrail_url)
    started = time.time()
    if measure_rss:
        # A wrapper process runs the input and reports its children's peak RSS.
        wrapper = ("import resource, subprocess, sys\n"
                   "p = subprocess.run(sys.argv[1:], stdin=sys.stdin, stdout=sys.stdout)\n"
                   "sys.stderr.write('PEAK_RSS_KB=%d\\n' % "
                   "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
                   "sys.exit(p.returncode)\n")
        args = [sys.executable, "-c", wrapper] + script_args(sys.executable, input_type)
    else:
        args = script_args(sys.executable, input_type)
    result = subprocess.run(args, input=stdin, capture_output=True, env=child_env,
                            cwd=os.path.join(BUILT, "bin"), timeout=1800)
    ended = time.time()
    if result.returncode != 0:
        raise RuntimeError("%s failed: %s" % (input_type, result.stderr.decode()[-2000:]))
    events = parse_stream(result.stdout)
    rss = None
    match = re.search(rb"PEAK_RSS_KB=(\d+)", result.stderr)
    if match:
        rss = int(match.group(1)) / 1024.0
    return events, started, ended, rss, len(result.stdout)


def _log(env, input_type, name):
    from inputs_helpers import read_log

    return read_log(env.home, input_type, name)


def bench_api(env, pages, regions):
    now = time.time()
    count = pages * 50
    for region in regions:
        for i in range(count):
            env.fake.add(region, "%s-%06d" % (region, i), now - 2400 + i * 2400.0 / count)
    name = "api%d" % len(regions)
    # A checkpoint 40 minutes back: one window of `pages` pages per region.
    for region in regions:
        env.splunkd.kv_insert("trailwatch_input_checkpoints", {
            "_key": "aws_cloudtrail_api__%s__region_%s" % (name, region),
            "state": json.dumps({"version": 1, "end": int(now) - 2400 + 600, "recent": {}})})
    del env.fake.requests[:]
    events, started, ended, _rss, _size = _run(
        env, "aws_cloudtrail_api", name,
        {"account": "prod", "regions": ",".join(regions), "index": "main"},
        env.moto.url, env.fake.url)
    requests = [r for r in env.fake.requests if r["region"] in regions]
    first = min(r["at"] for r in requests)
    # The fake stamps requests with time.monotonic(); convert the run's end to that clock.
    end_monotonic = time.monotonic() - (time.time() - ended)
    # N requests use N slots of the 2/s budget: the first one's slot (0.5 s) is counted too,
    # so a run that paces at exactly the limit scores 1.0.
    seconds = end_monotonic - first + 0.5
    throttled = sum(1 for r in requests if r["outcome"] == "throttled")
    log = _log(env, "aws_cloudtrail_api", name)
    throttle_errors = len(re.findall(r"log_level=(WARNING|ERROR).*throttl", log))
    assert len(events) == count * len(regions), (len(events), count * len(regions))
    return len(events), seconds, ended - started, len(requests), throttled, throttle_errors


def bench_sqs(env, files, records_per_file):
    import boto3
    from inputs_helpers import log_file, log_key, make_record, s3_notification

    kwargs = dict(endpoint_url=env.moto.url, region_name="us-east-1",
                  aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="bench")
    s3 = boto3.client("s3", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    bucket = "bench-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    queue = sqs.create_queue(QueueName="bench-" + uuid.uuid4().hex[:8])["QueueUrl"]
    gzip_bytes = raw_bytes = 0
    base = time.time() - 3600
    for f in range(files):
        texts = [make_record(str(uuid.uuid4()), base + f + i / 1000.0, style=i)
                 for i in range(records_per_file)]
        body = log_file(texts)
        gzip_bytes += len(body)
        raw_bytes += sum(len(t.encode()) for t in texts)
        key = log_key("us-east-1", base, f)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        sqs.send_message(QueueUrl=queue, MessageBody=s3_notification(bucket, key))
    events, started, ended, _rss, _size = _run(
        env, "aws_cloudtrail_sqs", "sqs",
        {"account": "prod", "queue_url": queue, "sqs_region": "us-east-1", "index": "main"},
        env.moto.url)
    assert len(events) == files * records_per_file
    # The run ends with one empty long poll (2 s) that is not work: leave it out.
    seconds = ended - started - 2.0
    return len(events), seconds, gzip_bytes, raw_bytes


def bench_sqs_memory(env, megabytes):
    import boto3
    from inputs_helpers import log_key, make_record, s3_notification
    import gzip

    kwargs = dict(endpoint_url=env.moto.url, region_name="us-east-1",
                  aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="bench")
    s3 = boto3.client("s3", **kwargs)
    sqs = boto3.client("sqs", **kwargs)
    bucket = "bench-mem-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    queue = sqs.create_queue(QueueName="bench-mem-" + uuid.uuid4().hex[:8])["QueueUrl"]
    texts, size = [], 0
    while not texts or size < megabytes * 1000 * 1000:
        text = make_record(str(uuid.uuid4()), time.time() - 600, style=len(texts))
        texts.append(text)
        size += len(text) + 1
    body = ('{"Records":[' + ",".join(texts) + "]}").encode()
    key = log_key("us-east-1", time.time(), 0)
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body, 6))
    sqs.send_message(QueueUrl=queue, MessageBody=s3_notification(bucket, key))
    events, _started, _ended, rss, _size = _run(
        env, "aws_cloudtrail_sqs", "sqsmem",
        {"account": "prod", "queue_url": queue, "sqs_region": "us-east-1", "index": "main"},
        env.moto.url, measure_rss=True)
    assert len(events) == len(texts)
    return rss, len(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="LookupEvents pages per region")
    parser.add_argument("--files", type=int, default=40, help="log files on the SQS queue")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.pages, args.files = 8, 8
    if not _wait_for_build():
        print(json.dumps({"name": "bench_inputs", "error": "add-on not built"}))
        return 1
    env = _environment()
    try:
        events, seconds, wall, requests, throttled, errors = bench_api(env, args.pages, ["us-east-1"])
        rate = events / seconds
        emit("aws_cloudtrail_api_sustained_events_per_s", rate, "events/s", limit=100.0,
             ratio=round(rate / 100.0, 3), target_ratio=0.95, events=events, requests=requests,
             throttled_requests=throttled, throttling_errors_logged=errors,
             run_wall_seconds=round(wall, 2))
        events, seconds, wall, requests, throttled, errors = bench_api(
            env, args.pages, ["us-west-2", "eu-central-1", "ap-south-1"])
        rate = events / seconds
        emit("aws_cloudtrail_api_3_regions_events_per_s", rate, "events/s", limit=300.0,
             ratio=round(rate / 300.0, 3), events=events, requests=requests,
             throttled_requests=throttled, throttling_errors_logged=errors,
             run_wall_seconds=round(wall, 2))
        events, seconds, gzip_bytes, raw_bytes = bench_sqs(env, args.files, 2000)
        emit("aws_cloudtrail_sqs_events_per_s", events / seconds, "events/s", events=events,
             files=args.files, note="end to end with moto on loopback: SQS, S3 downloads, KV "
             "marks, XML stream; the pure path's ratios are in bench_ingest.py")
        emit("aws_cloudtrail_sqs_mb_per_s", raw_bytes / 1e6 / seconds, "MB/s (uncompressed)",
             gzip_mb=round(gzip_bytes / 1e6, 2), uncompressed_mb=round(raw_bytes / 1e6, 2))
        idle = bench_sqs_memory(env, 0)[0]
        rss, size = bench_sqs_memory(env, 10 if args.quick else 50)
        emit("aws_cloudtrail_sqs_peak_rss_mb", rss, "MB", log_file_mb=round(size / 1e6, 1),
             idle_process_rss_mb=round(idle, 1),
             note="peak resident memory of the whole input process (Python, boto3, one log); "
             "idle: the same process reading a log of one record")
    finally:
        _close(env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
