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
- ``index=<anything>`` selects all replayed events (they have no index); it cannot be
  negated.
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
            return lambda row: True
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
            return lambda row: True
        if len(preds) == 1:
            return preds[0]
        return lambda row: all(p(row) for p in preds)

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
        return lambda row: any(a(row) for a in alts)

    def parse_not(self, top):
        t = self.tok
        if self.is_kw("NOT"):
            self.advance()
            inner = self.parse_not(False)
            if inner is None:
                raise Unsupported("time modifiers cannot be negated", t.pos)
            if getattr(inner, "_index_term", False):
                raise Unsupported("index terms cannot be negated in splreplay (the replayed "
                                  "events have no index)", t.pos)
            return lambda row: not inner(row)
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
            return lambda row: True
        m = term_matcher(text)
        return lambda row: m(text_of(row.get("_raw", "")))

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
            matchers.append(value_matcher(val))
        if not matchers:
            raise SplError("empty IN list", ft.pos)
        if field == "index":
            p = lambda row: True  # noqa: E731
            p._index_term = True
            return p

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
        return pred

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
                raise Unsupported("index%s is not supported (replayed events have no index)"
                                  % op, op_tok.pos)
            p = lambda row: True  # noqa: E731
            p._index_term = True
            return p
        if op == "=":
            if val == "*":
                return lambda row: row.get(field) is not None
            m = value_matcher(val)

            def eq(row):
                v = row.get(field)
                if v is None:
                    return False
                if isinstance(v, list):
                    return any(m(text_of(x)) for x in v)
                return m(v if isinstance(v, str) else text_of(v))
            return eq
        if op == "!=":
            m = value_matcher(val)

            def ne(row):
                v = row.get(field)
                if v is None:
                    return False
                return any(not m(text_of(x)) for x in values_of(v))
            return ne
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
        return cmp


def _unescape_keep_star(text):
    return _unescape(text)


def compile_search(text, ctx, base=0, allow_time=False):
    """Compile search-language text -> SearchFilter."""
    parser = _Parser(text, ctx, base, allow_time)
    pred = parser.parse()
    return SearchFilter(pred, parser.earliest, parser.latest)


def compile_search_text(text, ctx, base=0):
    """Compile without time modifiers -> predicate."""
    return compile_search(text, ctx, base).pred
