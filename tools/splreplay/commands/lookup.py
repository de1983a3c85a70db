"""lookup, inputlookup, outputlookup, iplocation."""
from ..errors import SearchRuntimeError, Unsupported
from ..lookups import Matcher
from ..searchexpr import compile_search_text
from ..values import text_of, values_of
from . import Command, all_field_names, command, to_bool, to_int, to_str


def _pairs(args, stop):
    """``a [AS b][, c [AS d]]...`` until a stop word -> [(a, b)]."""
    out = []
    while not args.at_end():
        t = args.tok
        if t.is_op(","):
            args.advance()
            continue
        if t.kind == "word" and t.value.upper() in stop:
            break
        src = args.field()
        dst = src
        if args.is_word("as"):
            args.advance()
            dst = args.field()
        out.append((src, dst))
    return out


@command("lookup")
class Lookup(Command):
    def __init__(self, args, ctx):
        opts = args.options({"local": to_bool, "update": to_bool})
        del opts
        name_tok = args.tok
        self.name = args.field("a lookup name")
        self.inputs = _pairs(args, ("OUTPUT", "OUTPUTNEW"))
        if not self.inputs:
            raise args.error("needs at least one lookup field")
        self.outputs = None
        self.outputnew = False
        if args.is_word("output", "outputnew"):
            self.outputnew = args.advance().value.upper() == "OUTPUTNEW"
            self.outputs = _pairs(args, ())
            if not self.outputs:
                raise args.error("needs output fields after OUTPUT/OUTPUTNEW")
        args.expect_end()
        self.lookups = ctx.app.lookups
        self.ldef = self.lookups.definition(self.name, name_tok.pos)

    def run(self, rows):
        table = self.lookups.load(self.ldef)
        m = Matcher(self.ldef, table, self.inputs, self.outputs, self.outputnew)
        for r in rows:
            m.apply(r)
        return rows


@command("inputlookup")
class Inputlookup(Command):
    generating = True

    def __init__(self, args, ctx):
        allowed = {"append": to_bool, "start": to_int, "max": to_int}
        opts = args.options(allowed)
        name_tok = args.tok
        self.name = args.field("a lookup name")
        opts.update(args.options(allowed))
        self.where = None
        if args.is_word("where"):
            args.advance()
            text, pos = args.raw_rest()
            self.where = compile_search_text(text, ctx, base=pos)
            args.i = len(args.toks) - 1
        args.expect_end()
        self.append = opts.get("append", False)
        self.generating = not self.append
        self.start = opts.get("start", 0)
        self.max = opts.get("max", 1000000000)
        self.lookups = ctx.app.lookups
        self.ldef = self.lookups.definition(self.name, name_tok.pos)

    def run(self, rows):
        table = self.lookups.load(self.ldef)
        out = [dict(r) for r in table.rows[self.start:self.start + self.max]]
        if self.where is not None:
            out = [r for r in out if self.where(r)]
        return (rows or []) + out if self.append else out


@command("outputlookup")
class Outputlookup(Command):
    def __init__(self, args, ctx):
        allowed = {"append": to_bool, "create_empty": to_bool, "override_if_empty": to_bool,
                   "max": to_int, "createinapp": to_bool}
        opts = args.options(allowed)
        name_tok = args.tok
        self.name = args.field("a lookup name")
        opts.update(args.options(allowed))
        args.expect_end()
        self.append = opts.get("append", False)
        self.create_empty = opts.get("create_empty", True)
        self.override_if_empty = opts.get("override_if_empty", True)
        self.max = opts.get("max")
        self.ctx = ctx
        self.lookups = ctx.app.lookups
        self.ldef = self.lookups.definition(self.name, name_tok.pos)
        if (not self.name.endswith((".csv", ".csv.gz")) and self.ldef.filename is None
                and self.ldef.collection is None):
            raise Unsupported("outputlookup %s: only CSV and KV store lookups are implemented"
                              % self.name,
                              name_tok.pos)

    def run(self, rows):
        out_rows = rows[:self.max] if self.max else rows
        fields = [f for f in all_field_names(out_rows)
                  if not f.startswith("_") or f in ("_time", "_key")]
        existing_header, existing_rows = [], []
        if self.append or (not out_rows and not self.override_if_empty):
            try:
                table = self.lookups.load(self.ldef)
                existing_header, existing_rows = table.header, table.rows
            except SearchRuntimeError:
                pass
        if not out_rows and not self.override_if_empty:
            return rows
        if not out_rows and not self.create_empty and not existing_header:
            return rows
        header = list(existing_header) if self.append else []
        for f in fields:
            if f not in header:
                header.append(f)
        data = (list(existing_rows) if self.append else []) + [
            {k: v for k, v in r.items() if k in header} for r in out_rows]
        self.lookups.write(self.ldef, header, data, self.ctx.warn)
        return rows


@command("iplocation")
class Iplocation(Command):
    FIELDS = ("City", "Country", "Region", "lat", "lon")
    ALL = ("City", "Continent", "Country", "MetroCode", "Region", "Timezone", "lat", "lon")

    def __init__(self, args, ctx):
        allowed = {"prefix": to_str, "allfields": to_bool, "lang": to_str}
        opts = args.options(allowed)
        self.field = args.field("an IP address field")
        opts.update(args.options(allowed))
        args.expect_end()
        if opts.get("lang") not in (None, "en"):
            raise Unsupported("iplocation: lang=%s is not implemented" % opts["lang"])
        self.prefix = opts.get("prefix", "")
        self.allfields = opts.get("allfields", False)
        self.cache = {}
        if not ctx.app.geoip:
            # Splunk always has a location database; without one, every address is one the
            # database does not know: no location fields. Say so once, on stderr.
            self.reader = None
            ctx.app.warn("iplocation: no --geoip database given; location fields "
                              "(City, Country, Region, lat, lon) stay empty")
            return
        from ..mmdb import MMDBReader
        self.reader = MMDBReader.open_cached(ctx.app.geoip)

    def _locate(self, ip):
        if self.reader is None:
            return {}
        hit = self.cache.get(ip)
        if hit is None:
            rec = self.reader.get(ip)
            hit = self.cache[ip] = geo_fields(rec) if rec else {}
        return hit

    def run(self, rows):
        names = self.ALL if self.allfields else self.FIELDS
        for r in rows:
            v = r.get(self.field)
            if v is None:
                continue
            info = self._locate(text_of(values_of(v)[0]).strip())
            for n in names:
                x = info.get(n)
                key = self.prefix + n
                # Splunk's iplocation writes every field it adds, with an empty string for
                # a part the database does not know (a private address gets all of them
                # empty): "" is a value, not null, so isnull() and coalesce() do not skip it.
                r[key] = "" if x is None else x
        return rows


def geo_fields(rec):
    """A GeoIP2/GeoLite2 City record -> iplocation fields (English names)."""
    def name(obj):
        if not isinstance(obj, dict):
            return None
        names = obj.get("names") or {}
        return names.get("en")
    out = {}
    out["City"] = name(rec.get("city"))
    out["Country"] = name(rec.get("country"))
    out["Continent"] = name(rec.get("continent"))
    subs = rec.get("subdivisions") or []
    out["Region"] = name(subs[0]) if subs else None
    loc = rec.get("location") or {}
    if "latitude" in loc:
        out["lat"] = loc["latitude"]
    if "longitude" in loc:
        out["lon"] = loc["longitude"]
    out["Timezone"] = loc.get("time_zone")
    out["MetroCode"] = loc.get("metro_code")
    return {k: v for k, v in out.items() if v is not None}
