"""Time in splreplay: relative time modifiers, strftime/strptime, time spans.

Everything is UTC (the replay has no user time zone); Splunk would use the search user's
time zone for snapping to days and for formatting, so set that user's zone to UTC when
comparing with a real Splunk.
"""
import calendar
import datetime
import re

from .errors import SplError

UTC = datetime.timezone.utc

_UNITS = {}
for _names, _unit in (
    (("s", "sec", "secs", "second", "seconds"), "s"),
    (("m", "min", "mins", "minute", "minutes"), "m"),
    (("h", "hr", "hrs", "hour", "hours"), "h"),
    (("d", "day", "days"), "d"),
    (("w", "week", "weeks"), "w"),
    (("mon", "month", "months"), "mon"),
    (("q", "qtr", "qtrs", "quarter", "quarters"), "q"),
    (("y", "yr", "yrs", "year", "years"), "y"),
):
    for _n in _names:
        _UNITS[_n] = _unit

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

_PART = re.compile(r"([+-])(\d*)([a-zA-Z]+)|@([a-zA-Z]+\d?)")


def unit_of(name):
    return _UNITS.get(name.lower())


def _add_months(dt, months):
    total = dt.year * 12 + (dt.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def _offset(dt, sign, count, unit):
    n = count * (1 if sign == "+" else -1)
    if unit in _SECONDS:
        return dt + datetime.timedelta(seconds=n * _SECONDS[unit])
    if unit == "mon":
        return _add_months(dt, n)
    if unit == "q":
        return _add_months(dt, 3 * n)
    if unit == "y":
        return _add_months(dt, 12 * n)
    raise ValueError(unit)


def _snap(dt, spec):
    m = re.fullmatch(r"([a-zA-Z]+?)(\d?)", spec)
    word, digit = m.group(1), m.group(2)
    if word.lower() == "w" and digit:
        target = int(digit) % 7  # 0 = Sunday
        day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        weekday = (day.weekday() + 1) % 7  # Python Monday=0 -> Sunday=0
        return day - datetime.timedelta(days=(weekday - target) % 7)
    unit = unit_of(word)
    if unit is None or digit:
        raise ValueError(spec)
    if unit == "s":
        return dt.replace(microsecond=0)
    if unit == "m":
        return dt.replace(second=0, microsecond=0)
    if unit == "h":
        return dt.replace(minute=0, second=0, microsecond=0)
    if unit == "d":
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        return _snap(dt, "w0")
    if unit == "mon":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "q":
        month = ((dt.month - 1) // 3) * 3 + 1
        return dt.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "y":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(spec)


_RESOLVED = {}  # (now, spec) -> relative_time(now, spec): runs resolve the same specs


def relative_time(now, spec):
    """Resolve a Splunk time modifier (``-1h@h``, ``@d``, ``now``, epoch) against ``now``.

    Returns epoch seconds, or None when ``spec`` is not a valid modifier.
    """
    key = (now, spec)
    try:
        return _RESOLVED[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable spec: resolved (and refused) below
        return _relative_time(now, spec)
    if len(_RESOLVED) >= 50000:
        _RESOLVED.clear()
    r = _RESOLVED[key] = _relative_time(now, spec)
    return r


def _relative_time(now, spec):
    s = str(spec).strip()
    if s.lower() == "now" or s == "":
        return float(now)
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    dt = datetime.datetime.fromtimestamp(now, UTC)
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            return None
        try:
            if m.group(4) is not None:
                dt = _snap(dt, m.group(4))
            else:
                unit = unit_of(m.group(3))
                if unit is None:
                    return None
                count = int(m.group(2)) if m.group(2) else 1
                dt = _offset(dt, m.group(1), count, unit)
        except ValueError:
            return None
        pos = m.end()
    return dt.timestamp()


def parse_span(text, pos=None):
    """A bin/bucket span -> ('sec', seconds) | ('mon', months) | ('num', step)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-zA-Z]*)", text.strip())
    if not m:
        raise SplError("invalid span %r" % text, pos)
    amount = float(m.group(1))
    if not m.group(2):
        return ("num", amount)
    unit = unit_of(m.group(2))
    if unit in _SECONDS and unit != "w":
        return ("sec", amount * _SECONDS[unit])
    if unit == "mon":
        return ("mon", int(amount))
    if unit == "q":
        return ("mon", 3 * int(amount))
    if unit == "y":
        return ("mon", 12 * int(amount))
    raise SplError("span unit %r is not supported (use s, m, h, d, mon, q or y)" % m.group(2), pos)


def floor_time(t, span):
    kind, amount = span
    if kind == "sec":
        return (t // amount) * amount
    if kind == "mon":
        dt = datetime.datetime.fromtimestamp(t, UTC)
        total = dt.year * 12 + dt.month - 1
        total -= total % amount
        year, month = divmod(total, 12)
        return datetime.datetime(year, month + 1, 1, tzinfo=UTC).timestamp()
    raise ValueError(kind)


# ---- strftime / strptime -------------------------------------------------------------

_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


def strftime(t, fmt):
    """Splunk strftime subset (UTC). Unknown directives raise SplError."""
    dt = datetime.datetime.fromtimestamp(t, UTC)
    out = []
    i = 0
    n = len(fmt)
    while i < n:
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        m = re.match(r"%(\d*)([a-zA-Z%+]|:z)", fmt[i:])
        if not m:
            raise SplError("unsupported time format directive in %r" % fmt)
        width, d = m.group(1), m.group(2)
        i += m.end()
        if d == "N" or d == "Q":
            digits = int(width) if width else (3 if d == "Q" else 9)
            frac = "%09d" % round((t - int(t // 1)) * 1e9) if t >= 0 else "000000000"
            out.append(frac[:digits].ljust(digits, "0"))
            continue
        if width:
            raise SplError("unsupported time format directive %%%s%s" % (width, d))
        if d == "Y":
            out.append("%04d" % dt.year)
        elif d == "y":
            out.append("%02d" % (dt.year % 100))
        elif d == "m":
            out.append("%02d" % dt.month)
        elif d == "d":
            out.append("%02d" % dt.day)
        elif d == "e":
            out.append("%2d" % dt.day)
        elif d == "H":
            out.append("%02d" % dt.hour)
        elif d == "k":
            out.append("%2d" % dt.hour)
        elif d == "I":
            out.append("%02d" % ((dt.hour % 12) or 12))
        elif d == "p":
            out.append("AM" if dt.hour < 12 else "PM")
        elif d == "M":
            out.append("%02d" % dt.minute)
        elif d == "S":
            out.append("%02d" % dt.second)
        elif d == "j":
            out.append("%03d" % dt.timetuple().tm_yday)
        elif d == "a":
            out.append(_DAYS[dt.weekday()][:3])
        elif d == "A":
            out.append(_DAYS[dt.weekday()])
        elif d == "b":
            out.append(_MONTHS[dt.month - 1][:3])
        elif d == "B":
            out.append(_MONTHS[dt.month - 1])
        elif d == "w":
            out.append(str((dt.weekday() + 1) % 7))
        elif d == "u":
            out.append(str(dt.weekday() + 1))
        elif d == "V":
            out.append("%02d" % dt.isocalendar()[1])
        elif d == "F":
            out.append("%04d-%02d-%02d" % (dt.year, dt.month, dt.day))
        elif d == "T":
            out.append("%02d:%02d:%02d" % (dt.hour, dt.minute, dt.second))
        elif d == "z":
            out.append("+0000")
        elif d == ":z":
            out.append("+00:00")
        elif d == "Z":
            out.append("UTC")
        elif d == "s":
            out.append(str(int(t // 1)))
        elif d == "%":
            out.append("%")
        else:
            raise SplError("unsupported time format directive %%%s" % d)
    return "".join(out)


_PTIME = {
    "Y": r"(?P<Y>\d{4})", "y": r"(?P<y>\d{2})", "m": r"(?P<m>\d{1,2})", "d": r"(?P<d>\d{1,2})",
    "e": r"\s?(?P<d>\d{1,2})", "H": r"(?P<H>\d{1,2})", "k": r"\s?(?P<H>\d{1,2})",
    "I": r"(?P<I>\d{1,2})", "p": r"(?P<p>AM|PM|am|pm)", "M": r"(?P<M>\d{2})",
    "S": r"(?P<S>\d{2})", "j": r"(?P<j>\d{1,3})",
    "b": r"(?P<b>[A-Za-z]{3})", "B": r"(?P<b>[A-Za-z]+)", "a": r"[A-Za-z]{3}", "A": r"[A-Za-z]+",
    "z": r"(?P<z>Z|[+-]\d{2}:?\d{2})", ":z": r"(?P<z>Z|[+-]\d{2}:?\d{2})",
    "Z": r"(?P<Z>[A-Za-z]+)", "s": r"(?P<s>\d+)", "%": "%",
    "F": r"(?P<Y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})",
    "T": r"(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2})",
}
_ptime_cache = {}


def _compile_ptime(fmt):
    parts = []
    i = 0
    used = set()
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            parts.append(re.escape(c))
            i += 1
            continue
        m = re.match(r"%(\d*)([a-zA-Z%]|:z)", fmt[i:])
        if not m:
            raise SplError("unsupported time format directive in %r" % fmt)
        width, d = m.group(1), m.group(2)
        i += m.end()
        if d in ("N", "Q"):
            parts.append(r"(?P<N>\d{%s})" % (width if width else "1,9"))
            continue
        if d not in _PTIME or width:
            raise SplError("unsupported time format directive %%%s%s" % (width, d))
        pat = _PTIME[d]
        for g in re.findall(r"\?P<(\w+)>", pat):
            if g in used:
                pat = pat.replace("?P<%s>" % g, "?:")
            used.add(g)
        parts.append(pat)
    return re.compile("".join(parts))


def strptime(text, fmt):
    """Parse ``text`` with a Splunk time format -> epoch float, or None if no match."""
    rx = _ptime_cache.get(fmt)
    if rx is None:
        rx = _ptime_cache[fmt] = _compile_ptime(fmt)
    m = rx.match(text)
    if not m:
        return None
    g = m.groupdict()
    if g.get("s"):
        return float(g["s"])
    try:
        year = int(g["Y"]) if g.get("Y") else (2000 + int(g["y"]) if g.get("y") else 1970)
        if g.get("b"):
            name = g["b"][:3].title()
            month = [x[:3] for x in _MONTHS].index(name) + 1
        else:
            month = int(g.get("m") or 1)
        day = int(g.get("d") or 1)
        hour = int(g.get("H") or 0)
        if g.get("I"):
            hour = int(g["I"]) % 12 + (12 if (g.get("p") or "").upper() == "PM" else 0)
        minute = int(g.get("M") or 0)
        second = int(g.get("S") or 0)
        dt = datetime.datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        if g.get("j"):
            dt = datetime.datetime(year, 1, 1, hour, minute, second, tzinfo=UTC) + \
                datetime.timedelta(days=int(g["j"]) - 1)
    except (ValueError, KeyError):
        return None
    t = dt.timestamp()
    if g.get("N"):
        t += int(g["N"]) / (10 ** len(g["N"]))
    z = g.get("z")
    if z and z != "Z":
        sign = 1 if z[0] == "+" else -1
        digits = z[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    zname = g.get("Z")
    if zname and zname.upper() not in ("UTC", "GMT", "Z"):
        return None
    return t
