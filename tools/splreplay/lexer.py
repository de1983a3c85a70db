"""Tokenizing SPL text.

Two modes:
- ``search``: the search language and command arguments. A word runs until whitespace or
  one of ``" ( ) = != < > <= >= , [ ] |``; so ``userIdentity.sessionContext.sessionIssuer.userName``,
  ``items{}.cidrIp``, ``10.0.0.0/8``, ``-1h@h`` and ``Create*`` are single words.
- ``eval``: the eval expression language: numbers, identifiers ``[A-Za-z_][A-Za-z0-9_]*``,
  ``'quoted field names'``, ``"strings"`` and operators.

Double-quoted strings unescape ``\\"`` and ``\\\\`` only (other backslashes stay, as regexes need).
Positions are 0-based offsets in the text given, plus ``base``.
"""
from .errors import SplError

EOF = "eof"


class Token:
    __slots__ = ("kind", "value", "pos", "end", "quoted")

    def __init__(self, kind, value, pos, end, quoted=False):
        self.kind = kind  # 'word', 'str', 'sq', 'num', 'op', 'eof'
        self.value = value
        self.pos = pos
        self.end = end
        self.quoted = quoted

    def is_op(self, *ops):
        return self.kind == "op" and self.value in ops

    def is_word(self, *words, ci=True):
        if self.kind != "word":
            return False
        if not words:
            return True
        v = self.value.lower() if ci else self.value
        return v in [w.lower() if ci else w for w in words]

    def __repr__(self):
        return "Token(%s,%r,%d)" % (self.kind, self.value, self.pos)


def _read_dq(text, i, base):
    """Read a double-quoted string starting at text[i] == '"'. -> (value, end)."""
    j = i + 1
    out = []
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n and text[j + 1] in ('"', "\\"):
            out.append(text[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise SplError("unterminated double-quoted string", base + i)


_SEARCH_STOP = set(' \t\r\n"()=<>,[]|')


def tokenize_search(text, base=0):
    toks = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == '"':
            val, j = _read_dq(text, i, base)
            toks.append(Token("str", val, base + i, base + j, quoted=True))
            i = j
            continue
        two = text[i:i + 2]
        if two in ("!=", "<=", ">=", "=="):
            toks.append(Token("op", two, base + i, base + i + 2))
            i += 2
            continue
        if c in "()=<>,[]|":
            toks.append(Token("op", c, base + i, base + i + 1))
            i += 1
            continue
        j = i
        while j < n:
            ch = text[j]
            if ch in _SEARCH_STOP:
                break
            if ch == "!" and j + 1 < n and text[j + 1] == "=":
                break
            if ch == "\\" and j + 1 < n:
                j += 2
                continue
            j += 1
        toks.append(Token("word", text[i:j], base + i, base + j))
        i = j
    toks.append(Token(EOF, None, base + n, base + n))
    return toks


def _is_ident_start(c):
    return c.isalpha() or c == "_"


def _is_ident_char(c):
    return c.isalnum() or c == "_"


def tokenize_eval(text, base=0):
    toks = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == '"':
            val, j = _read_dq(text, i, base)
            toks.append(Token("str", val, base + i, base + j, quoted=True))
            i = j
            continue
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise SplError("unterminated single-quoted field name", base + i)
            toks.append(Token("sq", text[i + 1:j], base + i, base + j + 1, quoted=True))
            i = j + 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()
                           and not (toks and toks[-1].kind in ("word", "sq", "num", "str")
                                    and toks[-1].end == base + i)):
            j = i
            while j < n and text[j].isdigit():
                j += 1
            if j < n and text[j] == "." and j + 1 < n and text[j + 1].isdigit():
                j += 1
                while j < n and text[j].isdigit():
                    j += 1
            elif j < n and text[j] == "." and not (j + 1 < n and _is_ident_start(text[j + 1])):
                j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isdigit():
                    while k < n and text[k].isdigit():
                        k += 1
                    j = k
            if j < n and _is_ident_char(text[j]):
                # e.g. 5m or 3abc: not a number and not an identifier
                k = j
                while k < n and _is_ident_char(text[k]):
                    k += 1
                raise SplError("unexpected %r in eval expression (quote field names that "
                               "start with a digit: '%s')" % (text[i:k], text[i:k]), base + i)
            toks.append(Token("num", text[i:j], base + i, base + j))
            i = j
            continue
        if _is_ident_start(c):
            j = i
            while j < n and _is_ident_char(text[j]):
                j += 1
            toks.append(Token("word", text[i:j], base + i, base + j))
            i = j
            continue
        two = text[i:i + 2]
        if two in ("==", "!=", "<=", ">="):
            toks.append(Token("op", two, base + i, base + i + 2))
            i += 2
            continue
        if c in "=<>+-*/%.(),":
            toks.append(Token("op", c, base + i, base + i + 1))
            i += 1
            continue
        if c in "{}":
            raise SplError("field names with braces must be single-quoted in eval "
                           "expressions, e.g. 'a.b{}.c'", base + i)
        raise SplError("unexpected character %r in eval expression" % c, base + i)
    toks.append(Token(EOF, None, base + n, base + n))
    return toks


def split_pipeline(text):
    """Split a search into commands at top-level ``|`` -> list of (segment, offset).

    ``|`` inside double quotes does not split. Square brackets (subsearches) are tracked
    so their pipes do not split either; subsearches themselves are refused later.
    """
    parts = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            _, i = _read_dq(text, i, 0)
            continue
        if c == "\\" and i + 1 < n:
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif c == "|" and depth == 0:
            parts.append((text[start:i], start))
            start = i + 1
        i += 1
    parts.append((text[start:], start))
    return parts
