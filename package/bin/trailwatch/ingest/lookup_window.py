"""Pure logic of the CloudTrail LookupEvents poller (``aws_cloudtrail_api``).

LookupEvents returns events newest first, 50 per page, for a time range, at about two
requests per second per account and region, and keeps 90 days.  Per account+region the
poller repeatedly:

1. ``next_window(checkpoint, now)`` -> the time range to collect: from the previous end minus
   an overlap (events reach LookupEvents minutes after they happen, so a late event whose
   ``eventTime`` lies just before the previous end is still picked up), or, on the first
   run, from ``backfill_days`` ago (default 7, at most 90).  Windows are at most
   ``max_window_seconds`` long so that a back-fill is collected (and held in memory) in
   bounded slices; ``Window.catching_up`` says another window is due at once.
2. ``collect_window(fetch_page, window, checkpoint, pacer)`` -> every page of the window,
   requests paced under the rate limit, throttling retried with exponential backoff and
   jitter, events parsed (``cloudtrail_records.parse_event``), the ones already written
   (their ``eventID`` is in the checkpoint) and repeats dropped, ordered oldest first.
3. The input writes the events, flushes, and only then saves
   ``advance_checkpoint(checkpoint, window, written)``.

The checkpoint is a JSON-serialisable dict::

    {"version": 1, "end": 1714564800, "recent": {"<eventID>": <eventTime ms>, ...}}

``recent`` holds the IDs written whose ``eventTime`` falls in the overlap of the next
window (bounded by ``max_recent``), which is all the duplicate filter needs.  A crash
between writing and saving the checkpoint re-collects that window: duplicates, never loss.

Pure Python, standard library only, injectable clock and sleep (tests run no real time).
Python 3.9 to 3.13.
"""

import functools
import random
import threading
import time as _time
from typing import List, NamedTuple

from . import cloudtrail_records as _records

__all__ = [
    "DEFAULT_BACKFILL_DAYS",
    "MAX_BACKFILL_DAYS",
    "DEFAULT_OVERLAP_SECONDS",
    "DEFAULT_MAX_WINDOW_SECONDS",
    "DEFAULT_MAX_RECENT",
    "DEFAULT_RATE",
    "Window",
    "WindowResult",
    "checkpoint_key",
    "new_checkpoint",
    "next_window",
    "select_new_events",
    "advance_checkpoint",
    "TokenBucket",
    "Backoff",
    "is_throttling_error",
    "call_with_retry",
    "collect_window",
]

DEFAULT_BACKFILL_DAYS = 7
MAX_BACKFILL_DAYS = 90  # LookupEvents keeps 90 days of management events
RETENTION_SECONDS = MAX_BACKFILL_DAYS * 86400
DEFAULT_OVERLAP_SECONDS = 300
DEFAULT_MAX_WINDOW_SECONDS = 3600
DEFAULT_MAX_RECENT = 20000
#: Requests per second per account and region: under the documented 2/s.
DEFAULT_RATE = 1.9
CHECKPOINT_VERSION = 1

THROTTLING_CODES = frozenset((
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "LimitExceededException",
))


class Window(NamedTuple):
    """A LookupEvents time range, epoch seconds, both ends as the API takes them."""

    start: int
    end: int
    first_run: bool  #: no checkpoint yet: this is the back-fill
    catching_up: bool  #: end < now: another window is due immediately
    gap_seconds: int = 0  #: time lost beyond the 90-day retention (input was off too long)


class WindowResult(NamedTuple):
    events: List["_records.Record"]  #: new events, oldest first
    pages: int  #: LookupEvents calls that succeeded
    retries: int  #: throttled calls that were retried
    duplicates: int  #: events dropped as already written (or repeated)
    skipped: List[str]  #: events that could not be used, with the reason


# ----------------------------------------------------------------------------- windows


def checkpoint_key(account_id, region):
    """Stable checkpoint name for one account and region (KV store ``_key`` safe)."""
    def clean(value):
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(value))

    return "aws_cloudtrail_api_%s_%s" % (clean(account_id), clean(region))


def new_checkpoint():
    return {"version": CHECKPOINT_VERSION, "end": None, "recent": {}}


def _valid_checkpoint(checkpoint):
    if not isinstance(checkpoint, dict) or checkpoint.get("version") != CHECKPOINT_VERSION:
        return new_checkpoint()
    end = checkpoint.get("end")
    recent = checkpoint.get("recent")
    if not isinstance(recent, dict):
        recent = {}
    if end is not None and (not isinstance(end, (int, float)) or isinstance(end, bool)):
        end = None
    return {"version": CHECKPOINT_VERSION, "end": end, "recent": recent}


def next_window(checkpoint, now, backfill_days=DEFAULT_BACKFILL_DAYS,
                overlap_seconds=DEFAULT_OVERLAP_SECONDS,
                max_window_seconds=DEFAULT_MAX_WINDOW_SECONDS):
    """The next window to collect, or None when there is nothing new yet.

    ``now``: epoch seconds.  ``backfill_days`` is clamped to 0..90.  ``max_window_seconds``
    must exceed ``overlap_seconds`` (each window moves forward by the difference)."""
    if overlap_seconds < 0:
        raise ValueError("overlap_seconds must be >= 0")
    if max_window_seconds <= overlap_seconds:
        raise ValueError("max_window_seconds must be larger than overlap_seconds")
    now = int(now)
    checkpoint = _valid_checkpoint(checkpoint)
    oldest = now - RETENTION_SECONDS
    gap = 0
    if checkpoint["end"] is None:
        days = min(max(float(backfill_days), 0.0), float(MAX_BACKFILL_DAYS))
        start = max(now - int(days * 86400), oldest)
        first_run = True
    else:
        start = int(checkpoint["end"]) - int(overlap_seconds)
        first_run = False
        if start < oldest:
            gap = oldest - start
            start = oldest
    end = min(start + int(max_window_seconds), now)
    if end <= start:
        return None
    return Window(start, end, first_run, end < now, gap)


def select_new_events(events, checkpoint, seen=None):
    """Drop events already written (``eventID`` in the checkpoint, or earlier in this
    window) and order the rest oldest first.

    ``events``: ``Record`` objects in the order LookupEvents returned them (newest first);
    equal times keep API order reversed.  ``seen`` (a set) collects the IDs kept; it lets a
    caller filter page by page.  Returns ``(new_events, duplicates)``."""
    recent = _valid_checkpoint(checkpoint)["recent"]
    if seen is None:
        seen = set()
    kept = []
    duplicates = 0
    for record in events:
        event_id = record.event_id
        if event_id is not None:
            if event_id in recent or event_id in seen:
                duplicates += 1
                continue
            seen.add(event_id)
        kept.append(record)
    kept.reverse()  # newest-first -> oldest-first; sort below is stable
    kept.sort(key=_time_of)
    return kept, duplicates


def _time_of(record):
    return record.time_ms


def advance_checkpoint(checkpoint, window, written, overlap_seconds=DEFAULT_OVERLAP_SECONDS,
                       max_recent=DEFAULT_MAX_RECENT):
    """The checkpoint to save once ``written`` (the window's events) are in Splunk."""
    checkpoint = _valid_checkpoint(checkpoint)
    horizon_ms = (int(window.end) - int(overlap_seconds)) * 1000
    recent = {}
    for event_id, when in checkpoint["recent"].items():
        if isinstance(when, (int, float)) and when >= horizon_ms:
            recent[event_id] = int(when)
    for record in written:
        if record.event_id is not None and record.time_ms >= horizon_ms:
            recent[record.event_id] = record.time_ms
    if len(recent) > max_recent:
        newest = sorted(recent.items(), key=lambda item: item[1], reverse=True)[:max_recent]
        recent = dict(newest)
    end = int(window.end)
    if checkpoint["end"] is not None:
        end = max(end, int(checkpoint["end"]))
    return {"version": CHECKPOINT_VERSION, "end": end, "recent": recent}


# ----------------------------------------------------------------------------- pacing


class TokenBucket:
    """Paces calls at ``rate`` per second with bursts of at most ``burst`` calls.

    ``acquire()`` blocks (``sleep``) until a call may go.  ``penalize(seconds)`` holds all
    callers back (after throttling).  Thread-safe; ``clock`` and ``sleep`` are injectable.
    """

    def __init__(self, rate=DEFAULT_RATE, burst=1.0, clock=_time.monotonic,
                 sleep=_time.sleep):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = clock()
        self._hold_until = None
        self.waited = 0.0

    def acquire(self):
        """Take one token, sleeping as needed; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            wait = 0.0
            if self._hold_until is not None and self._hold_until > now:
                wait = self._hold_until - now
            if self._tokens < 1.0:
                wait = max(wait, (1.0 - self._tokens) / self.rate)
            # Reserve the token now so concurrent callers queue behind this one.
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)
            self.waited += wait
        return wait

    def penalize(self, seconds):
        """No call may start before ``seconds`` from now (and the bucket is emptied)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            until = now + max(0.0, float(seconds))
            if self._hold_until is None or until > self._hold_until:
                self._hold_until = until
            self._tokens = min(self._tokens, 0.0)

    def _refill(self, now):
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = now


class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between half and all of
    ``min(cap, base * 2**n)`` seconds."""

    def __init__(self, base=1.0, cap=30.0, max_attempts=8, rng=None):
        if base <= 0 or cap < base or max_attempts < 1:
            raise ValueError("need base > 0, cap >= base, max_attempts >= 1")
        self.base = float(base)
        self.cap = float(cap)
        self.max_attempts = int(max_attempts)
        self._rng = rng if rng is not None else random.Random()

    def delay(self, attempt):
        ceiling = min(self.cap, self.base * (2 ** min(int(attempt), 30)))
        return ceiling / 2.0 + self._rng.uniform(0.0, ceiling / 2.0)


def is_throttling_error(exc):
    """True for AWS throttling errors (botocore ``ClientError`` codes, HTTP 429)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        if error.get("Code") in THROTTLING_CODES:
            return True
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if status == 429:
            return True
    return type(exc).__name__ in THROTTLING_CODES


def call_with_retry(call, pacer, backoff=None, is_retryable=is_throttling_error,
                    on_retry=None):
    """Run ``call()`` through ``pacer``; retry throttling with ``backoff``.

    ``on_retry(attempt, delay, exc)`` is told about each retry (log it at debug: a retried
    throttle is expected behaviour, not an error).  The last error is raised when attempts
    run out or the error is not retryable.  Returns ``(result, retries)``."""
    backoff = backoff if backoff is not None else Backoff()
    attempt = 0
    while True:
        pacer.acquire()
        try:
            return call(), attempt
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised otherwise
            if not is_retryable(exc) or attempt + 1 >= backoff.max_attempts:
                raise
            delay = backoff.delay(attempt)
            pacer.penalize(delay)
            if on_retry is not None:
                on_retry(attempt, delay, exc)
            attempt += 1


def collect_window(fetch_page, window, checkpoint, pacer, backoff=None, on_retry=None,
                   max_pages=None):
    """Collect one window through ``fetch_page(start, end, next_token) -> (events,
    next_token)`` where ``events`` are ``CloudTrailEvent`` strings (or dicts holding one)
    in API order.  Returns a ``WindowResult`` (events oldest first, duplicates removed).

    ``max_pages`` bounds one window (None: all pages); when it stops early the window is
    incomplete and must not be checkpointed (a ``RuntimeError`` is raised)."""
    token = None
    pages = retries = 0
    parsed = []
    skipped = []
    while True:
        if max_pages is not None and pages >= max_pages:
            raise RuntimeError(
                "window %d-%d has more than %d pages" % (window.start, window.end, max_pages)
            )
        (events, token), tries = call_with_retry(
            functools.partial(fetch_page, window.start, window.end, token), pacer, backoff,
            on_retry=on_retry,
        )
        retries += tries
        pages += 1
        for event in events or ():
            if isinstance(event, dict):
                event = event.get("CloudTrailEvent")
            try:
                parsed.append(_records.parse_event(event))
            except (_records.CloudTrailFormatError, TypeError) as exc:
                skipped.append(str(exc))
        if not token:
            break
    new_events, duplicates = select_new_events(parsed, checkpoint)
    return WindowResult(new_events, pages, retries, duplicates, skipped)
