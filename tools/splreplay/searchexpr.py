"""The search language: the ``search`` command, eventtype definitions, ``searchmatch()``.

Semantics implemented (Splunk's documented behaviour):
- terms are ANDed implicitly; ``OR`` binds tighter than ``AND`` (``a b OR c`` is
  ``a AND (b OR c)``); ``NOT`` binds tightest; operators must be upper case;
- ``field=value`` matches case-insensitively, ``*`` is a wildcard, a multivalue field
  matches when any value matches, a missing field never matches;
- ``field!=value`` needs the field to exist: true when some value does not match
  (``NOT field=value`` is also true when the field is missing);
- ``<``, ``<=``, ``>``, ``>=`` compare numerically when both sides are numbers;
- ``field IN (a, b*, "c d")``;
- a bare word or quoted phrase matches the raw event case-insensitively as a whole term
  (not inside a longer alphanumeric run), ``*`` a wildcard;
- ``earliest=``/``latest=`` time modifiers (``-1h@h``, ``@d``, epoch, ``now``) resolve
  against ``--now``; only at the top level of the first search;
- ``index=<name>``: an event written by ``collect`` carries its summary index and matches
  only an index term naming it; replayed CloudTrail and other files have no index and match
  every index term except one naming only indexes ``collect`` wrote. An index term cannot
  be negated.
- Every compiled predicate also carries ``lispy``: what the indexers could prune with (see
  :func:`prefilter`), used to count the events a search reads from the index.
Refused: subsearches, ``TERM()``, ``CASE()``, ``==``, wildcarded field names, lower-case
``and``/``or``/``not`` (ambiguous), time modifiers anywhere else.
"""
import re

from . import timeutil
from .errors import SplError, Unsupported
from .lexer import EOF, tokenize_search
from .values import as_number, text_of, values_of

_TIME_FIELDS = {"earliest", "latest"}
_REFUSED_TIME = {"_index_earliest", "_index_latest", "starttime", "endtime", "starttimeu",
                 "endtimeu", "starthoursago", "endhoursago", "startdaysago", "enddaysago",
                 "startminutesago", "endminutesago", "startmonthsago", "endmonthsago",
                 "timeformat", "searchtimespanhours", "searchtimespanminutes",
                 "searchtimespandays", "searchtimespanmonths", "minutesago", "hoursago",
                 "daysago"}


def _unescape(text):
    """Backslash escapes in search values: \\* is a literal asterisk."""
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\\*" if nxt == "*" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def wildcard_regex(pattern, anchored=True):
    """Search pattern (``*`` wildcard, ``\\*`` literal) -> compiled case-insensitive regex."""
    parts = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] == "*":
            parts.append(re.escape("*"))
            i += 2
            continue
        parts.append(".*" if c == "*" else re.escape(c))
        i += 1
    body = "".join(parts)
    if anchored:
        return re.compile(body + r"\Z", re.I | re.S)
    return re.compile(body, re.I | re.S)


def value_matcher(pattern):
    """-> fn(text) -> bool, case-insensitive, with wildcards."""
    if "*" not in pattern:
        low = pattern.replace("\\*", "*").lower()
        return lambda s: s.lower() == low
    rx = wildcard_regex(pattern)
    return lambda s: rx.match(s) is not None


def term_matcher(term):
    """A keyword/phrase against _raw: case-insensitive, whole-term boundaries."""
    rx_body = wildcard_regex(term, anchored=False).pattern
    left = "" if term.startswith("*") or not term[:1].isalnum() else r"(?<![A-Za-z0-9])"
    right = "" if term.endswith("*") or not term[-1:].isalnum() else r"(?![A-Za-z0-9])"
    rx = re.compile(left + rx_body + right, re.I | re.S)
    return lambda raw: rx.search(raw) is not None


class SearchFilter:
    """A compiled search expression: ``pred(row)`` plus optional time bounds (specs)."""

    def __init__(self, pred, earliest=None, latest=None):
        self.pred = pred
        self.earliest = earliest
        self.latest = latest


class _Parser:
    def __init__(self, text, ctx, base, allow_time):
        self.toks = tokenize_search(text, base)
        self.i = 0
        self.ctx = ctx
        self.allow_time = allow_time
        self.earliest = None
        self.latest = None

    @property
    def tok(self):
        return self.toks[self.i]

    def peek(self, k=1):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else self.toks[-1]

    def advance(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_kw(self, name):
        t = self.tok
        return t.kind == "word" and t.value == name

    def parse(self):
        if self.tok.kind == EOF:
            return _with(lambda row: True, ALL)
        pred = self.parse_and(top=True)
        if self.tok.kind != EOF:
            t = self.tok
            raise SplError("unexpected %r in search" % (t.value,), t.pos)
        return pred

    def parse_and(self, top=False):
        preds = []
        while True:
            t = self.tok
            if t.kind == EOF or t.is_op(")"):
                break
            if self.is_kw("AND"):
                self.advance()
                continue
            p = self.parse_or(top)
            if p is not None:
                preds.append(p)
        if not preds:
            return _with(lambda row: True, ALL)
        if len(preds) == 1:
            return preds[0]
        return _with(lambda row: all(p(row) for p in preds), _and(preds))

    def parse_or(self, top):
        first = self.parse_not(top)
        alts = [first]
        while self.is_kw("OR"):
            t = self.advance()
            nxt = self.parse_not(False)
            alts.append(nxt)
            if any(a is None for a in alts):
                raise Unsupported("time modifiers cannot be combined with OR", t.pos)
        if len(alts) == 1:
            return first
        return _with(lambda row: any(a(row) for a in alts), _or(alts))

    def parse_not(self, top):
        t = self.tok
        if self.is_kw("NOT"):
            self.advance()
            inner = self.parse_not(False)
            if inner is None:
                raise Unsupported("time modifiers cannot be negated", t.pos)
            if getattr(inner, "lispy", ALL)[0] == "meta" and inner.lispy[1] == "index":
                raise Unsupported("index terms cannot be negated in splreplay", t.pos)
            return _with(lambda row: not inner(row), ALL)
        return self.parse_primary(top)

    def parse_primary(self, top):
        t = self.tok
        if t.kind == EOF:
            raise SplError("search expression ends too early", t.pos)
        if t.is_op("("):
            self.advance()
            inner = self.parse_and(False)
            if not self.tok.is_op(")"):
                raise SplError("missing ')' in search", self.tok.pos)
            self.advance()
            return inner
        if t.is_op("["):
            raise Unsupported("subsearches ([...]) are not implemented by splreplay", t.pos)
        if t.kind == "op":
            raise SplError("unexpected %r in search" % t.value, t.pos)
        if t.kind == "word" and t.value in ("and", "or", "not"):
            raise Unsupported("lower-case %r is a search term in Splunk, not an operator; "
                              "write %s, or quote it to search for the word"
                              % (t.value, t.value.upper()), t.pos)
        if t.kind == "word" and self.peek().is_op("(") and t.value.upper() in ("TERM", "CASE"):
            raise Unsupported("%s() is not implemented by splreplay" % t.value.upper(), t.pos)
        nxt = self.peek()
        if t.kind == "word" and nxt.kind == "op" and nxt.value in ("=", "!=", "<", "<=", ">",
                                                                   ">=", "=="):
            return self.parse_comparison(top)
        if t.kind == "word" and nxt.kind == "word" and nxt.value == "IN" \
                and self.peek(2).is_op("("):
            return self.parse_in()
        self.advance()
        if t.kind == "word" and "=" in t.value:
            raise SplError("unexpected %r in search" % t.value, t.pos)
        text = t.value if t.kind == "str" else _unescape_keep_star(t.value)
        if text == "*":
            return _with(lambda row: True, ALL)
        m = term_matcher(text)
        return _with(lambda row: m(text_of(row.get("_raw", ""))), _term(text))

    def parse_value(self):
        t = self.tok
        if t.kind in ("word", "str"):
            self.advance()
            return t.value if t.kind == "str" else _unescape_keep_star(t.value), t
        raise SplError("expected a value", t.pos)

    def parse_in(self):
        ft = self.advance()
        field = ft.value
        self._check_field(ft)
        self.advance()  # IN
        self.advance()  # (
        matchers = []
        vals = []
        while True:
            t = self.tok
            if t.is_op(")"):
                self.advance()
                break
            if t.is_op(","):
                self.advance()
                continue
            if t.kind == EOF:
                raise SplError("missing ')' after IN list", t.pos)
            val, _ = self.parse_value()
            vals.append(val)
            matchers.append(value_matcher(val))
        if not matchers:
            raise SplError("empty IN list", ft.pos)
        if field == "index":
            p = _index_pred(vals, getattr(self.ctx, "app", None))
            return _with(p, ("meta", "index", p))

        def pred(row):
            v = row.get(field)
            if v is None:
                return False
            for x in values_of(v):
                s = text_of(x)
                for m in matchers:
                    if m(s):
                        return True
            return False
        return _with(pred, self._field_lispy(field, vals))

    def _field_lispy(self, field, vals):
        """What the index can prune ``field=value`` (or ``field IN (...)``) with.

        Splunk turns a search-time field's value into index terms (the value must appear in
        the raw event); it cannot for a field computed at search time (calculated fields,
        aliases, automatic lookup outputs, eventtypes and tags), nor for ``field=*``. Metadata
        fields (sourcetype, source, host) select exactly."""
        if field in ("sourcetype", "source", "host"):
            ms = [value_matcher(v) for v in vals]
            if not ms:
                return ALL
            return ("meta", field, lambda row: any(m(text_of(row.get(field, ""))) for m in ms))
        derived = getattr(self.ctx.app, "derived_fields", None) if self.ctx else None
        if not vals or (derived is not None and _derived(field, derived())):
            return ALL
        return _any_of([_term(v) for v in vals])

    def _check_field(self, t):
        if "*" in t.value:
            raise Unsupported("wildcarded field names in search are not implemented", t.pos)
        low = t.value.lower()
        if low in _REFUSED_TIME:
            raise Unsupported("time modifier %s is not implemented by splreplay" % t.value, t.pos)

    def parse_comparison(self, top):
        ft = self.advance()
        op_tok = self.advance()
        op = op_tok.value
        field = ft.value
        self._check_field(ft)
        if op == "==":
            raise SplError("'==' is not a search operator (use '=' in search, '==' in eval)",
                           op_tok.pos)
        if self.tok.kind not in ("word", "str"):
            raise SplError("expected a value after %s%s" % (field, op), self.tok.pos)
        val, vt = self.parse_value()
        if field.lower() in _TIME_FIELDS:
            if op != "=":
                raise SplError("%s takes '='" % field, op_tok.pos)
            if not (self.allow_time and top):
                raise Unsupported("time modifier %s= is only supported at the top level of the "
                                  "first search" % field, ft.pos)
            if timeutil.relative_time(0, val) is None:
                raise SplError("invalid time modifier %s=%s" % (field, val), vt.pos)
            if field.lower() == "earliest":
                self.earliest = val
            else:
                self.latest = val
            return None
        if field == "index":
            if op != "=":
                raise Unsupported("index%s is not supported (only index=<name>)"
                                  % op, op_tok.pos)
            p = _index_pred([val], getattr(self.ctx, "app", None))
            return _with(p, ("meta", "index", p))
        if op == "=":
            if val == "*":
                return _with(lambda row: row.get(field) is not None,
                             self._field_lispy(field, []))
            m = value_matcher(val)

            def eq(row):
                v = row.get(field)
                if v is None:
                    return False
                if isinstance(v, list):
                    return any(m(text_of(x)) for x in v)
                return m(v if isinstance(v, str) else text_of(v))
            return _with(eq, self._field_lispy(field, [val]))
        if op == "!=":
            m = value_matcher(val)

            def ne(row):
                v = row.get(field)
                if v is None:
                    return False
                return any(not m(text_of(x)) for x in values_of(v))
            return _with(ne, ALL)
        num = as_number(val)

        def cmp(row):
            v = row.get(field)
            if v is None:
                return False
            for x in values_of(v):
                nx = as_number(x)
                if num is not None and nx is not None:
                    a, b = nx, num
                else:
                    a, b = text_of(x), val
                if (op == "<" and a < b) or (op == "<=" and a <= b) or \
                        (op == ">" and a > b) or (op == ">=" and a >= b):
                    return True
            return False
        return _with(cmp, ALL)


ALL = ("all",)
_SAFE_TERM = re.compile(r"^[\x20-\x7e]*$")


def _with(pred, lispy):
    pred.lispy = lispy
    return pred


def _term(text):
    """A term the raw event must contain: the literal pieces between wildcards, each
    case-insensitively as a substring (a looser test than Splunk's segment match, so the
    count of events read errs high, never low). Text that JSON would escape prunes nothing."""
    if not _SAFE_TERM.match(text) or '"' in text or "\\" in text:
        return ALL
    pieces = [p.lower() for p in text.split("*") if p]
    return ("term", pieces) if pieces else ALL


def _and(preds):
    parts = [p.lispy for p in preds if getattr(p, "lispy", ALL) != ALL]
    if not parts:
        return ALL
    return parts[0] if len(parts) == 1 else ("and", parts)


def _or(preds):
    return _any_of([getattr(p, "lispy", ALL) for p in preds])


def _any_of(parts):
    if not parts or any(x == ALL for x in parts):
        return ALL
    return parts[0] if len(parts) == 1 else ("or", parts)


def has_terms(lispy):
    """Does ``lispy`` name a raw-text term anywhere (not only metadata such as sourcetype)?"""
    if lispy is None or lispy[0] == "all" or lispy[0] == "meta":
        return False
    if lispy[0] == "term":
        return True
    return any(has_terms(x) for x in lispy[1])


def _derived(field, derived):
    return field in derived or field.startswith("tag::")


def _index_pred(values, app):
    """An index term. Replayed files have no index: they match any index term except one
    naming only summary indexes (those ``collect`` writes)."""
    matchers = [value_matcher(v) for v in values]
    names = [v.lower() for v in values]

    def pred(row):
        idx = row.get("index")
        if idx is None:
            summaries = app.indexes.names if app is not None else ()
            return any(n not in summaries for n in names)
        return any(m(text_of(idx)) for m in matchers)
    return pred


def prefilter(lispy, event):
    """Would the indexers read ``event`` for a search whose first command has ``lispy``?
    True for every event the search's filter keeps (and for more)."""
    return compile_prefilter(lispy)(event, term_test(event))


def term_test(event):
    """-> ``has(pieces)``: does the lower-cased raw event hold every piece? Each distinct
    ``pieces`` is answered once per event, however many searches ask."""
    found = {}
    low = []

    def has(pieces):
        r = found.get(pieces)
        if r is None:
            if not low:
                low.append(text_of(event.get("_raw", "")).lower())
            r = found[pieces] = all(p in low[0] for p in pieces)
        return r
    return has


def compile_prefilter(lispy):
    """``lispy`` -> ``fn(event, has)`` (``has`` from :func:`term_test`): the test of
    :func:`prefilter`, compiled once per search."""
    kind = lispy[0]
    if kind == "all":
        return lambda event, has: True
    if kind in ("and", "or"):
        fns = [compile_prefilter(x) for x in lispy[1]]
        if kind == "and":
            return lambda event, has: all(f(event, has) for f in fns)
        return lambda event, has: any(f(event, has) for f in fns)
    if kind == "meta":
        meta = lispy[2]
        return lambda event, has: bool(meta(event))
    pieces = tuple(lispy[1])
    return lambda event, has: has(pieces)


def _unescape_keep_star(text):
    return _unescape(text)


def compile_search(text, ctx, base=0, allow_time=False):
    """Compile search-language text -> SearchFilter."""
    parser = _Parser(text, ctx, base, allow_time)
    pred = parser.parse()
    flt = SearchFilter(pred, parser.earliest, parser.latest)
    flt.lispy = getattr(pred, "lispy", ALL)
    return flt


def compile_search_text(text, ctx, base=0):
    """Compile without time modifiers -> predicate."""
    return compile_search(text, ctx, base).pred
