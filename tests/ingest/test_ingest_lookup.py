"""lookup_window: windows, overlap dedup, ordering, pacing and backoff (fake clock)."""

import json
import random

import pytest

from trailwatch.ingest import cloudtrail_records as cr
from trailwatch.ingest import lookup_window as lw

DAY = 86400
NOW = 1714564800  # 2024-05-01T12:00:00Z


class FakeClock:
    def __init__(self, now=0.0):
        self.now = float(now)
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class Throttled(Exception):
    """Shaped like botocore's ClientError for a throttled call."""

    def __init__(self, code="ThrottlingException"):
        super().__init__("An error occurred (%s) when calling the LookupEvents operation" % code)
        self.response = {"Error": {"Code": code, "Message": "Rate exceeded"},
                         "ResponseMetadata": {"HTTPStatusCode": 400}}


def event_text(event_id, epoch_ms):
    seconds, millis = divmod(epoch_ms, 1000)
    import datetime

    stamp = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S")
    stamp += (".%03dZ" % millis) if millis else "Z"
    return ('{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","userName":"u%s"},'
            '"eventTime":"%s","eventSource":"iam.amazonaws.com","eventName":"ListUsers",'
            '"awsRegion":"us-east-1","eventID":"%s"}' % (event_id[-4:], stamp, event_id))


class FakeLookupEvents:
    """LookupEvents over a fixed set of events: newest first, 50 per page, StartTime and
    EndTime inclusive (seconds), events visible only after their delivery delay, and a
    server-side limit of `rate` requests/s (token bucket, burst `burst`)."""

    def __init__(self, clock, events, rate=2.0, burst=2.0, throttle_first=0):
        self.clock = clock
        self.events = events  # [(event_id, epoch_ms, visible_at)]
        self.rate = rate
        self.tokens = burst
        self.burst = burst
        self.stamp = clock.now
        self.throttle_first = throttle_first
        self.calls = 0
        self.throttled = 0

    def __call__(self, start, end, token):
        self.calls += 1
        now = self.clock.now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.throttle_first > 0:
            self.throttle_first -= 1
            self.throttled += 1
            raise Throttled()
        if self.tokens < 1:
            self.throttled += 1
            raise Throttled()
        self.tokens -= 1
        visible = sorted(
            (e for e in self.events
             if e[2] <= now and start * 1000 <= e[1] < (end + 1) * 1000),
            key=lambda e: (e[1], e[0]), reverse=True)
        offset = int(token or 0)
        page = visible[offset:offset + 50]
        following = str(offset + 50) if offset + 50 < len(visible) else None
        return [{"EventId": e[0], "CloudTrailEvent": event_text(e[0], e[1])} for e in page], following


# --------------------------------------------------------------------- windows


def test_first_run_backfills_seven_days_in_bounded_windows():
    window = lw.next_window(None, NOW)
    assert window.first_run and window.catching_up
    assert window.start == NOW - 7 * DAY
    assert window.end == window.start + lw.DEFAULT_MAX_WINDOW_SECONDS


@pytest.mark.parametrize("days,expected", [(90, 90), (365, 90), (0.5, 0.5), (-3, 0)])
def test_backfill_days_are_clamped(days, expected):
    window = lw.next_window({}, NOW, backfill_days=days, max_window_seconds=400 * DAY)
    if expected == 0:
        assert window is None
    else:
        assert window.start == NOW - int(expected * DAY) and window.end == NOW
        assert not window.catching_up


def test_next_window_overlaps_the_previous_end():
    checkpoint = {"version": 1, "end": NOW - 600, "recent": {}}
    window = lw.next_window(checkpoint, NOW, overlap_seconds=300)
    assert (window.start, window.end) == (NOW - 900, NOW)
    assert not window.first_run and not window.catching_up


def test_nothing_to_do_when_caught_up():
    checkpoint = {"version": 1, "end": NOW, "recent": {}}
    assert lw.next_window(checkpoint, NOW, overlap_seconds=0) is None


def test_retention_gap_is_reported():
    checkpoint = {"version": 1, "end": NOW - 120 * DAY, "recent": {}}
    window = lw.next_window(checkpoint, NOW, overlap_seconds=300)
    assert window.start == NOW - 90 * DAY
    assert window.gap_seconds == 30 * DAY + 300


def test_invalid_checkpoints_start_over():
    for bad in (None, {}, {"version": 99, "end": NOW}, "junk", {"version": 1, "end": "x"}):
        assert lw.next_window(bad, NOW).first_run


def test_window_arguments_are_checked():
    with pytest.raises(ValueError):
        lw.next_window(None, NOW, overlap_seconds=600, max_window_seconds=600)
    with pytest.raises(ValueError):
        lw.next_window(None, NOW, overlap_seconds=-1)


def test_checkpoint_key():
    assert lw.checkpoint_key("210987654321", "eu-west-1") == \
        "aws_cloudtrail_api_210987654321_eu-west-1"
    assert lw.checkpoint_key("a/b", "x y") == "aws_cloudtrail_api_a_b_x_y"


# --------------------------------------------------------------------- dedup and order


def records(*pairs):
    return [cr.parse_event(event_text(i, ms)) for i, ms in pairs]


def test_select_orders_oldest_first_and_keeps_api_order_for_ties():
    api_order = records(("e4", 4000), ("e3b", 3000), ("e3a", 3000), ("e1", 1000))
    kept, duplicates = lw.select_new_events(api_order, None)
    assert [r.event_id for r in kept] == ["e1", "e3a", "e3b", "e4"]
    assert duplicates == 0


def test_select_drops_ids_already_written_and_repeats():
    checkpoint = {"version": 1, "end": 10, "recent": {"e2": 2000}}
    kept, duplicates = lw.select_new_events(
        records(("e3", 3000), ("e2", 2000), ("e3", 3000), ("e1", 1000)), checkpoint)
    assert [r.event_id for r in kept] == ["e1", "e3"]
    assert duplicates == 2


def test_advance_checkpoint_keeps_only_the_overlap_and_is_json():
    window = lw.Window(NOW - 3600, NOW, False, False)
    previous = {"version": 1, "end": NOW - 3600, "recent": {"old": (NOW - 4000) * 1000,
                                                             "kept": (NOW - 100) * 1000}}
    written = records(("a", (NOW - 3000) * 1000), ("b", (NOW - 200) * 1000),
                      ("c", NOW * 1000))
    checkpoint = lw.advance_checkpoint(previous, window, written, overlap_seconds=300)
    assert checkpoint["end"] == NOW
    assert set(checkpoint["recent"]) == {"kept", "b", "c"}
    assert json.loads(json.dumps(checkpoint)) == checkpoint


def test_recent_ids_are_bounded_newest_kept():
    window = lw.Window(NOW - 600, NOW, False, False)
    written = records(*[("id%05d" % i, (NOW - 299) * 1000 + i) for i in range(500)])
    checkpoint = lw.advance_checkpoint(None, window, written, overlap_seconds=300, max_recent=100)
    assert len(checkpoint["recent"]) == 100
    assert min(checkpoint["recent"].values()) == (NOW - 299) * 1000 + 400


def test_checkpoint_end_never_moves_back():
    checkpoint = {"version": 1, "end": NOW, "recent": {}}
    window = lw.Window(NOW - 7200, NOW - 3600, False, False)
    assert lw.advance_checkpoint(checkpoint, window, [])["end"] == NOW


# --------------------------------------------------------------------- pacing


def test_token_bucket_paces_requests():
    clock = FakeClock(100.0)
    bucket = lw.TokenBucket(rate=2.0, burst=1, clock=clock.monotonic, sleep=clock.sleep)
    stamps = []
    for _ in range(11):
        bucket.acquire()
        stamps.append(clock.now)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(gap >= 0.5 - 1e-9 for gap in gaps)
    assert stamps[-1] - stamps[0] == pytest.approx(5.0)


def test_token_bucket_does_not_wait_when_idle():
    clock = FakeClock()
    bucket = lw.TokenBucket(rate=2.0, burst=1, clock=clock.monotonic, sleep=clock.sleep)
    bucket.acquire()
    clock.now += 10
    assert bucket.acquire() == 0.0


def test_token_bucket_burst_then_rate():
    clock = FakeClock()
    bucket = lw.TokenBucket(rate=1.0, burst=3, clock=clock.monotonic, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_penalize_holds_callers_back():
    clock = FakeClock()
    bucket = lw.TokenBucket(rate=2.0, clock=clock.monotonic, sleep=clock.sleep)
    bucket.acquire()
    bucket.penalize(7.5)
    assert bucket.acquire() == pytest.approx(7.5)


def test_backoff_is_exponential_with_jitter_and_capped():
    backoff = lw.Backoff(base=1.0, cap=16.0, rng=random.Random(7))
    for attempt in range(10):
        ceiling = min(16.0, 2.0 ** attempt)
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_is_throttling_error():
    assert lw.is_throttling_error(Throttled())
    assert lw.is_throttling_error(Throttled("TooManyRequestsException"))
    assert not lw.is_throttling_error(Throttled("AccessDeniedException"))
    assert not lw.is_throttling_error(ValueError("x"))

    class Http429(Exception):
        response = {"Error": {"Code": "Whatever"}, "ResponseMetadata": {"HTTPStatusCode": 429}}

    assert lw.is_throttling_error(Http429())


def test_call_with_retry_retries_throttling_only():
    clock = FakeClock()
    bucket = lw.TokenBucket(rate=2.0, clock=clock.monotonic, sleep=clock.sleep)
    outcomes = [Throttled(), Throttled(), "ok"]
    retried = []

    def call():
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    result, retries = lw.call_with_retry(
        call, bucket, lw.Backoff(base=1, cap=8, rng=random.Random(1)),
        on_retry=lambda attempt, delay, exc: retried.append((attempt, delay)))
    assert result == "ok" and retries == 2
    assert [a for a, _ in retried] == [0, 1]
    assert clock.now >= retried[0][1] + retried[1][1]

    def denied():
        raise Throttled("AccessDeniedException")

    with pytest.raises(Throttled):
        lw.call_with_retry(denied, bucket)


def test_call_with_retry_gives_up():
    clock = FakeClock()
    bucket = lw.TokenBucket(rate=2.0, clock=clock.monotonic, sleep=clock.sleep)
    calls = []

    def always():
        calls.append(1)
        raise Throttled()

    with pytest.raises(Throttled):
        lw.call_with_retry(always, bucket, lw.Backoff(max_attempts=4, rng=random.Random(2)))
    assert len(calls) == 4


# --------------------------------------------------------------------- collecting windows


def make_events(count, start, span, delay_max=0, seed=3):
    rng = random.Random(seed)
    events = []
    for i in range(count):
        ms = (start + rng.uniform(0, span)) * 1000
        ms = int(ms)
        events.append(("evt-%06d" % i, ms, ms / 1000.0 + rng.uniform(0, delay_max)))
    return events


def test_collect_window_pages_orders_and_paces_under_the_limit():
    clock = FakeClock(NOW)
    events = make_events(620, NOW - 3600, 3600)
    server = FakeLookupEvents(clock, events)
    bucket = lw.TokenBucket(clock=clock.monotonic, sleep=clock.sleep)
    window = lw.Window(NOW - 3600, NOW, False, False)
    result = lw.collect_window(server, window, None, bucket)
    assert result.pages == 13 and result.retries == 0 and server.throttled == 0
    assert [r.event_id for r in result.events] == \
        [e[0] for e in sorted(events, key=lambda e: (e[1], e[0]))]
    assert result.duplicates == 0 and result.skipped == []
    # 13 calls at 1.9/s: about 12/1.9 s of waiting, i.e. >= 95% of the 2/s ceiling.
    assert clock.now - NOW == pytest.approx(12 / lw.DEFAULT_RATE)


def test_collect_window_survives_a_throttling_storm():
    clock = FakeClock(NOW)
    events = make_events(120, NOW - 600, 600)
    server = FakeLookupEvents(clock, events, throttle_first=5)
    bucket = lw.TokenBucket(clock=clock.monotonic, sleep=clock.sleep)
    retried = []
    result = lw.collect_window(server, lw.Window(NOW - 600, NOW, False, False), None, bucket,
                               backoff=lw.Backoff(rng=random.Random(5)),
                               on_retry=lambda *a: retried.append(a))
    assert len(result.events) == 120
    assert result.retries == 5 == len(retried)


def test_collect_window_skips_unusable_events():
    def fetch(start, end, token):
        return [{"CloudTrailEvent": event_text("good-1", NOW * 1000)},
                {"CloudTrailEvent": '{"eventID":"no-time"}'},
                {"CloudTrailEvent": None},
                {"CloudTrailEvent": "<html>"}], None

    clock = FakeClock()
    result = lw.collect_window(fetch, lw.Window(0, 1, False, False), None,
                               lw.TokenBucket(clock=clock.monotonic, sleep=clock.sleep))
    assert [r.event_id for r in result.events] == ["good-1"]
    assert len(result.skipped) == 3 and "no-time" in result.skipped[0]


def test_collect_window_refuses_to_stop_halfway():
    def fetch(start, end, token):
        return [], "more"

    clock = FakeClock()
    with pytest.raises(RuntimeError):
        lw.collect_window(fetch, lw.Window(0, 1, False, False), None,
                          lw.TokenBucket(clock=clock.monotonic, sleep=clock.sleep), max_pages=3)


def test_poller_delivers_late_events_exactly_once():
    """Poll every minute for a day of events that reach LookupEvents up to 4 minutes late:
    with a 5-minute overlap nothing is lost and nothing is written twice."""
    clock = FakeClock(NOW)
    events = make_events(3000, NOW + 60, DAY, delay_max=240, seed=11)
    server = FakeLookupEvents(clock, events)
    bucket = lw.TokenBucket(clock=clock.monotonic, sleep=clock.sleep)
    checkpoint = {"version": 1, "end": NOW, "recent": {}}
    written = []
    while clock.now < NOW + DAY + 600:
        window = lw.next_window(checkpoint, clock.now, overlap_seconds=300)
        if window is not None:
            result = lw.collect_window(server, window, checkpoint, bucket)
            written.extend(result.events)
            checkpoint = lw.advance_checkpoint(checkpoint, window, result.events,
                                               overlap_seconds=300)
            json.dumps(checkpoint)
        if window is None or not window.catching_up:
            clock.sleep(60)
    ids = [r.event_id for r in written]
    assert len(ids) == len(set(ids)) == 3000
    assert server.throttled == 0
