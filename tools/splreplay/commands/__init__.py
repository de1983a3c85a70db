"""SPL commands: the registry. Adding one is a small class plus its conformance tests.

A command class is registered with ``@command("name", ...aliases)``. It is built from its
argument text (``__init__(self, args, ctx)`` with an :class:`Args` reader) and run with
``run(rows) -> rows`` (lists of dicts). ``generating = True`` marks commands that start a
search (``| inputlookup ...``). Any command not registered is refused with its name and
position. Options a command does not implement are refused by :meth:`Args.options`.
"""
from ..errors import SplError, Unsupported
from ..lexer import EOF, tokenize_search

COMMANDS = {}


def command(*names):
    def deco(cls):
        for n in names:
            COMMANDS[n] = cls
        cls.name = names[0]
        return cls
    return deco


class Command:
    name = "?"
    generating = False

    def run(self, rows):
        raise NotImplementedError


class Args:
    """Token reader over one command's arguments (search-mode tokens)."""

    def __init__(self, cmd_name, text, base, full_text):
        self.cmd = cmd_name
        self.text = text
        self.base = base
        self.full_text = full_text
        self.toks = tokenize_search(text, base)
        self.i = 0

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

    def at_end(self):
        return self.tok.kind == EOF

    def raw_rest(self):
        """The remaining argument text (for expression-taking commands)."""
        return self.text[self.tok.pos - self.base:], self.tok.pos

    def error(self, message, tok=None):
        return SplError("%s: %s" % (self.cmd, message), (tok or self.tok).pos)

    def is_option(self):
        t = self.tok
        return t.kind == "word" and self.peek().is_op("=")

    def options(self, allowed):
        """Consume ``name=value`` options at the current position.

        ``allowed``: {name: converter}. Unknown option names are refused.
        """
        found = {}
        while self.is_option():
            name_tok = self.advance()
            self.advance()  # '='
            vt = self.tok
            if vt.kind not in ("word", "str"):
                raise self.error("option %s= needs a value" % name_tok.value, vt)
            self.advance()
            key = name_tok.value
            conv = allowed.get(key)
            if conv is None:
                raise Unsupported("%s: option %s= is not implemented by splreplay"
                                  % (self.cmd, key), name_tok.pos)
            try:
                found[key] = conv(vt.value)
            except (ValueError, SplError) as exc:
                raise self.error("invalid value %r for %s= (%s)" % (vt.value, key, exc), vt)
        return found

    def field(self, what="a field name"):
        t = self.tok
        if t.kind in ("word", "str"):
            self.advance()
            return t.value
        raise self.error("expected %s" % what, t)

    def is_word(self, *words):
        return self.tok.kind == "word" and self.tok.value.lower() in words

    def field_list(self, stop=(), allow_empty=True):
        """Fields separated by spaces and/or commas, until a stop word or the end."""
        out = []
        while not self.at_end():
            t = self.tok
            if t.is_op(","):
                self.advance()
                continue
            if t.kind == "word" and t.value.lower() in stop:
                break
            if t.kind not in ("word", "str"):
                break
            if self.is_option():
                break
            out.append(t.value)
            self.advance()
        if not out and not allow_empty:
            raise self.error("expected one or more field names")
        return out

    def expect_end(self):
        if not self.at_end():
            t = self.tok
            raise Unsupported("%s: unexpected or unsupported argument %r"
                              % (self.cmd, t.value), t.pos)


def to_bool(v):
    low = str(v).lower()
    if low in ("t", "true", "1", "yes", "y"):
        return True
    if low in ("f", "false", "0", "no", "n"):
        return False
    raise ValueError("not a boolean")


def to_int(v):
    return int(v)


def to_str(v):
    return v


def field_patterns(patterns, names):
    """Expand wildcard field patterns against names (ordered, unique)."""
    import re
    out = []
    for p in patterns:
        if "*" in p:
            rx = re.compile("^" + ".*".join(re.escape(x) for x in p.split("*")) + "$")
            for n in names:
                if rx.match(n) and n not in out:
                    out.append(n)
        elif p not in out:
            out.append(p)
    return out


def all_field_names(rows):
    seen = {}
    for r in rows:
        for k in r:
            if k not in seen:
                seen[k] = None
    return list(seen)


# register the command modules
from . import basic, collect, lookup, stats, external  # noqa: E402,F401
