"""Reading CloudTrail files into Splunk-shaped events.

Accepted files (optionally gzip-compressed, by ``.gz`` suffix or magic bytes):
- a CloudTrail log file ``{"Records": [...]}`` (S3 delivery format);
- a JSON array of records;
- JSON lines, one record per line;
- any of the above whose items are CloudTrail ``LookupEvents`` entries carrying the record
  as a ``CloudTrailEvent`` string.

Field extraction follows Splunk's JSON extraction naming (KV_MODE=json / INDEXED_EXTRACTIONS):
nested keys joined with ``.``, array elements as ``{}`` (``a.b{}.c``), every value of a
repeated name collected into one multivalue field in document order, scalars as their
JSON text (``true``, ``false``, ``null``, numbers as written), empty objects and arrays
producing no field.
"""
import datetime
import gzip
import json
import os
import re

from .errors import InputError

SOURCETYPE = "aws:cloudtrail"


def _scalar_text(v):
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)


def flatten_json(obj, trim_braces=False):
    """Splunk JSON field extraction of a parsed object -> {name: [values...]}."""
    out = {}
    brace = "" if trim_braces else "{}"

    def walk(node, name):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, name + "." + key if name else key)
        elif isinstance(node, list):
            for item in node:
                walk(item, name + brace)
        else:
            if not name:
                return
            lst = out.get(name)
            if lst is None:
                out[name] = [_scalar_text(node)]
            else:
                lst.append(_scalar_text(node))

    walk(obj, "")
    return out


class _Cut(Exception):
    """The text ends before the value does."""


_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WS = re.compile(r"[ \t\n\r]*")
_LITERALS = (("true", True), ("false", False), ("null", None))


def flatten_json_prefix(text, trim_braces=False):
    """Splunk JSON field extraction of the start of a JSON document that may be cut short.

    Every scalar that is complete within ``text`` is extracted (with the same naming as
    ``flatten_json``); extraction stops at the first value the text cuts through, which is
    what a byte limit on extraction does to the keys after it."""
    out = {}
    brace = "" if trim_braces else "{}"
    end = len(text)

    def ws(i):
        return _WS.match(text, i).end()

    def emit(name, value):
        if name:
            out.setdefault(name, []).append(_scalar_text(value))

    def value(i, name):
        i = ws(i)
        if i >= end:
            raise _Cut()
        c = text[i]
        if c == "{":
            i = ws(i + 1)
            if i < end and text[i] == "}":
                return i + 1
            while True:
                i = ws(i)
                if i >= end or text[i] != '"':
                    raise _Cut()
                try:
                    key, i = json.decoder.scanstring(text, i + 1)
                except ValueError:
                    raise _Cut() from None
                i = ws(i)
                if i >= end or text[i] != ":":
                    raise _Cut()
                i = value(i + 1, name + "." + key if name else key)
                i = ws(i)
                if i >= end:
                    raise _Cut()
                if text[i] == "}":
                    return i + 1
                i += 1  # ","
        if c == "[":
            i = ws(i + 1)
            if i < end and text[i] == "]":
                return i + 1
            while True:
                i = ws(value(i, name + brace))
                if i >= end:
                    raise _Cut()
                if text[i] == "]":
                    return i + 1
                i += 1  # ","
        if c == '"':
            try:
                s, i = json.decoder.scanstring(text, i + 1)
            except ValueError:
                raise _Cut() from None
            emit(name, s)
            return i
        for word, val in _LITERALS:
            if text.startswith(word, i):
                emit(name, val)
                return i + len(word)
        m = _NUMBER.match(text, i)
        if not m or m.end() >= end:  # a number the cut may have shortened
            raise _Cut()
        emit(name, json.loads(m.group(0)))
        return m.end()

    try:
        value(0, "")
    except (_Cut, RecursionError):
        pass
    return out


def cut_to_bytes(text, limit):
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``limit`` bytes, or None
    when the whole text fits."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return None
    return data[:limit].decode("utf-8", "ignore")


def parse_time(text):
    """CloudTrail eventTime (ISO 8601, UTC 'Z' or offset) -> epoch seconds (float)."""
    try:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def _read_text(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if path.endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError("%s: not a valid gzip file (%s)" % (path, exc)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("%s: not UTF-8 text (%s)" % (path, exc)) from None


def _unwrap(record, where):
    if isinstance(record, dict) and isinstance(record.get("CloudTrailEvent"), str):
        try:
            record = json.loads(record["CloudTrailEvent"])
        except ValueError as exc:
            raise InputError("%s: CloudTrailEvent is not valid JSON (%s)" % (where, exc)) from None
    if not isinstance(record, dict):
        raise InputError("%s: a CloudTrail record must be a JSON object, got %s"
                         % (where, type(record).__name__))
    return record


def read_records(path):
    """Yield (record, raw_text_or_None, where) for every record of one file."""
    text = _read_text(path)
    stripped = text.strip()
    if not stripped:
        return
    lines = [ln for ln in text.split("\n")]
    # JSON lines: more than one non-empty line and the first one is a whole object.
    nonempty = [i for i, ln in enumerate(lines) if ln.strip()]
    jsonl = False
    if len(nonempty) > 1 and lines[nonempty[0]].lstrip().startswith("{"):
        try:
            json.loads(lines[nonempty[0]])
            jsonl = True
        except ValueError:
            jsonl = False
    if jsonl:
        for i in nonempty:
            where = "%s:%d" % (path, i + 1)
            try:
                rec = json.loads(lines[i])
            except ValueError as exc:
                raise InputError("%s: invalid JSON on line %d: %s" % (path, i + 1, exc)) from None
            raw = lines[i].strip() if "CloudTrailEvent" not in rec else None
            yield _unwrap(rec, where), raw, where
        return
    try:
        doc = json.loads(stripped)
    except ValueError as exc:
        lineno = getattr(exc, "lineno", None)
        # position in the original text: account for leading whitespace stripped
        lead = text[:len(text) - len(text.lstrip())].count("\n")
        raise InputError("%s: invalid JSON on line %s: %s"
                         % (path, (lineno or 0) + lead, exc.msg if hasattr(exc, "msg") else exc)) from None
    if isinstance(doc, dict) and "Records" in doc:
        items = doc["Records"]
        if not isinstance(items, list):
            raise InputError("%s: 'Records' is not a list" % path)
    elif isinstance(doc, dict) and isinstance(doc.get("Events"), list):
        items = doc["Events"]  # a saved LookupEvents response
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict):
        items = [doc]
    else:
        raise InputError("%s: expected a CloudTrail log file, a JSON array or JSON lines" % path)
    for n, rec in enumerate(items):
        where = "%s: record %d" % (path, n + 1)
        yield _unwrap(rec, where), None, where


def list_files(path):
    if os.path.isdir(path):
        found = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    found.append(os.path.join(dirpath, name))
        return found
    if os.path.isfile(path):
        return [path]
    raise InputError("%s: no such file or directory" % path)


def load_records(paths):
    """All records from the given files/folders -> list of (record, raw, source, where)."""
    out = []
    for top in paths:
        for path in list_files(top):
            for record, raw, where in read_records(path):
                out.append((record, raw, path, where))
    return out


def base_event(record, raw, source):
    """The event before search-time knowledge: _raw, _time and default fields."""
    t = record.get("eventTime")
    when = parse_time(t) if isinstance(t, str) else None
    if when is None:
        return None
    if raw is None:
        raw = json.dumps(record, ensure_ascii=False)
    return {
        "_raw": raw,
        "_time": when,
        "host": "splreplay",
        "source": source,
        "sourcetype": SOURCETYPE,
    }
