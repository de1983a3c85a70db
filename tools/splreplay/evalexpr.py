"""The eval expression language (used by eval, where, stats ``eval(...)`` and props EVAL-).

Parsing produces a tree of closures ``fn(row) -> value``; each node also has a static
type ('bool', 'num', 'str' or 'any') used for Splunk's type checks ("Typechecking failed",
"Fields cannot be assigned a boolean result").

Semantics (Splunk's documented behaviour):
- a missing field is null; arithmetic, concatenation and comparison with null give null;
  ``AND``/``OR``/``NOT``/``XOR`` use three-valued logic; ``where`` keeps only true;
- field values that look like numbers are numbers; ``+`` concatenates two non-numeric
  strings; ``.`` always concatenates text;
- ``=``/``==``/``!=``/``<``... compare numerically when both sides are numeric, otherwise
  as case-sensitive text; against a multivalue field a comparison is true when any value
  satisfies it;
- ``LIKE`` uses ``%`` and ``_`` wildcards (case-sensitive); ``x IN (a, b)``;
- field names with characters other than letters, digits and ``_`` must be single-quoted
  (``'userIdentity.arn'``); an unquoted ``a.b`` is refused because Splunk reads it as the
  concatenation of fields ``a`` and ``b``.
"""
import operator
import re

from .errors import SearchRuntimeError, SplError, Unsupported
from .lexer import EOF, tokenize_eval
from .values import as_number, text_of, values_of

BOOL, NUM, STR, ANY = "bool", "num", "str", "any"

_KEYWORDS = {"AND", "OR", "NOT", "XOR", "LIKE", "IN"}


class Node:
    __slots__ = ("fn", "type", "pos", "field", "const", "is_const", "fields")

    def __init__(self, fn, typ, pos, field=None, const=None, is_const=False):
        self.fields = None  # field names referenced (set on function arguments)
        self.fn = fn
        self.type = typ
        self.pos = pos
        self.field = field  # name when this node is a bare field reference
        self.const = const
        self.is_const = is_const


def const_node(value, typ, pos):
    return Node(lambda row: value, typ, pos, const=value, is_const=True)


def single(value, what):
    """A value used where Splunk needs one value; multivalue is refused at run time."""
    if isinstance(value, list):
        raise SearchRuntimeError(
            "%s got a multivalue value %r; splreplay refuses implicit multivalue use "
            "(pick a value with mvindex(), or join with mvjoin())" % (what, value[:5]))
    return value


def truth(value):
    """Condition value -> True/False/None (None = null)."""
    if value is None or isinstance(value, bool):
        return value
    raise SearchRuntimeError("a condition evaluated to the non-boolean value %r" % (value,))


_ORDER = {"=": operator.eq, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
          "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def compare(op, a, b):
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    if ta is list or tb is list:
        for x in values_of(a):
            for y in values_of(b):
                if compare(op, x, y):
                    return True
        return False
    if ta is bool or tb is bool:
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        raise SearchRuntimeError("cannot order boolean values with %s" % op)
    na = as_number(a)
    nb = as_number(b)
    if na is not None and nb is not None:
        return _ORDER[op](na, nb)
    return _ORDER[op](a if ta is str else text_of(a), b if tb is str else text_of(b))


def like_regex(pattern):
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.S)


def pcre_to_python(pattern, pos=None):
    """Compile a PCRE-style regex with Python's re (named groups ``(?<n>...)`` converted)."""
    converted = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)
    try:
        return re.compile(converted)
    except re.error as exc:
        raise Unsupported("regular expression %r is not supported by splreplay (%s)"
                          % (pattern, exc), pos) from None


class EvalParser:
    def __init__(self, text, ctx, base=0):
        self.text = text
        self.ctx = ctx
        self.toks = tokenize_eval(text, base)
        self.i = 0
        self.refs = []  # every field name referenced, in order
        self.uses_now = False  # now()/time(): the value depends on the run's time too
        self.volatile = False  # searchmatch(): reads fields the expression does not name

    # -- helpers
    @property
    def tok(self):
        return self.toks[self.i]

    def advance(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def kw(self, name):
        t = self.tok
        return t.kind == "word" and t.value == name

    def expect_op(self, op):
        t = self.tok
        if not t.is_op(op):
            raise SplError("expected %r in eval expression" % op, t.pos)
        return self.advance()

    def at_end(self):
        return self.tok.kind == EOF

    # -- grammar
    def parse(self):
        node = self.parse_or()
        if not self.at_end():
            self.refuse_lowercase_keyword()
            raise SplError("unexpected %r in eval expression" % (self.tok.value,), self.tok.pos)
        return node

    def refuse_lowercase_keyword(self):
        t = self.tok
        if t.kind == "word" and t.value.upper() in _KEYWORDS and t.value != t.value.upper():
            raise Unsupported("lower-case %r: write the operator in upper case (%s)"
                              % (t.value, t.value.upper()), t.pos)

    def need_bool(self, node, op):
        if node.type in (NUM, STR) or node.field is not None:
            raise SplError("Typechecking failed: '%s' only takes boolean arguments" % op, node.pos)

    def parse_or(self):
        left = self.parse_and()
        while self.kw("OR") or self.kw("XOR"):
            op = self.advance().value
            right = self.parse_and()
            self.need_bool(left, op)
            self.need_bool(right, op)
            lf, rf = left.fn, right.fn
            if op == "OR":
                def fn(row, lf=lf, rf=rf):
                    a = truth(lf(row))
                    if a is True:
                        return True
                    b = truth(rf(row))
                    if b is True:
                        return True
                    if a is None or b is None:
                        return None
                    return False
            else:
                def fn(row, lf=lf, rf=rf):
                    a = truth(lf(row))
                    b = truth(rf(row))
                    if a is None or b is None:
                        return None
                    return a != b
            left = Node(fn, BOOL, left.pos)
        return left

    def parse_and(self):
        left = self.parse_not()
        while self.kw("AND"):
            self.advance()
            right = self.parse_not()
            self.need_bool(left, "AND")
            self.need_bool(right, "AND")
            lf, rf = left.fn, right.fn

            def fn(row, lf=lf, rf=rf):
                a = truth(lf(row))
                if a is False:
                    return False
                b = truth(rf(row))
                if b is False:
                    return False
                if a is None or b is None:
                    return None
                return True
            left = Node(fn, BOOL, left.pos)
        return left

    def parse_not(self):
        if self.kw("NOT"):
            t = self.advance()
            inner = self.parse_not()
            self.need_bool(inner, "NOT")
            f = inner.fn

            def fn(row):
                v = truth(f(row))
                return None if v is None else not v
            return Node(fn, BOOL, t.pos)
        return self.parse_cmp()

    def parse_cmp(self):
        left = self.parse_add()
        t = self.tok
        if t.kind == "op" and t.value in ("=", "==", "!=", "<", "<=", ">", ">="):
            op = self.advance().value
            right = self.parse_add()
            lf, rf = left.fn, right.fn
            return Node(lambda row: compare(op, lf(row), rf(row)), BOOL, left.pos)
        if self.kw("LIKE"):
            self.advance()
            right = self.parse_add()
            return Node(make_like(left, right), BOOL, left.pos)
        if self.kw("IN"):
            self.advance()
            self.expect_op("(")
            items = [self.parse_or()]
            while self.tok.is_op(","):
                self.advance()
                items.append(self.parse_or())
            self.expect_op(")")
            lf = left.fn
            fns = [n.fn for n in items]

            def fn(row):
                v = lf(row)
                if v is None:
                    return None
                return any(compare("=", v, f(row)) for f in fns)
            return Node(fn, BOOL, left.pos)
        return left

    def parse_add(self):
        left = self.parse_mul()
        while self.tok.kind == "op" and self.tok.value in ("+", "-", "."):
            op_tok = self.advance()
            op = op_tok.value
            right = self.parse_mul()
            left = Node(make_arith(op, left.fn, right.fn),
                        STR if op == "." else (NUM if op == "-" else ANY), left.pos)
        return left

    def parse_mul(self):
        left = self.parse_unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/", "%"):
            op = self.advance().value
            right = self.parse_unary()
            left = Node(make_arith(op, left.fn, right.fn), NUM, left.pos)
        return left

    def parse_unary(self):
        if self.tok.is_op("-"):
            t = self.advance()
            inner = self.parse_unary()
            f = inner.fn

            def fn(row):
                v = f(row)
                n = as_number(single(v, "unary minus")) if v is not None else None
                return None if n is None else -n
            return Node(fn, NUM, t.pos)
        if self.tok.is_op("+"):
            self.advance()
            return self.parse_unary()
        return self.parse_primary()

    def parse_primary(self):
        t = self.tok
        if t.kind == "num":
            self.advance()
            v = float(t.value) if any(c in t.value for c in ".eE") else int(t.value)
            return const_node(v, NUM, t.pos)
        if t.kind == "str":
            self.advance()
            return const_node(t.value, STR, t.pos)
        if t.kind == "sq":
            self.advance()
            self.refs.append(t.value)
            return field_node(t.value, t.pos)
        if t.is_op("("):
            self.advance()
            inner = self.parse_or()
            self.expect_op(")")
            return inner
        if t.kind == "word":
            if t.value in _KEYWORDS:
                raise SplError("unexpected keyword %s in eval expression" % t.value, t.pos)
            self.advance()
            if self.tok.is_op("("):
                return self.parse_call(t)
            if t.value.upper() in _KEYWORDS and t.value != t.value.upper():
                raise Unsupported("lower-case %r: write the operator in upper case (%s) or "
                                  "single-quote the field name" % (t.value, t.value.upper()),
                                  t.pos)
            nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
            if self.tok.is_op(".") and self.tok.pos == t.end and nxt is not None \
                    and nxt.kind in ("word", "num") and nxt.pos == self.tok.end:
                raise Unsupported(
                    "ambiguous %s.%s: Splunk reads this as the concatenation of two fields; "
                    "single-quote a field name containing dots: '%s.%s'"
                    % (t.value, nxt.value, t.value, nxt.value), t.pos)
            self.refs.append(t.value)
            return field_node(t.value, t.pos)
        if t.kind == EOF:
            raise SplError("eval expression ends too early", t.pos)
        raise SplError("unexpected %r in eval expression" % (t.value,), t.pos)

    def parse_call(self, name_tok):
        from .evalfuncs import FUNCTIONS
        name = name_tok.value
        spec = FUNCTIONS.get(name)
        if name in ("now", "time"):
            self.uses_now = True
        elif name == "searchmatch":
            self.volatile = True
        if spec is None:
            raise Unsupported("eval function %s() is not implemented by splreplay" % name,
                              name_tok.pos)
        self.expect_op("(")
        args = []

        def one_arg():
            start = len(self.refs)
            node = self.parse_or()
            node.fields = set(self.refs[start:])
            args.append(node)
        if not self.tok.is_op(")"):
            one_arg()
            while self.tok.is_op(","):
                self.advance()
                one_arg()
        self.expect_op(")")
        if not (spec.min_args <= len(args) <= spec.max_args):
            want = str(spec.min_args) if spec.min_args == spec.max_args else \
                "%d to %s" % (spec.min_args, "any" if spec.max_args > 99 else spec.max_args)
            raise SplError("%s() takes %s argument(s), got %d" % (name, want, len(args)),
                           name_tok.pos)
        return spec.build(args, self.ctx, name_tok.pos)


def field_node(name, pos):
    return Node(lambda row: row.get(name), ANY, pos, field=name)


def make_like(left, right):
    lf, rf = left.fn, right.fn
    cache = {}

    def fn(row):
        v = lf(row)
        p = rf(row)
        if v is None or p is None:
            return None
        p = text_of(single(p, "LIKE pattern"))
        rx = cache.get(p)
        if rx is None:
            rx = cache[p] = like_regex(p)
        return any(rx.match(text_of(x)) is not None for x in values_of(v))
    return fn


def make_arith(op, lf, rf):
    def fn(row):
        a = lf(row)
        b = rf(row)
        if a is None or b is None:
            return None
        a = single(a, "operator %s" % op)
        b = single(b, "operator %s" % op)
        if op == ".":
            return text_of(a) + text_of(b)
        na = as_number(a)
        nb = as_number(b)
        if op == "+" and (na is None or nb is None):
            if isinstance(a, str) and isinstance(b, str):
                return a + b
            return None
        if na is None or nb is None:
            return None
        if op == "+":
            return na + nb
        if op == "-":
            return na - nb
        if op == "*":
            return na * nb
        if op == "/":
            if nb == 0:
                return None
            r = na / nb
            return int(r) if isinstance(na, int) and isinstance(nb, int) and na % nb == 0 else r
        if op == "%":
            if nb == 0:
                return None
            return na % nb
        raise AssertionError(op)
    return fn


_MISS = object()
_MEMO_SIZE = 4096


def _memo_key(v):
    """A field value as a dictionary key that tells 1, 1.0, True and "1" apart."""
    t = type(v)
    if t is str or v is None:
        return v
    if t is list:
        return tuple([_memo_key(x) for x in v])
    return (t, v)


def memoized(fn, names, parser):
    """``fn`` (an expression's closure) remembering its value for the values of the fields
    it reads: the value of an expression depends only on those (and on ``now()``), and field
    values repeat across events (users, event names, accounts), so most rows are answered
    from the memo. An expression whose memo hits less often than it misses stops using it.
    Errors are not remembered (raised again for every row)."""
    if parser.volatile:
        return fn
    names = tuple(dict.fromkeys(names))
    ctx = parser.ctx if parser.uses_now else None
    cache = {}
    state = [0, True]  # hits, in use

    def memo(row):
        if not state[1]:
            return fn(row)
        if len(names) == 1 and ctx is None:
            v = row.get(names[0])
            key = v if v is None or type(v) is str else _memo_key(v)
        else:
            key = tuple([_memo_key(row.get(n)) for n in names])
            if ctx is not None:
                key = (ctx.now, key)
        r = cache.get(key, _MISS)
        if r is _MISS:
            if len(cache) >= _MEMO_SIZE:
                if state[0] < len(cache):
                    state[1] = False
                cache.clear()
                state[0] = 0
            r = cache[key] = fn(row)
        else:
            state[0] += 1
        return list(r) if type(r) is list else r
    return memo


def parse_eval(text, ctx, base=0):
    """Parse an eval expression -> Node (positions offset by ``base``)."""
    parser = EvalParser(text, ctx, base)
    node = parser.parse()
    node.fn = memoized(node.fn, parser.refs, parser)
    return node


def parse_assignments(text, ctx, base=0):
    """``eval`` arguments: ``name = expr [, name = expr]...`` -> [(name, Node)]."""
    parser = EvalParser(text, ctx, base)
    out = []
    while True:
        t = parser.tok
        if t.kind in ("word", "sq"):
            name = t.value
        elif t.kind == "str":
            name = t.value
        else:
            raise SplError("eval expects 'field = expression'", t.pos)
        parser.advance()
        # a dotted target like a.b=... is tokenized as a . b; accept it as a field name
        while parser.tok.is_op(".") and parser.toks[parser.i + 1].kind == "word" \
                and parser.tok.pos == parser.toks[parser.i - 1].end:
            parser.advance()
            name += "." + parser.advance().value
        if not parser.tok.is_op("="):
            raise SplError("eval expects 'field = expression' after %r" % name, parser.tok.pos)
        parser.advance()
        start = len(parser.refs)
        node = parser.parse_or()
        node.fn = memoized(node.fn, parser.refs[start:], parser)
        if node.type == BOOL:
            raise SplError("Fields cannot be assigned a boolean result. Instead, try "
                           "if([bool expr], [expr], [expr])", node.pos)
        out.append((name, node))
        if parser.tok.is_op(","):
            parser.advance()
            continue
        if parser.at_end():
            return out
        parser.refuse_lowercase_keyword()
        raise SplError("unexpected %r in eval (separate assignments with commas)"
                       % (parser.tok.value,), parser.tok.pos)


def assign_value(value, name):
    if isinstance(value, bool):
        raise SearchRuntimeError("Fields cannot be assigned a boolean result (field %r)" % name)
    return value
