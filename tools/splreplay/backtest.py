"""Backtest: the add-on's scheduled saved searches run as Splunk's scheduler runs them.

``python -m splreplay.backtest --app DIR --events PATH... --from ISO --to ISO
[--index-delay SPEC] [--state DIR] [--geoip MMDB] [--search NAME]... [--seed N]
[--limits FILE]``

- Every saved search with ``enableSched`` and a ``cron_schedule`` (disabled ones too, as if
  enabled; or only the ``--search`` names) runs at each of its cron times between ``--from``
  and ``--to`` (inclusive). A run's ``now`` is its scheduled time (continuous scheduling:
  ``realtime_schedule = 0`` runs every time with the scheduled time; splreplay runs none late).
- A run sees the events its dispatch windows select: ``dispatch.earliest_time`` <=
  ``_time`` < ``dispatch.latest_time`` and, when set, ``dispatch.index_earliest`` <=
  ``_indextime`` < ``dispatch.index_latest`` (savedsearches.conf.spec) -- and only events
  already indexed (``_indextime`` <= now): a late event is invisible to a run before it.
- ``_indextime`` = event time + a delay from ``--index-delay``: ``fixed=12m``, or
  ``p50=3m,p99=14m[,max=45m]`` (log-normal with that median and 99th percentile, cut at
  max). Each event's delay comes from the seed and the event's ``eventID`` (else its
  position), so a seed gives the same delays on every run.
- Alerting (savedsearches.conf.spec): a search alerts when it has ``counttype`` (``number of
  events``/``number of results`` with ``relation`` and ``quantity``, or ``always``).
  ``alert.digest_mode`` (default true): one alert per run with all results; false: one alert
  per result. ``alert.suppress`` with ``alert.suppress.period``: per-result alerts are
  throttled per value of ``alert.suppress.fields``; digest alerts (and per-result alerts
  without fields) per search.
- Output: JSON lines on stdout: ``{"type": "alert", "search_name", "run_time", "result"}``
  (digest mode: ``"results": [...]``), then one ``{"type": "summary", ...}`` per search
  (runs; ``events_scanned``: the events its dispatch windows selected; ``events_read``: of
  those, the ones the indexers read, i.e. that the first search's index terms do not rule out
  (see ``searchexpr.prefilter``), and ``events_read_raw``: of those, the ones not from a
  summary index; results, alerts, suppressed, errors). A run that fails (as a search
  fails in Splunk, e.g. a lookup without the fields asked for) gives a ``{"type": "error"}``
  line; the other runs go on, and the exit code is 4.

Events are streamed in time order (JSON-lines files line by line, which must be in time
order; other files are read whole and sorted) and held only while a future run's window can
still select them. Events a run writes with ``collect`` join them, indexed at that run's time.
"""
import argparse
import bisect
import heapq
import json
import math
import os
import random
import re
import sys

from . import timeutil
from .conf import parse_bool
from .cron import Cron
from .errors import ConfigError, InputError, ReplayError, SearchRuntimeError
from .events import list_files, parse_time, read_records
from .limits import Limits
from .output import row_for_output
from .runner import Replay, parse_now
from .searchexpr import ALL, compile_prefilter, has_terms, term_test
from .values import render_field

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days)?$")
_UNIT = {None: 1, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60, "h": 3600,
         "hr": 3600, "hrs": 3600, "d": 86400, "day": 86400, "days": 86400}


def parse_duration(text, what):
    m = _SPAN.match(str(text).strip())
    if not m:
        raise ConfigError("%s: %r is not a duration such as 30s, 12m, 1h or 2d" % (what, text))
    return float(m.group(1)) * _UNIT[m.group(2)]


class IndexDelay:
    """How long after its eventTime an event is indexed."""

    Z99 = 2.3263478740408408  # the standard normal's 99th percentile

    def __init__(self, spec=None, seed=0):
        self.seed = seed
        self.fixed = 0.0
        self.p50 = self.sigma = self.max = None
        if not spec:
            return
        parts = {}
        for item in spec.split(","):
            key, eq, value = item.strip().partition("=")
            if not eq or key not in ("fixed", "p50", "p99", "max"):
                raise ConfigError("--index-delay %r: expected fixed=12m or p50=3m,p99=14m"
                                  "[,max=45m]" % spec)
            parts[key] = parse_duration(value, "--index-delay " + key)
        if "fixed" in parts:
            if len(parts) > 1:
                raise ConfigError("--index-delay %r: fixed= stands alone" % spec)
            self.fixed = parts["fixed"]
            return
        if "p50" not in parts or "p99" not in parts:
            raise ConfigError("--index-delay %r: give both p50= and p99=" % spec)
        if not 0 < parts["p50"] <= parts["p99"]:
            raise ConfigError("--index-delay %r: needs 0 < p50 <= p99" % spec)
        self.p50 = parts["p50"]
        self.sigma = math.log(parts["p99"] / parts["p50"]) / self.Z99
        self.max = parts.get("max")

    def delay(self, key):
        if self.p50 is None:
            return self.fixed
        z = random.Random("%s:%s" % (self.seed, key)).gauss(0.0, 1.0)
        d = self.p50 * math.exp(self.sigma * z)
        return min(d, self.max) if self.max is not None else d


def _file_records(path):
    """(time, record, raw, where) of one file in time order."""
    if path.endswith(".jsonl") or path.endswith(".jsonl.gz"):
        return _jsonl_stream(path)
    items = []
    for record, raw, where in read_records(path):
        t = parse_time(record.get("eventTime")) if isinstance(record.get("eventTime"), str) \
            else None
        if t is None:
            raise InputError("%s: the record has no valid eventTime" % where)
        items.append((t, len(items), record, raw, where))
    items.sort(key=lambda x: (x[0], x[1]))
    return ((t, rec, raw, where) for t, _, rec, raw, where in items)


def _jsonl_stream(path):
    import gzip
    opener = gzip.open if path.endswith(".gz") else open
    last = None
    with opener(path, "rt", encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            where = "%s:%d" % (path, n)
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise InputError("%s: invalid JSON (%s)" % (where, exc)) from None
            t = parse_time(record.get("eventTime")) if isinstance(record, dict) \
                and isinstance(record.get("eventTime"), str) else None
            if t is None:
                raise InputError("%s: the record has no valid eventTime" % where)
            if last is not None and t < last:
                raise InputError("%s: JSON-lines files are streamed and must be in eventTime "
                                 "order (sort the file)" % where)
            last = t
            yield t, record, line, where


def stream_records(paths):
    files = []
    for top in paths:
        files.extend(list_files(top))
    iters = [((t, i, rec, raw, where) for t, rec, raw, where in _file_records(p))
             for i, p in enumerate(files)]
    for t, i, rec, raw, where in heapq.merge(*iters, key=lambda x: (x[0], x[1])):
        yield t, rec, raw, files[i], where


class _Search:
    def __init__(self, app, name, start, end):
        self.name = name
        s = app.saved_search_settings(name)
        self.settings = s
        self.cron = Cron(s.get("cron_schedule", ""))
        self.times = self.cron.times(start, end)
        self.earliest = s.get("dispatch.earliest_time") or None
        self.latest = s.get("dispatch.latest_time") or "now"
        # schedule_window lets the scheduler start a run late; splreplay runs every search
        # on time (its windows then tile exactly as the cron times do).
        self.index_earliest = s.get("dispatch.index_earliest") or None
        self.index_latest = s.get("dispatch.index_latest") or None
        counttype = (s.get("counttype") or "").strip().lower()
        self.alerting = bool(counttype)
        self.counttype = counttype
        self.relation = (s.get("relation") or "").strip().lower()
        self.quantity = float(s.get("quantity") or 0)
        if self.alerting and counttype not in ("always", "number of events",
                                               "number of results"):
            raise ConfigError("saved search %r: counttype %r is not implemented by the "
                              "backtest" % (name, counttype))
        if self.alerting and counttype != "always" and self.relation not in (
                "greater than", "less than", "equal to", "not equal to"):
            raise ConfigError("saved search %r: relation %r is not implemented by the "
                              "backtest" % (name, self.relation))
        self.digest = parse_bool(s.get("alert.digest_mode"), True)
        self.suppress = parse_bool(s.get("alert.suppress"), False)
        self.period = parse_duration(s.get("alert.suppress.period") or "0",
                                     "%s alert.suppress.period" % name) if self.suppress else 0
        self.fields = [f.strip() for f in (s.get("alert.suppress.fields") or "").split(",")
                       if f.strip()]
        self.until = {}  # throttle key -> time its suppression ends
        self.index_terms = False  # does its first search name terms the index can prune on
        self.pipeline = None  # compiled once, run at every cron time (Pipeline.set_now)
        self.lispy = None  # what the index can prune its events with (None: reads none)
        self.held = None  # the events its index terms admit, in event-time order
        self.admits = None  # fn(event, has): would the indexers read the event for it
        self.stats = {"runs": 0, "events_scanned": 0, "events_read": 0, "events_read_raw": 0,
                      "results": 0,
                      "alerts": 0,
                      "suppressed": 0, "errors": 0}

    def bound(self, now, spec, what):
        t = timeutil.relative_time(now, spec)
        if t is None:
            raise ConfigError("saved search %r: %s = %r is not a time modifier"
                              % (self.name, what, spec))
        return t

    def triggered(self, n):
        if self.counttype == "always":
            return True
        q = self.quantity
        return {"greater than": n > q, "less than": n < q, "equal to": n == q,
                "not equal to": n != q}[self.relation]

    def throttled(self, key, now):
        if not self.suppress:
            return False
        if self.until.get(key, -math.inf) > now:
            self.stats["suppressed"] += 1
            return True
        self.until[key] = now + self.period
        return False


class _Held:
    """Events in event-time order, the ones before ``base`` already forgotten."""

    def __init__(self):
        self.times = []
        self.events = []
        self.base = 0

    def append(self, ev):
        self.times.append(ev["_time"])
        self.events.append(ev)

    def insert(self, ev):
        i = bisect.bisect_right(self.times, ev["_time"], self.base)
        self.times.insert(i, ev["_time"])
        self.events.insert(i, ev)

    def forget_before(self, t, dropped=None):
        new = bisect.bisect_left(self.times, t, self.base)
        if dropped is not None:
            for ev in self.events[self.base:new]:
                dropped(ev)
        self.base = new
        if self.base > 50000 and self.base > len(self.events) // 2:
            del self.times[:self.base]
            del self.events[:self.base]
            self.base = 0

    def window(self, lo, hi):
        a = self.base if lo == -math.inf else bisect.bisect_left(self.times, lo, self.base)
        b = bisect.bisect_left(self.times, hi, a)
        return self.events[a:b]

    def __len__(self):
        return len(self.events) - self.base


class Backtest:
    def __init__(self, replay, names, start, end, delay, out):
        self.replay = replay
        app = replay.app
        if not names:
            names = []
            for n in app.saved_search_names():
                s = app.confs["savedsearches"].get(n)
                if parse_bool(s.get("enableSched"), False) and s.get("cron_schedule"):
                    names.append(n)
        self.searches = [_Search(app, n, start, end) for n in names]
        self.delay = delay
        self.out = out
        self.evaluated = 0
        self.read = 0
        self.read_raw = 0
        self.peak_held = 0
        self._refs = {}  # id of a held event -> how many searches hold it
        # every event collect wrote during the run (a caller may keep the summary index after it)
        self.collected = []
        self.failed = False
        replay.app.indexes.sink = self._collected
        # Compile every search once; the summary indexes its collect commands write are known
        # from the start (so index terms naming them are told apart from raw events).
        for srch in self.searches:
            srch.pipeline = replay.compile_saved(srch.name, start)
            for cmd in srch.pipeline.commands:
                if getattr(cmd, "name", "") == "collect":
                    replay.app.indexes.names.add(cmd.index.lower())
        # Each search holds the events its first search's index terms admit (what the indexers
        # would read for it), each checked once, and only while its own windows can reach them.
        for srch in self.searches:
            p = srch.pipeline
            srch.lispy = p.commands[0].flt.lispy if p.starts_with_events else None
            srch.admits = compile_prefilter(srch.lispy) if srch.lispy is not None else None
            srch.index_terms = has_terms(srch.lispy)
            srch.held = _Held()

    def _admit(self, ev, add):
        has = term_test(ev)
        for srch in self.searches:
            if srch.lispy is None:
                continue
            if srch.lispy != ALL and not srch.admits(ev, has):
                continue
            add(srch.held, ev)
            key = id(ev)
            self._refs[key] = self._refs.get(key, 0) + 1

    def _release(self, ev):
        key = id(ev)
        n = self._refs.get(key, 0) - 1
        if n > 0:
            self._refs[key] = n
        else:
            self._refs.pop(key, None)

    def _collected(self, events):
        """Events ``collect`` wrote during a run: held with the others (``_indextime`` = that
        run), so later runs' windows select them."""
        self.collected.extend(events)
        for ev in events:
            self._admit(ev, _Held.insert)

    def _hold(self, stream, upto):
        """Read events with eventTime <= upto (any indexed by then has such a time)."""
        nxt = self._pending
        while nxt is not None and nxt[0] <= upto:
            t, rec, raw, source, where = nxt
            ev = self.replay.app.make_events([(rec, raw, source, where)])[0]
            key = rec.get("eventID") or self._seq
            self._seq += 1
            ev["_indextime"] = float(int(t + self.delay.delay(key)))
            self._admit(ev, _Held.append)
            nxt = next(stream, None)
        self._pending = nxt

    def _forget(self, now):
        for srch in self.searches:
            floor = srch.bound(now, srch.earliest, "dispatch.earliest_time") \
                if srch.earliest else -math.inf
            srch.held.forget_before(floor, self._release)

    def _select(self, s, now):
        """-> (the events the event-time window covers, those the index-time window keeps)."""
        lo = s.bound(now, s.earliest, "dispatch.earliest_time") if s.earliest else -math.inf
        hi = s.bound(now, s.latest, "dispatch.latest_time")
        ilo = s.bound(now, s.index_earliest, "dispatch.index_earliest") \
            if s.index_earliest else -math.inf
        ihi = s.bound(now, s.index_latest, "dispatch.index_latest") \
            if s.index_latest else math.inf
        ihi = min(ihi, now + 1)  # nothing indexed after the run started
        covered = [e for e in s.held.window(lo, hi) if e["_indextime"] < now + 1]
        picked = [e for e in covered if ilo <= e["_indextime"] < ihi]
        picked.reverse()  # a search returns newest first
        return covered, picked

    def _emit(self, obj):
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")

    def run(self, paths):
        runs = sorted((t, i) for i, s in enumerate(self.searches) for t in s.times)
        stream = stream_records(paths)
        self._pending = next(stream, None)
        self._seq = 0
        for now, i in runs:
            s = self.searches[i]
            self._hold(stream, now)
            self._forget(now)
            self.peak_held = max(self.peak_held, len(self._refs))
            # What the indexers read: buckets are chosen by event time, so every event of the
            # event-time window that the first search's index terms (its lispy) do not rule
            # out is read, whatever the index-time window then drops (Search Reference, "Time
            # modifiers", _index_earliest: an index-time search still needs an event-time
            # window to retrieve the events; the docs do not say the index-time bounds prune
            # anything, so the stricter reading is modelled). A search holds only the events
            # its terms admit; the ones both windows select reach it.
            covered, events = self._select(s, now)
            pipeline = s.pipeline
            pipeline.set_now(now)
            s.stats["runs"] += 1
            s.stats["events_scanned"] += len(events)
            self.evaluated += len(events)
            raw = sum(1 for e in covered if "index" not in e)
            s.stats["events_read"] += len(covered)
            s.stats["events_read_raw"] += raw
            self.read += len(covered)
            self.read_raw += raw
            try:
                rows = pipeline.run(events)
            except SearchRuntimeError as exc:
                # A run that fails in Splunk fails alone: the scheduler goes on.
                s.stats["errors"] += 1
                self.failed = True
                self._emit({"type": "error", "search_name": s.name, "run_time": _iso(now),
                            "message": str(exc)})
                continue
            s.stats["results"] += len(rows)
            if s.alerting and s.triggered(len(rows)):
                self._alert(s, now, rows)
        for s in self.searches:
            self._emit(dict({"type": "summary", "search_name": s.name}, **s.stats))

    def _alert(self, s, now, rows):
        run_time = _iso(now)
        if s.digest:
            if not s.throttled((), now):
                s.stats["alerts"] += 1
                self._emit({"type": "alert", "search_name": s.name, "run_time": run_time,
                            "results": [_row(r) for r in rows]})
            return
        for r in rows:
            key = tuple(json.dumps(render_field(r.get(f))) for f in s.fields)
            if s.throttled(key, now):
                continue
            s.stats["alerts"] += 1
            self._emit({"type": "alert", "search_name": s.name, "run_time": run_time,
                        "result": _row(r)})


def _row(r):
    out = row_for_output(r, "")
    out.pop("search_name", None)
    return out


def _iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def build_parser():
    p = argparse.ArgumentParser(prog="splreplay.backtest", description=__doc__.split("\n")[0])
    p.add_argument("--app", required=True)
    p.add_argument("--events", action="append", default=[], metavar="PATH", required=True)
    p.add_argument("--from", dest="start", required=True, metavar="ISO")
    p.add_argument("--to", dest="end", required=True, metavar="ISO")
    p.add_argument("--index-delay", metavar="SPEC")
    p.add_argument("--state", metavar="DIR")
    p.add_argument("--geoip", metavar="MMDB")
    p.add_argument("--search", action="append", default=[], metavar="NAME")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limits", metavar="FILE")
    return p


def main(argv=None, out=None):
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    try:
        start, end = parse_now(args.start), parse_now(args.end)
        if end < start:
            raise InputError("--to is before --from")
        if args.state:
            os.makedirs(os.path.join(args.state, "lookups"), exist_ok=True)
        limits = Limits.from_file(args.limits) if args.limits else None
        replay = Replay(args.app, state_dir=args.state, geoip=args.geoip, limits=limits)
        bt = Backtest(replay, args.search, start, end,
                      IndexDelay(args.index_delay, args.seed), out)
        bt.run(args.events)
        if bt.failed:
            sys.stderr.write("splreplay.backtest: error: some runs failed (type=error lines)\n")
            return 4
    except ReplayError as exc:
        sys.stderr.write("splreplay.backtest: error: %s\n" % exc)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
