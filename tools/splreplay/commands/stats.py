"""stats, eventstats, streamstats and the statistical functions (registry ``STATS_FUNCTIONS``).

Semantics:
- null values are ignored by every function; a multivalue field contributes each value;
- ``count`` (no argument) counts results; ``count(x)`` counts values of x;
- ``by`` fields: results whose by-field is null are left out; a multivalue by-field puts the
  result in one group per value; groups come out sorted by their by-values (numbers
  numerically, before strings);
- no ``by`` and no input: one row where ``count``/``dc`` are 0 and the others absent;
- ``sum``/``avg``/``stdev``... use numeric values only; ``min``/``max`` use numeric values
  when there are any, else text order; ``values`` is distinct and text-sorted, ``list``
  keeps order (at most 100); ``perc<N>``/``p<N>``/``upperperc<N>`` take the nearest rank,
  ``median`` the higher of the two middle values, ``exactperc<N>`` interpolates linearly;
- eventstats adds its fields to the first ``[eventstats] maxresultrows`` results only;
- streamstats without ``window=``/``time_window=`` uses a window of ``[stats]
  max_stream_window`` events (limits.conf), and ``window=`` is capped by it;
- ``<fn>(eval(<expr>))`` must be renamed with AS, as Splunk requires.
streamstats ``time_window=<span>``: each result's statistics cover the results before it (and
itself with ``current=true``) of its by-group whose ``_time`` is less than ``<span>`` away from
its own (an event exactly ``<span>`` apart is outside). The results must come in time order,
ascending or descending (ties allowed), else the search fails. Refused with ``window=``.
Refused: ``estdc``, ``rate``, sparklines, wildcarded fields.
"""
import collections
import math
import re

from .. import timeutil
from ..errors import SearchRuntimeError, SplError, Unsupported
from ..evalexpr import parse_eval
from ..values import as_number, normalise, text_of, values_of
from . import Command, command, to_bool, to_int, to_str
from .basic import _sort_key_fn

STATS_FUNCTIONS = {}


def stats_function(*names, needs_field=True):
    def deco(cls):
        for n in names:
            STATS_FUNCTIONS[n] = cls
        cls.needs_field = needs_field
        return cls
    return deco


class Agg:
    """One accumulator. ``add(vals, row)`` per result, ``result()`` any time."""

    def __init__(self, arg=None):
        self.arg = arg

    def add(self, vals, row):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError


@stats_function("count", "c", needs_field=False)
class Count(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.n = 0

    def add(self, vals, row):
        self.n += 1 if vals is None else len(vals)

    def result(self):
        return self.n

    empty = 0


@stats_function("dc", "distinct_count")
class DistinctCount(Agg):
    empty = 0

    def __init__(self, arg=None):
        super().__init__(arg)
        self.seen = set()

    def add(self, vals, row):
        for v in vals:
            self.seen.add(text_of(v))

    def result(self):
        return len(self.seen)


class _Numeric(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.nums = []

    def add(self, vals, row):
        for v in vals:
            n = as_number(v)
            if n is not None:
                self.nums.append(n)


@stats_function("sum")
class Sum(_Numeric):
    def result(self):
        return sum(self.nums) if self.nums else None


@stats_function("sumsq")
class SumSq(_Numeric):
    def result(self):
        return sum(n * n for n in self.nums) if self.nums else None


@stats_function("avg", "mean")
class Avg(_Numeric):
    def result(self):
        return sum(self.nums) / len(self.nums) if self.nums else None


def _variance(nums, sample):
    n = len(nums)
    if n == 0 or (sample and n < 2):
        return None
    mean = sum(nums) / n
    return sum((x - mean) ** 2 for x in nums) / (n - 1 if sample else n)


@stats_function("var")
class Var(_Numeric):
    def result(self):
        return _variance(self.nums, True)


@stats_function("varp")
class VarP(_Numeric):
    def result(self):
        return _variance(self.nums, False)


@stats_function("stdev")
class Stdev(_Numeric):
    def result(self):
        v = _variance(self.nums, True)
        return None if v is None else math.sqrt(v)


@stats_function("stdevp")
class StdevP(_Numeric):
    def result(self):
        v = _variance(self.nums, False)
        return None if v is None else math.sqrt(v)


@stats_function("range")
class Range(_Numeric):
    def result(self):
        return max(self.nums) - min(self.nums) if self.nums else None


def _percentile(nums, pct):
    """Exact percentile with linear interpolation between the closest ranks (exactperc)."""
    if not nums:
        return None
    s = sorted(nums)
    if len(s) == 1:
        return s[0]
    rank = pct / 100.0 * (len(s) - 1)
    lo = int(math.floor(rank))
    hi = min(lo + 1, len(s) - 1)
    frac = rank - lo
    r = s[lo] + (s[hi] - s[lo]) * frac
    return int(r) if isinstance(r, float) and r.is_integer() and all(
        isinstance(x, int) for x in s) else r


def _nearest_rank(nums, pct):
    """perc<N>/p<N>/upperperc<N>: the Search Reference ("Statistical and charting functions",
    perc): with fewer than 1,000 distinct values Splunk uses the nearest-rank method, the
    value at rank ceil(N/100 x count) of the sorted values. Above 1,000 distinct values
    Splunk approximates (t-digest); splreplay stays with nearest rank (README)."""
    if not nums:
        return None
    s = sorted(nums)
    rank = int(math.ceil(pct / 100.0 * len(s)))
    return s[min(max(rank, 1), len(s)) - 1]


@stats_function("median")
class Median(_Numeric):
    """The Search Reference (median): with an even number of values the median is "the
    higher of the two values" in the middle, not their mean."""

    def result(self):
        if not self.nums:
            return None
        s = sorted(self.nums)
        return s[len(s) // 2]


class Perc(_Numeric):
    pct = 50.0
    exact = False

    def result(self):
        if self.exact:
            return _percentile(self.nums, self.pct)
        return _nearest_rank(self.nums, self.pct)


class _MinMax(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.num = None
        self.txt = None

    def add(self, vals, row):
        for v in vals:
            n = as_number(v)
            if n is not None:
                if self.num is None or self.better(n, self.num):
                    self.num = n
            else:
                t = text_of(v)
                if self.txt is None or self.better(t, self.txt):
                    self.txt = t

    def result(self):
        return self.num if self.num is not None else self.txt


@stats_function("min")
class Min(_MinMax):
    @staticmethod
    def better(a, b):
        return a < b


@stats_function("max")
class Max(_MinMax):
    @staticmethod
    def better(a, b):
        return a > b


@stats_function("values")
class Values(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.seen = set()

    def add(self, vals, row):
        for v in vals:
            self.seen.add(text_of(v))

    def result(self):
        return normalise(sorted(self.seen))


@stats_function("list")
class List(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.items = []

    def add(self, vals, row):
        for v in vals:
            if len(self.items) < 100:
                self.items.append(v)

    def result(self):
        return normalise(list(self.items))


@stats_function("mode")
class Mode(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.counts = collections.OrderedDict()

    def add(self, vals, row):
        for v in vals:
            t = text_of(v)
            self.counts[t] = self.counts.get(t, 0) + 1

    def result(self):
        if not self.counts:
            return None
        best = max(self.counts.values())
        for k, c in self.counts.items():
            if c == best:
                return k


@stats_function("first")
class First(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.v = None

    def add(self, vals, row):
        if self.v is None and vals:
            self.v = normalise(list(vals))

    def result(self):
        return self.v


@stats_function("last")
class Last(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.v = None

    def add(self, vals, row):
        if vals:
            self.v = normalise(list(vals))

    def result(self):
        return self.v


class _ByTime(Agg):
    def __init__(self, arg=None):
        super().__init__(arg)
        self.best = None  # (time, value)

    def add(self, vals, row):
        if not vals:
            return
        t = as_number(row.get("_time"))
        if t is None:
            return
        if self.best is None or self.better(t, self.best[0]):
            self.best = (t, normalise(list(vals)))


@stats_function("earliest")
class Earliest(_ByTime):
    @staticmethod
    def better(a, b):
        return a < b

    def result(self):
        return None if self.best is None else self.best[1]


@stats_function("latest")
class Latest(_ByTime):
    @staticmethod
    def better(a, b):
        return a >= b

    def result(self):
        return None if self.best is None else self.best[1]


@stats_function("earliest_time")
class EarliestTime(Earliest):
    def result(self):
        return None if self.best is None else self.best[0]


@stats_function("latest_time")
class LatestTime(Latest):
    def result(self):
        return None if self.best is None else self.best[0]


_PERC = re.compile(r"(?:perc|p|exactperc|upperperc)(\d+(?:\.\d+)?)$")


def lookup_function(name, pos):
    cls = STATS_FUNCTIONS.get(name)
    if cls is not None:
        return cls
    m = _PERC.match(name)
    if m:
        pct = float(m.group(1))
        if not 0 <= pct <= 100:
            raise SplError("percentile out of range: %s" % name, pos)
        return type("Perc_" + m.group(1), (Perc,), {"pct": pct, "needs_field": True,
                                                    "exact": name.startswith("exactperc")})
    raise Unsupported("stats function %s() is not implemented by splreplay" % name, pos)


class AggSpec:
    def __init__(self, cls, field, evalfn, out_name):
        self.cls = cls
        self.field = field
        self.evalfn = evalfn
        self.out = out_name

    def values(self, row):
        if self.evalfn is not None:
            v = self.evalfn(row)
            if isinstance(v, bool):
                return [1] if v else []
            return values_of(v)
        if self.field is None:
            return None
        return values_of(row.get(self.field))


def _matching_paren(text, start):
    """Index of the ')' matching text[start] == '(' (quotes respected)."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def parse_aggregations(args, ctx, allowed_opts):
    opts = args.options(allowed_opts)
    specs = []
    while not args.at_end():
        t = args.tok
        if t.is_op(","):
            args.advance()
            continue
        if t.kind == "word" and t.value.lower() == "by":
            break
        if t.kind != "word":
            raise args.error("expected a statistical function", t)
        fname = t.value
        args.advance()
        field = None
        evalfn = None
        written = fname
        if args.tok.is_op("("):
            lp = args.tok
            if args.peek().is_word("eval") and args.peek(2).is_op("("):
                inner_lp = args.peek(2)
                rel = inner_lp.pos - args.base
                close = _matching_paren(args.text, rel)
                if close < 0:
                    raise args.error("unbalanced parentheses in eval()", inner_lp)
                expr_text = args.text[rel + 1:close]
                node = parse_eval(expr_text, ctx, base=inner_lp.pos + 1)
                evalfn = node.fn
                end_abs = args.base + close
                while args.tok.pos <= end_abs and not args.at_end():
                    args.advance()
                if not args.tok.is_op(")"):
                    raise args.error("expected ')' after eval(...)")
                args.advance()
                written = None
            else:
                args.advance()
                if args.tok.kind not in ("word", "str"):
                    raise args.error("expected a field name in %s()" % fname)
                field = args.advance().value
                if "*" in field:
                    raise Unsupported("wildcarded fields in stats functions are not "
                                      "implemented", lp.pos)
                if not args.tok.is_op(")"):
                    raise args.error("expected ')' after %s(%s" % (fname, field))
                args.advance()
                written = "%s(%s)" % (fname, field)
        cls = lookup_function(fname, t.pos)
        if cls.needs_field and field is None and evalfn is None:
            raise SplError("%s needs a field: %s(<field>)" % (fname, fname), t.pos)
        out = written
        if args.is_word("as"):
            args.advance()
            out = args.field("a name after AS")
        if out is None:
            raise SplError("the eval expression in %s(eval(...)) must be renamed with AS"
                           % fname, t.pos)
        specs.append(AggSpec(cls, field, evalfn, out))
    if not specs:
        raise args.error("needs at least one statistical function")
    by = []
    if args.is_word("by"):
        args.advance()
        by = args.field_list(allow_empty=False)
    opts.update(args.options(allowed_opts))
    args.expect_end()
    return specs, by, opts


def group_keys(row, by):
    """All by-value combinations of a row (empty when a by-field is null)."""
    keys = [()]
    for f in by:
        v = row.get(f)
        if v is None:
            return []
        keys = [k + (x,) for k in keys for x in values_of(v)]
    return keys


def _key_text(key):
    return tuple(text_of(x) for x in key)


class _Group:
    __slots__ = ("key", "aggs")

    def __init__(self, key, specs):
        self.key = key
        self.aggs = [s.cls(s.field) for s in specs]

    def add(self, specs, row):
        for spec, agg in zip(specs, self.aggs, strict=False):
            vals = spec.values(row)
            agg.add(vals, row)

    def results(self, specs):
        out = []
        for spec, agg in zip(specs, self.aggs, strict=False):
            out.append((spec.out, agg.result()))
        return out


def aggregate(rows, specs, by):
    groups = {}
    for r in rows:
        for key in group_keys(r, by) if by else [()]:
            tk = _key_text(key)
            g = groups.get(tk)
            if g is None:
                g = groups[tk] = _Group(key, specs)
            g.add(specs, r)
    return groups


@command("stats")
class Stats(Command):
    def __init__(self, args, ctx):
        self.specs, self.by, _ = parse_aggregations(args, ctx, {})

    def run(self, rows):
        groups = aggregate(rows, self.specs, self.by)
        if not self.by and not groups:
            g = _Group((), self.specs)
            row = {}
            for (name, v), _agg in zip(g.results(self.specs), g.aggs, strict=False):
                if v is not None:
                    row[name] = v
            return [row]
        akey = _sort_key_fn("auto")
        ordered = sorted(groups.values(), key=lambda g: tuple(akey(x) for x in g.key))
        out = []
        for g in ordered:
            row = {}
            for f, v in zip(self.by, g.key, strict=False):
                row[f] = v
            for name, v in g.results(self.specs):
                if v is not None:
                    row[name] = v
            out.append(row)
        return out


@command("eventstats")
class Eventstats(Command):
    def __init__(self, args, ctx):
        self.specs, self.by, _ = parse_aggregations(args, ctx, {})
        self.max_rows = ctx.app.limits.get("eventstats", "maxresultrows")

    def run(self, rows):
        # limits.conf [eventstats] maxresultrows; the eventstats manual page: past its
        # limits "the eventstats command processor stops adding the requested fields to the
        # search results". The results past the limit neither count nor get fields.
        kept = rows[:self.max_rows]
        groups = aggregate(kept, self.specs, self.by)
        results = {k: g.results(self.specs) for k, g in groups.items()}
        for r in kept:
            keys = group_keys(r, self.by) if self.by else [()]
            if not keys:
                continue
            if len(keys) > 1:
                # a multivalue by-field: Splunk adds each group's value; take them all
                merged = {}
                for k in keys:
                    for name, v in results.get(_key_text(k), []):
                        merged.setdefault(name, []).extend(values_of(v))
                for name, vals in merged.items():
                    nv = normalise(vals)
                    if nv is None:
                        r.pop(name, None)
                    else:
                        r[name] = nv
                continue
            for name, v in results.get(_key_text(keys[0]), []):
                if v is None:
                    r.pop(name, None)
                else:
                    r[name] = v
        return rows


@command("streamstats")
class Streamstats(Command):
    def __init__(self, args, ctx):
        allowed = {"window": to_int, "current": to_bool, "global": to_bool,
                   "reset_on_change": to_bool, "time_window": to_str}
        pos = args.tok.pos
        self.specs, self.by, opts = parse_aggregations(args, ctx, allowed)
        self.max_window = ctx.app.limits.get("stats", "max_stream_window")
        self.window = opts.get("window", 0)
        if self.window < 0:
            raise SplError("streamstats: window= must be 0 or more", pos)
        self.current = opts.get("current", True)
        if opts.get("reset_on_change"):
            raise Unsupported("streamstats: reset_on_change is not implemented", args.tok.pos)
        if "global" in opts and not opts["global"]:
            raise Unsupported("streamstats: global=false is not implemented", args.tok.pos)
        self.time_window = None
        if "time_window" in opts:
            kind, amount = timeutil.parse_span(opts["time_window"], pos)
            if kind != "sec" or amount <= 0:
                raise SplError("streamstats: time_window= needs a time span such as 60m, "
                               "not %r" % opts["time_window"], pos)
            if self.window:
                raise Unsupported("streamstats: time_window= together with window= is not "
                                  "implemented", pos)
            self.time_window = amount

    def _run_time_window(self, rows):
        span = self.time_window
        specs = self.specs
        times = []
        for r in rows:
            t = r.get("_time")
            n = None if t is None else as_number(values_of(t)[0])
            if n is None:
                raise SearchRuntimeError("streamstats: time_window= needs _time on every "
                                         "result")
            times.append(n)
        ascending = all(a <= b for a, b in zip(times, times[1:], strict=False))
        descending = all(a >= b for a, b in zip(times, times[1:], strict=False))
        if not (ascending or descending):
            raise SearchRuntimeError("streamstats: time_window= needs the results in time "
                                     "order (ascending or descending _time)")
        windows = collections.defaultdict(collections.deque)
        for r, t in zip(rows, times, strict=False):
            keys = group_keys(r, self.by) if self.by else [()]
            if len(keys) != 1:
                if len(keys) > 1:
                    raise Unsupported("streamstats by a multivalue field is not implemented")
                continue
            win = windows[_key_text(keys[0])]
            while win and abs(t - win[0][0]) >= span:
                win.popleft()
            seen = (t, dict(r))  # as it came in, before this command adds its fields
            if self.current:
                win.append(seen)
            g = _Group(keys[0], specs)
            for _t, past in win:
                g.add(specs, past)
            res = g.results(specs)
            if not self.current:
                win.append(seen)
            for name, v in res:
                if v is None:
                    r.pop(name, None)
                else:
                    r[name] = v
        return rows

    def run(self, rows):
        if self.time_window is not None:
            return self._run_time_window(rows)
        specs = self.specs
        # window=0 (the default) means "all earlier results", but at most [stats]
        # max_stream_window of them (the streamstats manual page and limits.conf.spec); a
        # larger window= is capped the same way.
        size = min(self.window, self.max_window) if self.window else self.max_window
        running = {}  # group -> (_Group over every result so far, count of them)
        windows = collections.defaultdict(collections.deque)
        for r in rows:
            keys = group_keys(r, self.by) if self.by else [()]
            if len(keys) != 1:
                if len(keys) > 1:
                    raise Unsupported("streamstats by a multivalue field is not implemented")
                continue
            tk = _key_text(keys[0])
            win = windows[tk]
            g, n = running.get(tk) or (_Group(keys[0], specs), 0)
            seen = dict(r)  # as it came in, before this command adds its fields
            if self.current:
                win.append(seen)
                if len(win) > size:
                    win.popleft()
                g.add(specs, seen)
                n += 1
            if n <= size:
                res = g.results(specs)  # the window still holds every earlier result
            else:
                w = _Group(keys[0], specs)
                for past in win:
                    w.add(specs, past)
                res = w.results(specs)
            if not self.current:
                win.append(seen)
                if len(win) > size:
                    win.popleft()
                g.add(specs, seen)
                n += 1
            running[tk] = (g, n)
            for name, v in res:
                if v is None:
                    r.pop(name, None)
                else:
                    r[name] = v
        return rows
