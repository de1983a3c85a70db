"""Streaming and ordering commands: search, where, eval, table, fields, rename, head, tail,
reverse, dedup, sort, fillnull, makemv, mvexpand, spath, bin/bucket, rex, makeresults."""
import functools
import ipaddress
import re

from .. import timeutil
from ..errors import SearchRuntimeError, SplError, Unsupported
from ..events import cut_to_bytes, flatten_json_prefix
from ..evalexpr import BOOL, NUM, STR, assign_value, parse_assignments, parse_eval, pcre_to_python, truth
from ..jsonpath import compile_path, extract, extract_all
from ..searchexpr import compile_search
from ..values import as_number, normalise, text_of, values_of
from . import Command, all_field_names, command, field_patterns, to_bool, to_int, to_str


@command("search")
class Search(Command):
    def __init__(self, args, ctx, first=False):
        text, pos = args.raw_rest()
        self.ctx = ctx
        self.flt = compile_search(text, ctx, base=pos, allow_time=first)
        self.set_now(ctx.now)

    def set_now(self, now):
        """Time modifiers resolve against the run's ``now``."""
        lo = hi = None
        if self.flt.earliest is not None:
            lo = timeutil.relative_time(now, self.flt.earliest)
        if self.flt.latest is not None:
            hi = timeutil.relative_time(now, self.flt.latest)
        self.lo, self.hi = lo, hi

    def run(self, rows):
        pred = self.flt.pred
        lo, hi = self.lo, self.hi
        out = []
        for r in rows:
            if lo is not None or hi is not None:
                t = as_number(r.get("_time"))
                if t is None or (lo is not None and t < lo) or (hi is not None and t >= hi):
                    continue
            if pred(r):
                out.append(r)
        return out


@command("where")
class Where(Command):
    def __init__(self, args, ctx):
        text, pos = args.raw_rest()
        if not text.strip():
            raise args.error("needs an expression")
        node = parse_eval(text, ctx, base=pos)
        if node.type in (NUM, STR) or node.field is not None:
            raise SplError("where: the expression must be boolean (a comparison or a "
                           "boolean function)", node.pos)
        self.fn = node.fn

    def run(self, rows):
        fn = self.fn
        return [r for r in rows if truth(fn(r)) is True]


@command("eval")
class Eval(Command):
    def __init__(self, args, ctx):
        text, pos = args.raw_rest()
        self.assignments = [(name, node.fn) for name, node in parse_assignments(text, ctx, pos)]

    def run(self, rows):
        for r in rows:
            for name, fn in self.assignments:
                v = assign_value(fn(r), name)
                if v is None:
                    r.pop(name, None)
                else:
                    r[name] = v
        return rows


@command("table")
class Table(Command):
    def __init__(self, args, ctx):
        self.patterns = args.field_list(allow_empty=False)
        args.expect_end()

    def run(self, rows):
        names = field_patterns(self.patterns, all_field_names(rows)) \
            if any("*" in p for p in self.patterns) else self.patterns
        out = []
        for r in rows:
            out.append({n: r[n] for n in names if n in r})
        return out


@command("fields")
class Fields(Command):
    def __init__(self, args, ctx):
        self.remove = False
        if args.tok.kind == "word" and args.tok.value in ("-", "+"):
            self.remove = args.advance().value == "-"
        elif args.tok.kind == "word" and args.tok.value.startswith("-") and len(args.tok.value) > 1:
            raise args.error("write 'fields - name' with a space after '-'")
        self.patterns = args.field_list(allow_empty=False)
        args.expect_end()

    def run(self, rows):
        names = all_field_names(rows)
        chosen = set(field_patterns(self.patterns, names))
        if self.remove:
            return [{k: v for k, v in r.items() if k not in chosen} for r in rows]
        keep_order = field_patterns(self.patterns, names)
        out = []
        for r in rows:
            new = {k: r[k] for k in keep_order if k in r}
            for k, v in r.items():
                if k.startswith("_") and k not in new and not any(
                        p.startswith("-") for p in self.patterns):
                    new[k] = v
            out.append(new)
        return out


@command("rename")
class Rename(Command):
    def __init__(self, args, ctx):
        self.pairs = []
        while not args.at_end():
            if args.tok.is_op(","):
                args.advance()
                continue
            src = args.field()
            if not args.is_word("as"):
                raise args.error("expected AS after %r" % src)
            args.advance()
            dst = args.field()
            if src.count("*") != dst.count("*") or src.count("*") > 1:
                raise Unsupported("rename: wildcards must appear once in both names", args.tok.pos)
            self.pairs.append((src, dst))
        if not self.pairs:
            raise args.error("expected 'field AS newname'")

    def run(self, rows):
        for r in rows:
            for src, dst in self.pairs:
                if "*" in src:
                    pre, post = src.split("*")
                    dpre, dpost = dst.split("*")
                    for k in list(r):
                        if k.startswith(pre) and k.endswith(post) and len(k) >= len(pre) + len(post):
                            mid = k[len(pre):len(k) - len(post)]
                            r[dpre + mid + dpost] = r.pop(k)
                elif src in r:
                    v = r.pop(src)
                    r[dst] = v
        return rows


@command("head")
class Head(Command):
    def __init__(self, args, ctx):
        opts = args.options({"limit": to_int})
        self.n = opts.get("limit", 10)
        if not args.at_end() and args.tok.kind == "word" and args.tok.value.isdigit():
            self.n = int(args.advance().value)
        opts.update(args.options({"limit": to_int}))
        self.n = opts.get("limit", self.n)
        if args.tok.is_op("("):
            raise Unsupported("head (<eval-expression>) is not implemented", args.tok.pos)
        args.expect_end()

    def run(self, rows):
        return rows[:self.n]


@command("tail")
class Tail(Command):
    def __init__(self, args, ctx):
        self.n = 10
        if not args.at_end() and args.tok.kind == "word" and args.tok.value.isdigit():
            self.n = int(args.advance().value)
        args.expect_end()

    def run(self, rows):
        return list(reversed(rows[-self.n:])) if self.n else []


@command("reverse")
class Reverse(Command):
    def __init__(self, args, ctx):
        args.expect_end()

    def run(self, rows):
        return list(reversed(rows))


@command("dedup")
class Dedup(Command):
    def __init__(self, args, ctx):
        self.n = 1
        if args.tok.kind == "word" and args.tok.value.isdigit():
            self.n = int(args.advance().value)
        opts = args.options({"keepempty": to_bool, "consecutive": to_bool})
        self.fields = args.field_list(stop=("sortby",), allow_empty=False)
        opts.update(args.options({"keepempty": to_bool, "consecutive": to_bool}))
        if args.is_word("sortby"):
            raise Unsupported("dedup: sortby is not implemented", args.tok.pos)
        args.expect_end()
        self.keepempty = opts.get("keepempty", False)
        self.consecutive = opts.get("consecutive", False)

    def run(self, rows):
        seen = {}
        out = []
        last = None
        for r in rows:
            key = []
            missing = False
            for f in self.fields:
                v = r.get(f)
                if v is None:
                    missing = True
                    break
                key.append(tuple(text_of(x) for x in values_of(v)))
            if missing:
                if self.keepempty:
                    out.append(r)
                continue
            key = tuple(key)
            if self.consecutive:
                if key != last:
                    out.append(r)
                last = key
                continue
            c = seen.get(key, 0)
            if c < self.n:
                out.append(r)
                seen[key] = c + 1
        return out


def _sort_key_fn(kind):
    """-> fn(value) -> comparable tuple; numbers before strings (auto)."""
    def auto(v):
        n = as_number(v)
        if n is not None:
            return (0, n, "")
        return (1, 0, text_of(v))

    def num(v):
        n = as_number(v)
        return (0, n, "") if n is not None else (1, 0, text_of(v))

    def string(v):
        return (1, 0, text_of(v))

    def ip(v):
        try:
            a = ipaddress.ip_address(text_of(v).strip())
            return (0, (a.version, int(a)), "")
        except ValueError:
            return (1, 0, text_of(v))
    return {"auto": auto, "num": num, "str": string, "ip": ip}[kind]


@command("sort")
class Sort(Command):
    def __init__(self, args, ctx):
        self.limit = 10000
        if args.tok.kind == "word" and args.tok.value.isdigit():
            self.limit = int(args.advance().value)
        opts = args.options({"limit": to_int})
        if "limit" in opts:
            self.limit = opts["limit"]
        self.keys = []
        self.reverse_all = False
        while not args.at_end():
            t = args.tok
            if t.is_op(","):
                args.advance()
                continue
            if t.kind == "word" and t.value.lower() in ("d", "desc") and self.keys \
                    and args.peek().kind == "eof":
                self.reverse_all = True
                args.advance()
                continue
            desc = False
            name = None
            if t.kind == "word" and t.value in ("-", "+"):
                desc = t.value == "-"
                args.advance()
                t = args.tok
            if t.kind == "word" and t.value[:1] in ("-", "+") and len(t.value) > 1:
                desc = t.value[0] == "-"
                name = t.value[1:]
                args.advance()
            elif t.kind in ("word", "str"):
                name = t.value
                args.advance()
            else:
                raise args.error("expected a sort field", t)
            kind = "auto"
            if name in ("auto", "num", "str", "ip") and args.tok.is_op("("):
                kind = name
                args.advance()
                name = args.field()
                if not args.tok.is_op(")"):
                    raise args.error("expected ')'")
                args.advance()
            elif args.tok.is_op("("):
                raise Unsupported("sort: %s() is not implemented" % name, t.pos)
            self.keys.append((name, desc, _sort_key_fn(kind)))
        if not self.keys:
            raise args.error("needs at least one field")

    def run(self, rows):
        keys = self.keys

        def cmp(a, b):
            for name, desc, kf in keys:
                va, vb = a.get(name), b.get(name)
                if va is None and vb is None:
                    continue
                if va is None:
                    return 1  # missing values sort last in either direction
                if vb is None:
                    return -1
                ka = kf(values_of(va)[0])
                kb = kf(values_of(vb)[0])
                if ka == kb:
                    continue
                r = -1 if ka < kb else 1
                return -r if desc else r
            return 0
        out = sorted(rows, key=functools.cmp_to_key(cmp))
        if self.reverse_all:
            out.reverse()
        return out[:self.limit] if self.limit else out


@command("fillnull")
class Fillnull(Command):
    def __init__(self, args, ctx):
        opts = args.options({"value": to_str})
        self.value = opts.get("value", "0")
        self.fields = args.field_list()
        args.expect_end()

    def run(self, rows):
        names = self.fields or all_field_names(rows)
        for r in rows:
            for n in names:
                if r.get(n) is None:
                    r[n] = self.value
        return rows


@command("makemv")
class Makemv(Command):
    def __init__(self, args, ctx):
        allowed = {"delim": to_str, "tokenizer": to_str, "allowempty": to_bool, "setsv": to_bool}
        opts = args.options(allowed)
        self.field = args.field()
        opts.update(args.options(allowed))
        args.expect_end()
        if opts.get("setsv"):
            raise Unsupported("makemv: setsv=true is not implemented", args.tok.pos)
        self.delim = opts.get("delim", " ")
        self.tokenizer = pcre_to_python(opts["tokenizer"]) if "tokenizer" in opts else None
        self.allowempty = opts.get("allowempty", False)

    def run(self, rows):
        for r in rows:
            v = r.get(self.field)
            if v is None or isinstance(v, list):
                continue
            s = text_of(v)
            if self.tokenizer is not None:
                parts = []
                for m in self.tokenizer.finditer(s):
                    parts.append(m.group(1) if m.groups() else m.group(0))
            else:
                parts = s.split(self.delim)
            if not self.allowempty:
                parts = [p for p in parts if p != ""]
            nv = normalise(parts)
            if nv is None:
                r.pop(self.field, None)
            else:
                r[self.field] = nv
        return rows


@command("mvexpand")
class Mvexpand(Command):
    def __init__(self, args, ctx):
        opts = args.options({"limit": to_int})
        self.field = args.field()
        opts.update(args.options({"limit": to_int}))
        args.expect_end()
        self.limit = opts.get("limit")

    def run(self, rows):
        out = []
        for r in rows:
            v = r.get(self.field)
            if v is None:
                # A result without the field is dropped: mvexpand makes one result per
                # value, and a missing field has none (Splunk's mvexpand removes such
                # results; fillnull the field first to keep them).
                continue
            if not isinstance(v, list):
                out.append(r)
                continue
            vals = v[:self.limit] if self.limit else v
            for x in vals:
                nr = dict(r)
                nr[self.field] = x
                out.append(nr)
        return out


@command("spath")
class Spath(Command):
    def __init__(self, args, ctx):
        allowed = {"input": to_str, "output": to_str, "path": to_str}
        opts = args.options(allowed)
        if not args.at_end() and not args.is_option():
            opts["path"] = args.field()
        opts.update(args.options(allowed))
        args.expect_end()
        self.input = opts.get("input", "_raw")
        self.path = opts.get("path")
        self.steps = compile_path(self.path) if self.path else None
        self.output = opts.get("output", self.path)
        self.cutoff = ctx.app.limits.get("spath", "extraction_cutoff")
        if self.output and not self.path:
            raise Unsupported("spath: output= without path= is not implemented", args.tok.pos)

    def run(self, rows):
        for r in rows:
            src = r.get(self.input)
            if src is None:
                continue
            text = text_of(values_of(src)[0])
            if self.steps is None:
                # limits.conf [spath] extraction_cutoff: extract-all reads only the first
                # <extraction_cutoff> bytes of the input.
                cut = cut_to_bytes(text, self.cutoff)
                found = extract_all(text) if cut is None else flatten_json_prefix(cut)
                for k, vals in found.items():
                    r[k] = vals[0] if len(vals) == 1 else vals
                continue
            v = extract(text, self.steps)
            if v is not None:
                r[self.output] = v
        return rows


@command("bin", "bucket")
class Bin(Command):
    def __init__(self, args, ctx):
        allowed = {"span": to_str}
        opts = args.options(allowed)
        self.field = args.field()
        opts.update(args.options(allowed))
        self.dest = self.field
        if args.is_word("as"):
            args.advance()
            self.dest = args.field()
        opts.update(args.options(allowed))
        args.expect_end()
        if "span" not in opts:
            raise Unsupported("bin: only span= binning is implemented (bins=, minspan= are not)",
                              args.tok.pos)
        self.span = timeutil.parse_span(opts["span"])
        if self.field != "_time" and self.span[0] != "num":
            raise Unsupported("bin: time spans only apply to _time", args.tok.pos)

    def run(self, rows):
        kind, amount = self.span
        for r in rows:
            v = r.get(self.field)
            if v is None:
                continue
            n = as_number(values_of(v)[0])
            if n is None:
                r.pop(self.dest, None)
                continue
            if self.field == "_time" and kind != "num":
                r[self.dest] = timeutil.floor_time(n, self.span)
            else:
                lo = (n // amount) * amount
                lo = int(lo) if float(lo).is_integer() else lo
                hi = lo + amount
                hi = int(hi) if float(hi).is_integer() else hi
                r[self.dest] = "%s-%s" % (lo, hi)
        return rows


@command("rex")
class Rex(Command):
    def __init__(self, args, ctx):
        allowed = {"field": to_str, "max_match": to_int, "mode": to_str}
        opts = args.options(allowed)
        t = args.tok
        if t.kind != "str":
            raise args.error("expected a quoted regular expression")
        args.advance()
        opts.update(args.options(allowed))
        args.expect_end()
        if "mode" in opts:
            raise Unsupported("rex: mode=%s is not implemented" % opts["mode"], t.pos)
        self.field = opts.get("field", "_raw")
        self.max_match = opts.get("max_match", 1)
        self.rx = pcre_to_python(t.value, t.pos)
        if not self.rx.groupindex:
            raise args.error("the regular expression has no named group", t)

    def run(self, rows):
        for r in rows:
            v = r.get(self.field)
            if v is None:
                continue
            text = text_of(values_of(v)[0])
            if self.max_match == 1:
                m = self.rx.search(text)
                if m:
                    for k, x in m.groupdict().items():
                        if x is not None:
                            r[k] = x
                continue
            found = {}
            for i, m in enumerate(self.rx.finditer(text)):
                if self.max_match and i >= self.max_match:
                    break
                for k, x in m.groupdict().items():
                    if x is not None:
                        found.setdefault(k, []).append(x)
            for k, vals in found.items():
                r[k] = normalise(vals)
        return rows


@command("makeresults")
class Makeresults(Command):
    generating = True

    def __init__(self, args, ctx):
        opts = args.options({"count": to_int})
        args.expect_end()
        self.count = opts.get("count", 1)
        self.now = ctx.now

    def set_now(self, now):
        self.now = now

    def run(self, rows):
        if rows:
            raise SearchRuntimeError("makeresults must be the first command")
        return [{"_time": self.now} for _ in range(self.count)]


# keep linters quiet about imports used only by some commands
_ = (BOOL, re)
