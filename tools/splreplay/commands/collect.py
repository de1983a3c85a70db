"""collect: results into a summary index (Search Reference, "collect").

Implemented: ``index=`` (required), ``source=`` (required here: Splunk's default source is
not modelled), ``sourcetype=`` (default ``stash``), ``marker="k1=v1, k2=v2"`` (fields added to
each event), ``addinfo=false`` (the default ``true`` prefixes ``info_min_time``,
``info_max_time`` and ``info_search_time``, whose search bounds splreplay does not know: write
``addinfo=false``), ``testmode=true`` (nothing written). Results pass through unchanged.

Stricter than Splunk, on purpose: a row without a numeric ``_time`` (Splunk would fall back
to the search's earliest time, then to now), with ``_raw`` (written as the event text, not
modelled) or with a multivalue field (how its values come back depends on the extraction) is
refused, so a summary search states exactly what it writes.
"""
from ..errors import SearchRuntimeError, Unsupported
from ..indexes import HOST
from ..values import as_number, text_of
from . import Command, command, to_bool, to_str


_META = ("index", "source", "sourcetype", "host")


def _stamp(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%m/%d/%Y %H:%M:%S +0000")


@command("collect")
class Collect(Command):
    def __init__(self, args, ctx):
        opts = args.options({"index": to_str, "source": to_str, "sourcetype": to_str,
                             "marker": to_str, "addinfo": to_bool, "testmode": to_bool})
        args.expect_end()
        if not opts.get("index"):
            raise args.error("needs index=<summary index>")
        if not opts.get("source"):
            raise Unsupported("collect: give source= (the default source is not modelled by "
                              "splreplay)", args.tok.pos)
        if opts.get("addinfo", True):
            raise Unsupported("collect: addinfo=true (the default) adds info_* fields whose "
                              "search bounds splreplay does not model: write addinfo=false",
                              args.tok.pos)
        self.index = opts["index"]
        self.source = opts["source"]
        self.sourcetype = opts.get("sourcetype", "stash")
        self.testmode = opts.get("testmode", False)
        self.marker = {}
        for pair in (opts.get("marker") or "").split(","):
            key, eq, value = pair.strip().partition("=")
            if pair.strip() and not eq:
                raise args.error("marker= takes key=value pairs separated by commas")
            if eq:
                self.marker[key.strip()] = value.strip()
        self.ctx = ctx

    def run(self, rows):
        events = []
        for n, row in enumerate(rows):
            when = as_number(row.get("_time"))
            if when is None:
                raise SearchRuntimeError("collect: result %d has no _time (splreplay refuses "
                                         "rather than guess the summary event's time)" % (n + 1))
            if "_raw" in row:
                raise SearchRuntimeError("collect: result %d has _raw, which splreplay does "
                                         "not write as a summary event" % (n + 1))
            ev = {"_time": float(when), "index": self.index, "source": self.source,
                  "sourcetype": self.sourcetype, "host": HOST,
                  "_indextime": float(int(self.ctx.now))}
            for key, value in row.items():
                if key.startswith("_") or value is None:
                    continue
                if isinstance(value, list):
                    if len(value) != 1:
                        raise SearchRuntimeError(
                            "collect: field %s of result %d is multivalue; write one value "
                            "(mvjoin) so the summary reads back as written" % (key, n + 1))
                    value = value[0]
                ev[key] = text_of(value)
            ev.update(self.marker)
            pairs = ['%s="%s"' % (k, ev[k].replace('"', '\\"')) for k in sorted(ev)
                     if not k.startswith("_") and k not in _META]
            ev["_raw"] = "%s, %s" % (_stamp(ev["_time"]), ", ".join(pairs))
            events.append(ev)
        if not self.testmode:
            self.ctx.app.indexes.add(events)
        return rows
