"""``aws_cloudtrail_api``: CloudTrail LookupEvents, per account and region, oldest first.

One run of the input, for each of its regions at once (one thread per region):

1. read the region's checkpoint (KV store) and take the next window from
   ``lookup_window.next_window``: the back-fill (``backfill_days``) on the first run, then from
   the previous end minus an overlap, so events LookupEvents shows late are still collected;
2. collect every page of the window (``lookup_window.collect_window``): requests paced at
   ``RATE`` per second (LookupEvents allows 2 per account and region), throttling retried
   with backoff, already-written ``eventID``s dropped;
3. write the window's events oldest first, unchanged (the ``CloudTrailEvent`` string),
   sourcetype ``aws:cloudtrail``, ``source=aws_cloudtrail_api:<account id>:<region>``,
   ``_time`` = ``eventTime``; flush; only then save the checkpoint;
4. repeat while the window ended before now (catching up), else stop.

Windows adapt to the volume: quiet regions take long windows (a 7-day back-fill in a few
requests), busy ones short windows (bounded memory, frequent checkpoints).

Python 3.9 to 3.13.
"""
import concurrent.futures
import datetime
import functools
import threading
import time

from botocore.config import Config

from trailwatch.ingest import aws_errors, lookup_window
from trailwatch.ingest import input_settings as settings_lib
from trailwatch.timefmt import iso_utc as _stamp

INPUT_TYPE = "aws_cloudtrail_api"
SOURCETYPE = "aws:cloudtrail"
#: Requests per second per account and region; LookupEvents allows 2.
RATE = 1.95
OVERLAP_SECONDS = 600
MIN_WINDOW_SECONDS = OVERLAP_SECONDS + 300
MAX_WINDOW_SECONDS = 6 * 3600
START_WINDOW_SECONDS = 3600
#: Aim for windows of about this many pages (bounded memory, frequent checkpoints).
TARGET_PAGES = 60
PAGE_SIZE = 50


class Settings(object):
    def __init__(self, account, regions, backfill_days, lookup_attribute):
        self.account = account
        self.regions = regions
        self.backfill_days = backfill_days
        self.lookup_attribute = lookup_attribute

    @classmethod
    def parse(cls, params):
        return cls(
            settings_lib.required(params, "account", "AWS account"),
            settings_lib.regions(params, "regions", "Regions"),
            settings_lib.integer(params, "backfill_days", "Back-fill days",
                                 lookup_window.DEFAULT_BACKFILL_DAYS, 0,
                                 lookup_window.MAX_BACKFILL_DAYS),
            settings_lib.lookup_attribute(params, "lookup_attribute"),
        )

    def check_account(self, account):
        """Regions must be in the account's partition."""
        from trailwatch.aws.session import partition_of_region

        wrong = [r for r in self.regions if partition_of_region(r) != account.partition]
        if wrong:
            raise settings_lib.InputSettingsError(
                "Region(s) %s are not in partition %s of AWS account '%s'."
                % (", ".join(wrong), account.partition, account.name))


def checkpoint_name(region):
    return "region_%s" % region


def _utc(seconds):
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)




def _is_retryable(exc):
    return lookup_window.is_throttling_error(exc) or aws_errors.is_transient(exc)


class RegionPoller(object):
    """Collects one region of one account; runs in its own thread."""

    def __init__(self, ctx, settings, region, client, pacer=None, backoff=None):
        self.ctx = ctx
        self.settings = settings
        self.region = region
        self.client = client
        self.pacer = pacer or lookup_window.TokenBucket(rate=RATE)
        self.backoff = backoff or lookup_window.Backoff(base=0.5, cap=8.0, max_attempts=6)
        self.source = "%s:%s:%s" % (INPUT_TYPE, ctx.account_id, region)
        self.written = 0
        self.windows = 0
        self.pages = 0
        self.retries = 0
        self.error = None

    def fetch_page(self, start, end, token):
        params = {"StartTime": _utc(start), "EndTime": _utc(end), "MaxResults": PAGE_SIZE}
        if token:
            params["NextToken"] = token
        if self.settings.lookup_attribute:
            key, value = self.settings.lookup_attribute
            params["LookupAttributes"] = [{"AttributeKey": key, "AttributeValue": value}]
        response = self.client.lookup_events(**params)
        return response.get("Events") or [], response.get("NextToken")

    def _on_retry(self, attempt, delay, exc):
        self.ctx.logger.debug(
            "LookupEvents in %s was throttled or failed briefly (%s); retry %d in %.1f s.",
            self.region, aws_errors.error_code(exc), attempt + 1, delay)

    def run(self):
        ctx = self.ctx
        log = ctx.logger
        name = checkpoint_name(self.region)
        checkpoint = ctx.checkpoints.get(name) or lookup_window.new_checkpoint()
        window_seconds = START_WINDOW_SECONDS
        while not ctx.stop.is_set():
            window = lookup_window.next_window(
                checkpoint, ctx.clock(), self.settings.backfill_days, OVERLAP_SECONDS,
                window_seconds)
            if window is None:
                break
            if window.first_run and self.windows == 0:
                log.info("First run for account %s (%s) in %s: back-filling from %s.",
                         ctx.account_id, ctx.account_name, self.region, _stamp(window.start))
            if window.gap_seconds:
                log.warning(
                    "Events of account %s in %s between %s and %s were not collected: the input "
                    "was stopped longer than LookupEvents keeps events (90 days).",
                    ctx.account_id, self.region, _stamp(window.start - window.gap_seconds),
                    _stamp(window.start))
            try:
                result = lookup_window.collect_window(
                    self.fetch_page, window, checkpoint, self.pacer, self.backoff,
                    on_retry=self._on_retry)
            except Exception as exc:  # noqa: BLE001 - said in words, the run goes on elsewhere
                self.error = exc
                log.error("%s Nothing after %s was written for this region; the next run "
                          "continues from there.",
                          aws_errors.describe(exc, ctx.account_name, "cloudtrail:LookupEvents",
                                              "in " + self.region),
                          _stamp(checkpoint.get("end") or window.start))
                return
            self.windows += 1
            self.pages += result.pages
            self.retries += result.retries
            for reason in result.skipped:
                log.warning("Skipped a LookupEvents event of account %s in %s: %s.",
                            ctx.account_id, self.region, reason)
            events = result.events
            if events:
                ctx.write(functools.partial(_write_records, events=events, source=self.source,
                                            index=ctx.index, host=ctx.host))
            # The events are flushed to Splunk: now the checkpoint may move past them.
            checkpoint = lookup_window.advance_checkpoint(
                checkpoint, window, events, overlap_seconds=OVERLAP_SECONDS)
            ctx.checkpoints.save(name, checkpoint)
            self.written += len(events)
            ctx.ingested(SOURCETYPE, len(events), self.source)
            if events:
                lag = "newest event %.0f s old" % (ctx.clock() - events[-1].time)
            else:
                lag = "no new events"
            log.info(
                "Account %s, region %s: wrote %d events from %s to %s (%d pages, %d duplicates "
                "dropped, %d throttled retries); %s.",
                ctx.account_id, self.region, len(events), _stamp(window.start),
                _stamp(window.end), result.pages, result.duplicates, result.retries, lag)
            window_seconds = _next_window_seconds(window_seconds, result.pages)
            if not window.catching_up:
                break


def _write_records(writer, events, source, index, host):
    return writer.write_records(events, source, SOURCETYPE, index=index, host=host)


def _next_window_seconds(current, pages):
    if pages > TARGET_PAGES:
        current = int(current * TARGET_PAGES / float(pages))
    elif pages <= TARGET_PAGES // 4:
        current *= 2
    return max(MIN_WINDOW_SECONDS, min(MAX_WINDOW_SECONDS, current))


def _guarded(poller):
    threading.current_thread().name = "lookup-%s" % poller.region
    try:
        poller.run()
    except Exception as exc:  # noqa: BLE001 - one region's failure must not end the others
        poller.error = exc
        poller.ctx.logger.exception(
            "Collecting region %s of account %s stopped: %s", poller.region,
            poller.ctx.account_id, exc)


def lookup_client(session, region):
    """A CloudTrail client whose throttling is left to our pacer and backoff (botocore's own
    retries would bypass the pacing)."""
    config = session.config.merge(Config(retries={"mode": "standard", "max_attempts": 1}))
    return session.client("cloudtrail", region=region, config=config)


def run(ctx, settings):
    """Collect every region of the input concurrently; returns the pollers (for tests)."""
    started = time.time()
    pollers = []
    for region in settings.regions:
        try:
            client = lookup_client(ctx.session, region)
        except Exception as exc:  # noqa: BLE001 - AccountError: region outside the partition
            ctx.logger.error("Region %s is skipped: %s", region, exc)
            continue
        pollers.append(RegionPoller(ctx, settings, region, client))
    if pollers:
        # One worker per region; leaving the block waits for every region to finish (each
        # stops early when ctx.stop is set).
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(pollers)) as pool:
            list(pool.map(_guarded, pollers))
    total = sum(p.written for p in pollers)
    failed = [p.region for p in pollers if p.error is not None]
    ctx.logger.info(
        "LookupEvents run of account %s (%s) done: %d events from %d region(s) in %.1f s%s.",
        ctx.account_id, ctx.account_name, total, len(pollers), time.time() - started,
        ("; failed in " + ", ".join(failed)) if failed else "")
    return pollers
