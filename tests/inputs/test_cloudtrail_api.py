"""aws_cloudtrail_api, run from the built add-on as splunkd runs it: LookupEvents answered by
the loopback fake (real pagination, newest first, 2 requests/s per region), STS by moto,
configuration and KV store checkpoints by the splunkd double."""
import json
import sys
import time

import pytest
from inputs_helpers import (
    COLLECTION,
    crash_loop,
    event_ids,
    input_definition,
    input_env,
    parse_stream,
    read_log,
    run_input,
    stop_with_sigterm,
)

INPUT = "aws_cloudtrail_api"


def definition(splunkd, tmp_path, name="ct", **params):
    full = {"account": "prod", "regions": "us-east-1", "backfill_days": "1", "index": "main"}
    full.update(params)
    return input_definition(splunkd, INPUT, name, full, tmp_path)


def run(splunkd, tmp_path, splunk_home, moto, fake, python=sys.executable, **params):
    result = run_input(python, INPUT, definition(splunkd, tmp_path, **params),
                       input_env(splunk_home, moto.url, fake.url))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", result.stderr.decode()
    return parse_stream(result.stdout)


def checkpoint(splunkd, name, region):
    for record in splunkd.kv_records(COLLECTION):
        if record["_key"] == "%s__%s__region_%s" % (INPUT, name, region):
            return json.loads(record["state"])
    return None


def test_first_run_backfills_oldest_first_and_writes_records_unchanged(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    now = time.time()
    texts = {}
    for i in range(70):  # two pages in us-east-1
        event_id = "use1-%03d" % i
        texts[event_id] = lookup_fake.add("us-east-1", event_id, now - 7200 + i * 60,
                                          extra=',"note":"caf\u00e9 <&> \\"q\\""')
    for i in range(5):
        event_id = "euw1-%03d" % i
        texts[event_id] = lookup_fake.add("eu-west-1", event_id, now - 3000 + i)
    lookup_fake.add("us-east-1", "too-old", now - 3 * 86400)  # before the 1-day back-fill

    events = run(installed, tmp_path, splunk_home, moto, lookup_fake,
                 regions="us-east-1,eu-west-1")

    assert len(events) == 75
    by_region = {}
    for event in events:
        record = json.loads(event["data"])
        assert event["data"] == texts[record["eventID"]]  # byte-identical CloudTrailEvent
        assert event["sourcetype"] == "aws:cloudtrail"
        assert event["index"] == "main"
        assert event["source"] == "aws_cloudtrail_api:123456789012:" + record["awsRegion"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(event["time"])))
        assert stamp == record["eventTime"]
        by_region.setdefault(record["awsRegion"], []).append(float(event["time"]))
    for times in by_region.values():
        assert times == sorted(times)  # oldest first
    assert checkpoint(installed, "ct", "us-east-1")["end"] >= int(now)
    assert checkpoint(installed, "ct", "eu-west-1")["end"] >= int(now)
    log = read_log(splunk_home, INPUT, "ct")
    assert "action=events_ingested" in log and "n_events=70" in log
    assert "back-filling from" in log
    assert "ERROR" not in log
    assert installed.unimplemented == []


def test_next_run_writes_only_new_and_late_events_once(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    now = time.time()
    for i in range(10):
        lookup_fake.add("us-east-1", "a-%d" % i, now - 1000 + i * 60)
    first = run(installed, tmp_path, splunk_home, moto, lookup_fake)
    assert len(first) == 10
    # An event that LookupEvents shows late: its eventTime lies before the previous run's
    # end, inside the overlap. And a new one.
    lookup_fake.add("us-east-1", "late-1", now - 120)
    lookup_fake.add("us-east-1", "new-1", time.time() + 1)
    time.sleep(1.5)
    second = run(installed, tmp_path, splunk_home, moto, lookup_fake)
    assert sorted(json.loads(e["data"])["eventID"] for e in second) == ["late-1", "new-1"]
    third = run(installed, tmp_path, splunk_home, moto, lookup_fake)
    assert third == []


def test_requests_are_paced_under_two_per_second_and_never_throttled(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    now = time.time()
    for i in range(260):  # 6 pages in one window
        lookup_fake.add("us-west-2", "p-%03d" % i, now - 1800 + i * 5)
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake, regions="us-west-2",
                 backfill_days="0")
    assert events == []  # back-fill 0 days: collection starts now
    lookup_fake.requests.clear()
    # A checkpoint 40 minutes back: one window, 6 pages.
    installed.kv_insert(COLLECTION, {
        "_key": "%s__ct__region_us-west-2" % INPUT,
        "state": json.dumps({"version": 1, "end": int(now) - 1800, "recent": {}})})
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake, regions="us-west-2")
    assert len(events) == 260
    requests = [r for r in lookup_fake.requests if r["region"] == "us-west-2"]
    assert [r["outcome"] for r in requests] == ["ok"] * len(requests)
    assert len(requests) >= 6
    gaps = [b["at"] - a["at"] for a, b in zip(requests, requests[1:], strict=False)]
    assert min(gaps) >= 0.45, gaps  # 1.95 requests/s at most


def test_a_throttling_storm_is_ridden_out_without_loss(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    now = time.time()
    for i in range(60):
        lookup_fake.add("us-east-1", "t-%02d" % i, now - 3000 + i * 30)
    lookup_fake.throttle_next(4)
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake)
    assert len(events) == 60
    assert lookup_fake.outcomes().count("throttled") == 4
    log = read_log(splunk_home, INPUT, "ct")
    assert "ERROR" not in log and "throttled retries" in log


def test_persistent_throttling_stops_the_region_without_moving_its_checkpoint(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    lookup_fake.add("us-east-1", "x-1", time.time() - 100)
    lookup_fake.throttle_next(1000)
    started = time.time()
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake)
    assert events == []
    assert time.time() - started < 60  # 5 retries, at most 15.5 s of backoff
    log = read_log(splunk_home, INPUT, "ct")
    assert "kept throttling" in log and "cloudtrail:LookupEvents" in log
    assert checkpoint(installed, "ct", "us-east-1") is None


def test_access_denied_in_one_region_does_not_stop_the_others(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    now = time.time()
    lookup_fake.add("us-east-1", "ok-1", now - 600)
    lookup_fake.add("ap-southeast-2", "denied-1", now - 600)
    lookup_fake.deny("ap-southeast-2")
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake,
                 regions="us-east-1,ap-southeast-2")
    assert [json.loads(e["data"])["eventID"] for e in events] == ["ok-1"]
    log = read_log(splunk_home, INPUT, "ct")
    assert ("AWS account 'prod' is not allowed to call cloudtrail:LookupEvents in "
            "ap-southeast-2 (AccessDeniedException)") in log
    assert checkpoint(installed, "ct", "ap-southeast-2") is None
    assert checkpoint(installed, "ct", "us-east-1") is not None


def test_unusable_events_are_logged_and_the_rest_delivered(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    now = time.time()
    lookup_fake.add("us-east-1", "good-1", now - 500)
    lookup_fake.add_raw("us-east-1", "no-time", now - 400,
                        '{"eventID":"no-time","eventName":"Broken"}')
    lookup_fake.add_raw("us-east-1", "not-json", now - 300, "this is not JSON")
    lookup_fake.add_raw("us-east-1", "cut", now - 250, '{"eventTime":"2024-01-01T00:00:00Z",')
    huge = lookup_fake.add("us-east-1", "huge-1", now - 200,
                           extra=',"blob":"%s"' % ("x" * 2000000))
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake)
    assert [json.loads(e["data"])["eventID"] for e in events] == ["good-1", "huge-1"]
    assert events[1]["data"] == huge
    log = read_log(splunk_home, INPUT, "ct")
    assert log.count("Skipped a LookupEvents event") == 3
    assert "no-time" in log


def test_lookup_attribute_filters_the_events(installed, tmp_path, splunk_home, moto, lookup_fake):
    now = time.time()
    lookup_fake.add("us-east-1", "s3-1", now - 500, source="s3.amazonaws.com", name="PutBucketAcl")
    lookup_fake.add("us-east-1", "ec2-1", now - 400)
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake,
                 lookup_attribute="EventSource=s3.amazonaws.com")
    assert [json.loads(e["data"])["eventID"] for e in events] == ["s3-1"]


def test_runs_on_splunk_pythons(splunk_python, installed, tmp_path, splunk_home, moto,
                                lookup_fake):
    now = time.time()
    for i in range(55):
        lookup_fake.add("us-east-1", "py-%02d" % i, now - 3000 + i * 10)
    events = run(installed, tmp_path, splunk_home, moto, lookup_fake, python=splunk_python)
    assert len(events) == 55
    assert "ERROR" not in read_log(splunk_home, INPUT, "ct")


def test_wrong_credentials_are_reported_in_words(installed, tmp_path, splunk_home, moto_iam,
                                                 lookup_fake):
    from inputs_helpers import store_account

    key, _secret = moto_iam.make_user("ct-wrong-secret", ["cloudtrail:LookupEvents"])
    store_account(installed, key_id=key, secret="not-the-secret-of-this-key-000000000000")
    lookup_fake.add("us-east-1", "never", time.time() - 100)
    events = run(installed, tmp_path, splunk_home, moto_iam, lookup_fake)
    assert events == []
    log = read_log(splunk_home, INPUT, "ct")
    assert "cannot use AWS account 'prod'" in log
    assert "SignatureDoesNotMatch" in log
    assert "not-the-secret" not in log
    assert lookup_fake.requests == []


@pytest.mark.slow
def test_killed_at_random_points_it_delivers_everything_without_duplicates(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    """SIGKILL during a multi-region, multi-page back-fill, restart, repeat: every event is
    delivered at least once; duplicates are counted (the target is zero)."""
    now = time.time()
    expected = set()
    for region in ("us-east-1", "eu-west-1", "ap-northeast-1"):
        for i in range(400):  # over the whole day back-filled: windows of 1 to 3 pages
            event_id = "%s-%03d" % (region, i)
            lookup_fake.add(region, event_id, now - 86000 + i * 214)
            expected.add(event_id)
    stdin = definition(installed, tmp_path, regions="us-east-1,eu-west-1,ap-northeast-1")
    env = input_env(splunk_home, moto.url, lookup_fake.url)
    lost, duplicates = crash_loop(tmp_path, INPUT, stdin, env, expected, kill_runs=4,
                                  kill_after=(1.5, 6.0), max_runs=8,
                                  done=lambda status, ids: status == 0)
    assert not lost, "lost %d events" % len(lost)
    # A kill between the flush of a window and its checkpoint re-delivers that window: rare.
    assert duplicates <= 400


def test_sigterm_stops_every_region_promptly_and_the_next_run_goes_on(
        installed, tmp_path, splunk_home, moto, lookup_fake):
    """Splunk stops an input with SIGTERM: every region's worker ends its window at hand, the
    process exits 0 within seconds, and the next run delivers the rest, each event once."""
    now = time.time()
    expected = []
    regions = ("us-east-1", "eu-west-1", "ap-northeast-1")
    for region in regions:
        for i in range(400):  # a day of back-fill at 2 requests/s: about 10 s per region
            event_id = "%s-%03d" % (region, i)
            lookup_fake.add(region, event_id, now - 86000 + i * 214)
            expected.append(event_id)
    stdin = definition(installed, tmp_path, regions=",".join(regions))
    env = input_env(splunk_home, moto.url, lookup_fake.url)
    first, stopped_in = stop_with_sigterm(INPUT, stdin, env, tmp_path / "first.xml")
    print("SIGTERM: %d of %d events written, stopped in %.1f s" % (len(first), len(expected),
                                                                   stopped_in))
    assert 0 < len(first) < len(expected)
    assert stopped_in < 10
    second = run(installed, tmp_path, splunk_home, moto, lookup_fake,
                 regions=",".join(regions))
    delivered = event_ids(first) + event_ids(second)
    assert sorted(delivered) == sorted(expected)  # everything, once
