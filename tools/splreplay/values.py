"""Field values as splreplay holds them.

A result row is a dict of field name -> value. A missing field is simply absent (null).
A value is a ``str`` (as extracted), an ``int``/``float`` (computed by eval or stats) or a
``list`` of those (a multivalue field with two or more values; a one-element list is
normalised to its single value). Splunk's own output renders every value as text; so does
``render``.
"""
import math
import re

_NUM_RE = re.compile(r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")


def values_of(value):
    """The list of values of a field value (empty for null)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def normalise(vals):
    """A list of values -> stored field value (None, single value or list)."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    if len(vals) == 1:
        return vals[0]
    return vals


_MISSING = object()
_NUMBERS = {}  # text -> as_number(text): field values repeat, parsing them does not need to


def as_number(value):
    """A single value as int/float when it is numeric, else None."""
    t = type(value)
    if t is str:
        n = _NUMBERS.get(value, _MISSING)
        if n is _MISSING:
            if len(_NUMBERS) >= 100000:
                _NUMBERS.clear()
            n = _NUMBERS[value] = _parse_number(value)
        return n
    if t is int or t is float:
        return value
    return _parse_number(value)


def _parse_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and _NUM_RE.match(value):
        if _INT_RE.match(value):
            return int(value)
        try:
            return float(value)
        except ValueError:
            return None
    return None


def is_numeric(value):
    return as_number(value) is not None


def render(value):
    """One single value as Splunk prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def render_field(value):
    """A stored field value for output: str, or list of str for multivalue."""
    if isinstance(value, list):
        return [render(v) for v in value]
    return render(value)


def text_of(value):
    """A single value as text (for string comparison and functions)."""
    return value if isinstance(value, str) else render(value)
