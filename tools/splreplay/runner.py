"""The programmatic entry point (the CLI and the tests use it)."""
import datetime
import json

from .app import App, Context
from .errors import InputError, SplError
from .events import load_records, parse_time
from .indexes import with_stored
from .pipeline import Pipeline


def parse_now(text):
    try:
        dt = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise InputError("--now %r is not an ISO 8601 time (e.g. 2024-05-01T12:00:00Z)"
                             % text) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


class Replay:
    def __init__(self, app_dir, state_dir=None, geoip=None, warn=None, limits=None):
        self.app = App(app_dir, state_dir=state_dir, geoip=geoip, warn=warn, limits=limits)

    def load_events(self, paths):
        return self.app.make_events(load_records(paths))

    def events_from_records(self, records, source="test"):
        return self.app.make_events([(r, None, source, "%s: record %d" % (source, i + 1))
                                     for i, r in enumerate(records)])

    def events_of_sourcetype(self, objects, sourcetype, time_field, source="test"):
        """JSON objects written with another sourcetype (TrailWatch's own snapshots and alerts)
        -> events through that sourcetype's search-time knowledge, newest first. ``_time`` is
        read from ``time_field`` (ISO 8601 text or epoch seconds)."""
        events = []
        for n, obj in enumerate(objects):
            when = obj.get(time_field)
            when = parse_time(when) if isinstance(when, str) else when
            if not isinstance(when, (int, float)):
                raise InputError("%s: object %d has no valid %s" % (source, n + 1, time_field))
            ev = {"_raw": json.dumps(obj, ensure_ascii=False), "_time": float(when),
                  "host": "splreplay", "source": source, "sourcetype": sourcetype}
            events.append((ev["_time"], n, self.app.apply_knowledge(ev, obj)))
        events.sort(key=lambda x: (-x[0], x[1]))
        return [e for _, _, e in events]

    @staticmethod
    def default_now(events):
        if events:
            return max(e["_time"] for e in events)
        return datetime.datetime.now(datetime.timezone.utc).timestamp()

    def compile(self, text, search_name, now):
        ctx = Context(self.app, now, search_name)
        try:
            expanded = self.app.expand_macros(text)
        except SplError as exc:
            raise type(exc)("%s: %s" % (search_name, exc.message), exc.pos,
                            exc.text or text) from None
        try:
            return Pipeline(expanded, ctx)
        except SplError as exc:
            raise type(exc)("%s: %s" % (search_name, exc.message), exc.pos, exc.text) from None

    def compile_saved(self, name, now):
        return self.compile(self.app.saved_search(name), name, now)

    def run(self, pipeline, events):
        """Run over ``events`` and what earlier searches collected into summary indexes."""
        return pipeline.run(with_stored(events, self.app.indexes))

    def run_saved(self, names, events, now):
        """Run saved searches in order over the same events (each sees what the earlier ones
        collected) -> the last one's rows."""
        rows = []
        for name in names:
            rows = self.run(self.compile_saved(name, now), events)
        return rows

    def spl(self, query, events, now=None):
        """Convenience: run an ad-hoc query -> rows (values as held internally)."""
        now = self.default_now(events) if now is None else now
        return self.run(self.compile(query, "adhoc", now), events)
