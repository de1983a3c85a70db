"""Eval functions: the registry. Adding one is a decorated function plus its tests.

``@function(name, min_args, max_args, returns)`` registers a plain function receiving the
argument *values* (null is None, multivalue is a list). ``@lazy_function`` registers one
receiving the compiled argument nodes and the row (for ``if``, ``case``, ``coalesce`` ...).
``@builder`` registers one that builds its Node at parse time (constant arguments checked
then, e.g. regexes, or context such as ``now()``).
Any function not registered here is refused with its name and position.
"""
import hashlib
import functools
import ipaddress
import math
import re
import urllib.parse

from . import timeutil
from .errors import SearchRuntimeError, SplError
from .evalexpr import ANY, BOOL, NUM, STR, Node, compare, like_regex, pcre_to_python, single, truth
from .values import as_number, normalise, render, text_of, values_of

FUNCTIONS = {}


class Spec:
    def __init__(self, name, min_args, max_args, build):
        self.name = name
        self.min_args = min_args
        self.max_args = max_args
        self.build = build


def function(name, min_args, max_args=None, returns=ANY):
    max_args = min_args if max_args is None else max_args

    def deco(py):
        def build(args, ctx, pos):
            fns = [a.fn for a in args]
            if len(fns) == 1:
                f0 = fns[0]
                return Node(lambda row: py(f0(row)), returns, pos)
            if len(fns) == 2:
                f0, f1 = fns
                return Node(lambda row: py(f0(row), f1(row)), returns, pos)
            return Node(lambda row: py(*[f(row) for f in fns]), returns, pos)
        FUNCTIONS[name] = Spec(name, min_args, max_args, build)
        return py
    return deco


def lazy_function(name, min_args, max_args=None, returns=ANY):
    max_args = min_args if max_args is None else max_args

    def deco(py):
        def build(args, ctx, pos):
            fns = [a.fn for a in args]
            return Node(lambda row: py(row, *fns), returns, pos)
        FUNCTIONS[name] = Spec(name, min_args, max_args, build)
        return py
    return deco


def builder(name, min_args, max_args=None):
    max_args = min_args if max_args is None else max_args

    def deco(build):
        FUNCTIONS[name] = Spec(name, min_args, max_args, build)
        return build
    return deco


def _text(v, fname):
    return text_of(single(v, fname + "()"))


def _num(v, fname):
    return as_number(single(v, fname + "()"))


# ---- conditional and comparison ------------------------------------------------------

@builder("if", 3)
def _if(args, ctx, pos):
    if args[0].type in (NUM, STR) or args[0].field is not None:
        raise SplError("Typechecking failed: the first argument of if() must be boolean", pos)
    c, a, b = (x.fn for x in args)
    typ = args[1].type if args[1].type == args[2].type else ANY
    return Node(lambda row: a(row) if truth(c(row)) else b(row), typ, pos)


@builder("case", 2, 200)
def _case(args, ctx, pos):
    if len(args) % 2:
        raise SplError("case() takes condition/value pairs", pos)
    pairs = [(args[i].fn, args[i + 1].fn) for i in range(0, len(args), 2)]
    for i in range(0, len(args), 2):
        if args[i].type in (NUM, STR) or args[i].field is not None:
            raise SplError("Typechecking failed: case() conditions must be boolean", args[i].pos)

    def fn(row):
        for c, v in pairs:
            if truth(c(row)):
                return v(row)
        return None
    return Node(fn, ANY, pos)


@lazy_function("coalesce", 1, 200)
def _coalesce(row, *fns):
    for f in fns:
        v = f(row)
        if v is not None:
            return v
    return None


@function("nullif", 2)
def _nullif(a, b):
    return None if compare("==", a, b) else a


@function("null", 0)
def _null():
    return None


@function("true", 0, returns=BOOL)
def _true():
    return True


@function("false", 0, returns=BOOL)
def _false():
    return False


@function("isnull", 1, returns=BOOL)
def _isnull(v):
    return v is None


@function("isnotnull", 1, returns=BOOL)
def _isnotnull(v):
    return v is not None


@function("isnum", 1, returns=BOOL)
def _isnum(v):
    return v is not None and not isinstance(v, (list, bool)) and as_number(v) is not None


@function("isint", 1, returns=BOOL)
def _isint(v):
    n = None if v is None or isinstance(v, (list, bool)) else as_number(v)
    return n is not None and float(n).is_integer()


@function("isstr", 1, returns=BOOL)
def _isstr(v):
    return isinstance(v, str) and as_number(v) is None


@function("typeof", 1, returns=STR)
def _typeof(v):
    if v is None:
        return "Invalid"
    if isinstance(v, list):
        return "Multivalue"
    if isinstance(v, bool):
        return "Boolean"
    if as_number(v) is not None:
        return "Number"
    return "String"


@builder("like", 2)
def _like(args, ctx, pos):
    s, p = args[0].fn, args[1].fn
    cache = {}

    def fn(row):
        v, pat = s(row), p(row)
        if v is None or pat is None:
            return None
        pat = _text(pat, "like")
        rx = cache.get(pat) or cache.setdefault(pat, like_regex(pat))
        return any(rx.match(text_of(x)) is not None for x in values_of(v))
    return Node(fn, BOOL, pos)


@builder("match", 2)
def _match(args, ctx, pos):
    s, p = args[0].fn, args[1].fn
    fixed = pcre_to_python(args[1].const, args[1].pos) if args[1].is_const else None

    def fn(row):
        v = s(row)
        rx = fixed
        if rx is None:
            pat = p(row)
            if pat is None:
                return None
            rx = pcre_to_python(_text(pat, "match"))
        if v is None:
            return None
        return any(rx.search(text_of(x)) is not None for x in values_of(v))
    return Node(fn, BOOL, pos)


@lazy_function("in", 2, 200, returns=BOOL)
def _in(row, f, *fns):
    v = f(row)
    if v is None:
        return None
    return any(compare("=", v, g(row)) for g in fns)


@builder("validate", 2, 200)
def _validate(args, ctx, pos):
    if len(args) % 2:
        raise SplError("validate() takes condition/value pairs", pos)
    pairs = [(args[i].fn, args[i + 1].fn) for i in range(0, len(args), 2)]

    def fn(row):
        for c, v in pairs:
            if not truth(c(row)):
                return v(row)
        return None
    return Node(fn, ANY, pos)


@functools.lru_cache(maxsize=65536)
def _ip(text):
    """An address from text, or None (cached: the same addresses recur in every event)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _cidr_net(text, pos=None):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise SplError("cidrmatch(): invalid CIDR %r" % text, pos) from None


@builder("cidrmatch", 2)
def _cidrmatch(args, ctx, pos):
    c, ip = args[0].fn, args[1].fn
    fixed = _cidr_net(args[0].const, args[0].pos) if args[0].is_const else None

    def fn(row):
        net = fixed
        if net is None:
            cv = c(row)
            if cv is None:
                return None
            try:
                net = ipaddress.ip_network(_text(cv, "cidrmatch"), strict=False)
            except ValueError:
                return False
        v = ip(row)
        if v is None:
            return None
        for x in values_of(v):
            addr = _ip(text_of(x).strip())
            if addr is not None and addr.version == net.version and addr in net:
                return True
        return False
    return Node(fn, BOOL, pos)


@builder("searchmatch", 1)
def _searchmatch(args, ctx, pos):
    if not args[0].is_const or not isinstance(args[0].const, str):
        raise SplError("searchmatch() needs a literal search string", pos)
    from .searchexpr import compile_search_text
    pred = compile_search_text(args[0].const, ctx, base=args[0].pos + 1)
    return Node(lambda row: bool(pred(row)), BOOL, pos)


# ---- conversion ----------------------------------------------------------------------

@function("tonumber", 1, 2)
def _tonumber(v, base=None):
    if v is None:
        return None
    s = _text(v, "tonumber").strip()
    if base is not None:
        b = as_number(base)
        try:
            return int(s, int(b))
        except (ValueError, TypeError):
            return None
    n = as_number(s)
    if n is None and re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", s):
        return int(s, 16)
    return n


def _duration(secs):
    secs = int(secs)
    sign = "-" if secs < 0 else ""
    secs = abs(secs)
    days, rem = divmod(secs, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    body = "%02d:%02d:%02d" % (h, m, s)
    return sign + ("%d+%s" % (days, body) if days else body)


@function("tostring", 1, 2, returns=STR)
def _tostring(v, fmt=None):
    if v is None:
        return None
    if isinstance(v, list):
        raise SearchRuntimeError("tostring() got a multivalue value")
    if isinstance(v, bool):
        return "True" if v else "False"
    if fmt is None:
        return render(v)
    fmt = text_of(fmt)
    n = as_number(v)
    if n is None:
        return text_of(v)
    if fmt == "hex":
        return hex(int(n))
    if fmt == "commas":
        if isinstance(n, float) and not n.is_integer():
            return "{:,.2f}".format(n)
        return "{:,}".format(int(n))
    if fmt == "duration":
        return _duration(n)
    raise SearchRuntimeError("tostring(): unsupported format %r" % fmt)


# ---- maths ---------------------------------------------------------------------------

def _math1(name, op):
    @function(name, 1, returns=NUM)
    def f(v):
        n = _num(v, name) if v is not None else None
        if n is None:
            return None
        try:
            return op(n)
        except (ValueError, OverflowError):
            return None
    return f


_math1("abs", abs)
_math1("ceiling", lambda n: int(math.ceil(n)))
_math1("ceil", lambda n: int(math.ceil(n)))
_math1("floor", lambda n: int(math.floor(n)))
_math1("sqrt", math.sqrt)
_math1("exp", math.exp)
_math1("ln", math.log)


@function("log", 1, 2, returns=NUM)
def _log(v, base=None):
    n = _num(v, "log") if v is not None else None
    b = 10 if base is None else _num(base, "log")
    if n is None or b is None or n <= 0:
        return None
    return math.log(n, b)


@function("pow", 2, returns=NUM)
def _pow(a, b):
    x, y = (_num(a, "pow") if a is not None else None), (_num(b, "pow") if b is not None else None)
    if x is None or y is None:
        return None
    try:
        return x ** y
    except (OverflowError, ZeroDivisionError):
        return None


@function("pi", 0, returns=NUM)
def _pi():
    return math.pi


@function("round", 1, 2, returns=NUM)
def _round(v, digits=None):
    n = _num(v, "round") if v is not None else None
    if n is None:
        return None
    d = 0 if digits is None else int(as_number(digits) or 0)
    # half away from zero, as Splunk does
    q = 10 ** d
    r = math.floor(abs(n) * q + 0.5) / q
    r = r if n >= 0 else -r
    return int(r) if d <= 0 else r


def _minmax(name, pick):
    @function(name, 1, 200)
    def f(*vals):
        flat = [x for v in vals for x in values_of(v)]
        if not flat:
            return None
        nums = [as_number(x) for x in flat if as_number(x) is not None]
        strs = [text_of(x) for x in flat if as_number(x) is None]
        # numbers sort before strings: max prefers a string, min prefers a number
        if name == "min":
            return pick(nums) if nums else pick(strs)
        return pick(strs) if strs else pick(nums)
    return f


_minmax("min", min)
_minmax("max", max)


# ---- text ----------------------------------------------------------------------------

@function("len", 1, returns=NUM)
def _len(v):
    return None if v is None else len(_text(v, "len"))


@function("lower", 1, returns=STR)
def _lower(v):
    return None if v is None else _text(v, "lower").lower()


@function("upper", 1, returns=STR)
def _upper(v):
    return None if v is None else _text(v, "upper").upper()


@function("substr", 2, 3, returns=STR)
def _substr(v, start, length=None):
    if v is None or start is None:
        return None
    s = _text(v, "substr")
    st = int(as_number(start) or 0)
    if st > 0:
        i = st - 1
    elif st < 0:
        i = max(0, len(s) + st)
    else:
        i = 0
    if length is None:
        return s[i:]
    ln = int(as_number(length) or 0)
    return s[i:i + max(0, ln)]


def _splunk_repl(repl):
    # Splunk's replacement uses \1..\9 backreferences; make everything else literal
    out = []
    i = 0
    while i < len(repl):
        c = repl[i]
        if c == "\\" and i + 1 < len(repl) and repl[i + 1].isdigit():
            out.append("\\g<%s>" % repl[i + 1])
            i += 2
            continue
        if c == "\\":
            out.append("\\\\")
        else:
            out.append(c)
        i += 1
    return "".join(out)


@builder("replace", 3)
def _replace(args, ctx, pos):
    s, p, r = (a.fn for a in args)
    fixed = pcre_to_python(args[1].const, args[1].pos) if args[1].is_const else None

    def fn(row):
        v, pat, rep = s(row), p(row), r(row)
        if v is None or pat is None or rep is None:
            return None
        rx = fixed or pcre_to_python(_text(pat, "replace"))
        repl = _splunk_repl(_text(rep, "replace"))
        out = [rx.sub(repl, text_of(x)) for x in values_of(v)]
        return normalise(out)
    return Node(fn, STR, pos)


def _trim(name, method):
    @function(name, 1, 2, returns=STR)
    def f(v, chars=None):
        if v is None:
            return None
        return getattr(_text(v, name), method)(
            " \t" if chars is None else text_of(chars))
    return f


_trim("trim", "strip")
_trim("ltrim", "lstrip")
_trim("rtrim", "rstrip")


@function("split", 2)
def _split(v, delim):
    if v is None or delim is None:
        return None
    s = _text(v, "split")
    d = text_of(delim)
    parts = list(s) if d == "" else s.split(d)
    return parts[0] if len(parts) == 1 else parts


@function("urldecode", 1, returns=STR)
def _urldecode(v):
    return None if v is None else urllib.parse.unquote_plus(_text(v, "urldecode"))


def _hash(name, algo):
    @function(name, 1, returns=STR)
    def f(v):
        if v is None:
            return None
        return hashlib.new(algo, _text(v, name).encode("utf-8")).hexdigest()
    return f


_hash("md5", "md5")
_hash("sha1", "sha1")
_hash("sha256", "sha256")
_hash("sha512", "sha512")


@builder("spath", 2)
def _spath_fn(args, ctx, pos):
    from .jsonpath import compile_path, extract
    src, p = args[0].fn, args[1].fn
    fixed = compile_path(args[1].const, args[1].pos) if args[1].is_const else None

    def fn(row):
        v = src(row)
        if v is None:
            return None
        path = fixed
        if path is None:
            pv = p(row)
            if pv is None:
                return None
            path = compile_path(text_of(pv))
        return extract(_text(v, "spath"), path)
    return Node(fn, ANY, pos)


# ---- multivalue ----------------------------------------------------------------------

@function("mvcount", 1, returns=NUM)
def _mvcount(v):
    return None if v is None else len(values_of(v))


@function("mvindex", 2, 3)
def _mvindex(v, start, end=None):
    if v is None or start is None:
        return None
    vals = values_of(v)
    n = len(vals)
    s = int(as_number(start) or 0)
    if s < 0:
        s += n
    if s < 0 or s >= n:
        return None
    if end is None:
        return vals[s]
    e = int(as_number(end) or 0)
    if e < 0:
        e += n
    e = min(e, n - 1)
    if e < s:
        return None
    return normalise(vals[s:e + 1])


@function("mvjoin", 2, returns=STR)
def _mvjoin(v, delim):
    if v is None or delim is None:
        return None
    return text_of(delim).join(text_of(x) for x in values_of(v))


@function("mvappend", 1, 200)
def _mvappend(*vals):
    return normalise([x for v in vals for x in values_of(v)])


@function("mvdedup", 1)
def _mvdedup(v):
    seen = []
    for x in values_of(v):
        if x not in seen:
            seen.append(x)
    return normalise(seen)


@function("mvsort", 1)
def _mvsort(v):
    return normalise(sorted(values_of(v), key=text_of))


@builder("mvfind", 2)
def _mvfind(args, ctx, pos):
    s, p = args[0].fn, args[1].fn
    fixed = pcre_to_python(args[1].const, args[1].pos) if args[1].is_const else None

    def fn(row):
        v = s(row)
        if v is None:
            return None
        rx = fixed or pcre_to_python(_text(p(row), "mvfind"))
        for i, x in enumerate(values_of(v)):
            if rx.search(text_of(x)):
                return i
        return None
    return Node(fn, NUM, pos)


@function("mvzip", 2, 3)
def _mvzip(a, b, delim=None):
    if a is None or b is None:
        return None
    d = "," if delim is None else text_of(delim)
    return normalise([text_of(x) + d + text_of(y) for x, y in zip(values_of(a), values_of(b), strict=False)])


@builder("mvfilter", 1)
def _mvfilter(args, ctx, pos):
    node = args[0]
    name = _single_field(node, pos, "mvfilter")
    f = node.fn

    def fn(row):
        v = row.get(name)
        if v is None:
            return None
        keep = []
        for x in values_of(v):
            probe = dict(row)
            probe[name] = x
            if truth(f(probe)):
                keep.append(x)
        return normalise(keep)
    return Node(fn, ANY, pos)


@builder("mvmap", 2)
def _mvmap(args, ctx, pos):
    if args[0].field is None:
        raise SplError("mvmap() takes a field as its first argument", pos)
    name = args[0].field
    f = args[1].fn

    def fn(row):
        v = row.get(name)
        if v is None:
            return None
        out = []
        for x in values_of(v):
            probe = dict(row)
            probe[name] = x
            out.extend(values_of(f(probe)))
        return normalise(out)
    return Node(fn, ANY, pos)


def _single_field(node, pos, fname):
    names = node.fields
    if names is None:
        raise SplError("%s(): could not determine the field the expression filters" % fname, pos)
    if len(names) != 1:
        raise SplError("%s() expression must reference exactly one field, got %s"
                       % (fname, sorted(names) or "none"), pos)
    return next(iter(names))


# ---- time ----------------------------------------------------------------------------

@builder("now", 0)
def _now(args, ctx, pos):
    return Node(lambda row: ctx.now, NUM, pos)


@builder("time", 0)
def _time(args, ctx, pos):
    return Node(lambda row: ctx.now, NUM, pos)


@function("relative_time", 2, returns=NUM)
def _relative_time(t, spec):
    if t is None or spec is None:
        return None
    n = as_number(single(t, "relative_time()"))
    if n is None:
        return None
    r = timeutil.relative_time(n, text_of(spec))
    if r is None:
        raise SearchRuntimeError("relative_time(): invalid time modifier %r" % spec)
    return int(r) if float(r).is_integer() else r


@builder("strftime", 2)
def _strftime(args, ctx, pos):
    t, f = args[0].fn, args[1].fn
    if args[1].is_const:
        timeutil.strftime(0, args[1].const)  # validate directives at parse time

    def fn(row):
        v, fmt = t(row), f(row)
        if v is None or fmt is None:
            return None
        n = as_number(single(v, "strftime()"))
        if n is None:
            return None
        return timeutil.strftime(n, text_of(fmt))
    return Node(fn, STR, pos)


@builder("strptime", 2)
def _strptime(args, ctx, pos):
    s, f = args[0].fn, args[1].fn
    if args[1].is_const:
        timeutil._compile_ptime(args[1].const)

    def fn(row):
        v, fmt = s(row), f(row)
        if v is None or fmt is None:
            return None
        return timeutil.strptime(_text(v, "strptime"), text_of(fmt))
    return Node(fn, NUM, pos)
