"""Split CloudTrail log files into records, byte for byte, without re-serialising them.

A CloudTrail log file delivered to S3 is (usually gzip-compressed) JSON
``{"Records":[{...},{...}]}``.  We write every record unchanged, so this module never
re-encodes JSON: it finds where each record starts and ends and slices the source bytes.
``parse_event`` does the same for one LookupEvents ``CloudTrailEvent`` string.

How the scanner works (and why it is fast in pure Python)
---------------------------------------------------------
1. Escaped quotes are the only thing that makes JSON strings hard to skip.  A memchr-driven
   pass over the (rare) backslashes replaces every *escaped* ``"`` by a placeholder byte
   that does not occur in the file (a C0 control character, same length, so offsets hold;
   the XML writer uses ``&quot;`` instead, which needs no restoring).  Every remaining
   ``"`` now opens or closes a string, and a string is ``"[^"]*"``, which the ``re`` engine
   skips with its tight single-character loop.
2. A regular expression describing "an object whose strings are skipped and whose nested
   objects are balanced", generated up to ``MAX_FAST_DEPTH`` levels of nesting, matches the
   first record, then ``findall`` of ``,`` + record takes the rest of the ``Records`` array.
   Its top level also captures the values of the record's own ``eventTime`` and ``eventID``
   keys: nested objects are matched by a capture-free sub-pattern, so a nested
   ``eventTime`` can never be taken for the record's.
3. The matches must tile the array exactly (their lengths add up to the array's).  If they
   do not (whitespace between records, records nested deeper than ``MAX_FAST_DEPTH``,
   truncated or corrupt files) the file is rescanned record by record, deep records with a
   token scanner of unlimited depth, which also produces the precise error.
4. The placeholder is turned back into ``"`` in the records that hold one.

What is and is not validated: strings, escapes, the nesting of objects and the shape of the
file (one top-level object with a ``Records`` array of objects) are checked; the scalar
values between them are not parsed (a record is not run through a JSON parser, which is what
makes this fast).  CloudTrail writes valid JSON, and Splunk's JSON extraction reports the
rare record that is not.

Pure Python, standard library only, Python 3.9 to 3.13.
"""

import datetime
import json
import re
import zlib
from operator import itemgetter
from typing import List, NamedTuple, Optional

__all__ = [
    "CloudTrailFormatError",
    "CorruptGzip",
    "NotJSON",
    "TruncatedJSON",
    "MissingRecords",
    "MalformedLog",
    "BadEventTime",
    "LogTooLarge",
    "WrongAccount",
    "Record",
    "Skipped",
    "LogFile",
    "decompress",
    "parse_log",
    "parse_records",
    "parse_event",
    "split_records",
    "parse_event_time",
    "format_time",
    "MAX_FAST_DEPTH",
    "DEFAULT_MAX_SIZE",
]

#: Nesting depth (objects inside the record) handled by the fast pattern; deeper records are
#: still handled, by the slower token scanner.  Real CloudTrail records nest up to about 8.
MAX_FAST_DEPTH = 24
#: Refuse to decompress more than this (a gzip bomb or a wrong object); 256 MiB, several
#: times the largest log files CloudTrail writes.
DEFAULT_MAX_SIZE = 256 << 20


# ----------------------------------------------------------------------------- errors


class CloudTrailFormatError(ValueError):
    """A CloudTrail log file (or event) that cannot be read.

    ``reason`` is a short stable code (for logs and counters), ``offset`` the byte offset in
    the decompressed data where the problem was found, when known.
    """

    reason = "invalid"

    def __init__(self, message, offset=None):
        super().__init__(message)
        self.offset = offset


class CorruptGzip(CloudTrailFormatError):
    reason = "corrupt-gzip"


class LogTooLarge(CloudTrailFormatError):
    reason = "too-large"


class WrongAccount(CloudTrailFormatError):
    """A record whose ``recipientAccountId`` is not the account its log key is filed under."""

    reason = "wrong-account"


class NotJSON(CloudTrailFormatError):
    reason = "not-json"


class TruncatedJSON(CloudTrailFormatError):
    reason = "truncated"


class MissingRecords(CloudTrailFormatError):
    reason = "no-records"


class MalformedLog(CloudTrailFormatError):
    reason = "malformed"


class BadEventTime(CloudTrailFormatError):
    """A single event (LookupEvents) without a usable ``eventTime``."""

    reason = "bad-event-time"


# ----------------------------------------------------------------------------- results


class Record(NamedTuple):
    """One CloudTrail record: its exact bytes, its time and its id."""

    raw: bytes  #: the record's JSON, byte-identical to the source
    time_ms: int  #: ``eventTime`` as epoch milliseconds (UTC)
    event_id: Optional[str]  #: top-level ``eventID`` (None when absent)

    @property
    def time(self):
        """``eventTime`` as epoch seconds (float, millisecond precision)."""
        return self.time_ms / 1000.0

    @property
    def time_text(self):
        """``eventTime`` as Splunk's ``<time>`` text: seconds with exactly 3 decimals."""
        return format_time(self.time_ms)


class Skipped(NamedTuple):
    """A record that was not written, and why."""

    index: int  #: position of the record in the file's Records array (0-based)
    reason: str  #: human-readable reason, e.g. "no eventTime"
    event_id: Optional[str]
    size: int  #: length of the record in bytes


class LogFile(NamedTuple):
    records: List[Record]
    skipped: List[Skipped]
    size: int  #: decompressed size in bytes


# ----------------------------------------------------------------------------- time


_TIME_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?\Z"
)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def parse_event_time(value):
    """Parse a CloudTrail ``eventTime`` into epoch **milliseconds** (int, UTC).

    Accepts ``2024-05-01T12:00:00Z``, fractional seconds (``.5``, ``.123``, ``.123456``:
    truncated to milliseconds, never rounded up into the next second), a numeric offset
    (``+02:00``) and, leniently, no zone designator (taken as UTC).  Raises ``ValueError``.
    """
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("ascii", "replace")
    if not isinstance(value, str):
        raise ValueError("eventTime is not a string: %r" % (value,))
    m = _TIME_RE.match(value)
    if m is None:
        raise ValueError("eventTime %r is not an ISO-8601 timestamp" % value[:64])
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        ordinal = datetime.date(year, month, day).toordinal()
    except ValueError as exc:
        raise ValueError("eventTime %r: %s" % (value[:64], exc)) from None
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("eventTime %r: time of day out of range" % value[:64])
    seconds = (ordinal - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + second
    zone = m.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset_h, offset_m = int(digits[:2]), int(digits[2:])
        if offset_h > 23 or offset_m > 59:
            raise ValueError("eventTime %r: bad UTC offset" % value[:64])
        seconds -= sign * (offset_h * 3600 + offset_m * 60)
    fraction = m.group(7)
    millis = int((fraction + "00")[:3]) if fraction else 0
    return seconds * 1000 + millis


def format_time(time_ms):
    """Epoch milliseconds -> ``"1714564800.123"`` (the text of a ``<time>`` element)."""
    time_ms = int(time_ms)
    if time_ms < 0:
        return "-%d.%03d" % divmod(-time_ms, 1000)
    return "%d.%03d" % divmod(time_ms, 1000)


# Cache of eventTime tokens as found in the buffer (with their quotes) -> epoch ms, or an
# error message (str).  A log file holds a few hundred distinct seconds at most.
_TIME_CACHE = {}  # eventTime token (bytes) -> epoch ms (int) or the reason it is unusable
_TIME_CACHE_MAX = 65536


def _time_of_token(token, placeholder):
    """eventTime token (``b'"2024-..."'`` or b'' when absent) -> ms, or an error str."""
    cached = _TIME_CACHE.get(token)
    if cached is not None:
        return cached
    if not token:
        result = "no eventTime (missing, or not a string)"
    else:
        try:
            result = parse_event_time(_decode_token(token, placeholder))
        except ValueError as exc:
            result = str(exc)
    if placeholder is None or placeholder not in token:
        if len(_TIME_CACHE) >= _TIME_CACHE_MAX:
            _TIME_CACHE.clear()
        _TIME_CACHE[token] = result
    return result


def _decode_token(token, placeholder):
    """A JSON string token from the neutralised buffer -> str (None for b'')."""
    if not token:
        return None
    if placeholder is not None and placeholder in token:
        token = token.replace(placeholder, b'"')
    body = token[1:-1]
    if b"\\" in body:
        try:
            return json.loads(token.decode("utf-8", "replace"))
        except ValueError:
            pass
    return body.decode("utf-8", "replace")


# ----------------------------------------------------------------------------- gzip


_INFLATE_STEP = 256 * 1024  # compressed bytes per zlib call


def decompress(data, max_size=DEFAULT_MAX_SIZE):
    """Return the JSON of a log object: gunzipped when it is gzip (several members allowed,
    trailing zero padding tolerated), else the data unchanged.  Raises ``CorruptGzip`` or
    ``LogTooLarge`` (more than ``max_size`` bytes; None: no limit).

    Gzip is inflated in steps into one growing buffer, then copied once into ``bytes``
    (whose methods are faster than ``bytearray``'s): at most twice the log's size is alive,
    as in the later steps, instead of the two and a half times of a one-shot
    ``zlib``/``gzip.decompress`` (which allocates blocks, then joins them).  No step may
    produce more than what is left of ``max_size`` (plus one byte, to tell), so a
    decompression bomb is refused having produced ``max_size`` bytes at most: deflate
    expands up to about 1000 times, so one unbounded step could be gigabytes.
    """
    if isinstance(data, memoryview):
        data = data.tobytes()
    if data[:2] != b"\x1f\x8b":
        if max_size is not None and len(data) > max_size:
            raise LogTooLarge("log file is larger than %d bytes" % max_size)
        return bytes(data)
    size = len(data)
    out = bytearray()
    view = memoryview(data)
    written = 0
    offset = 0  # start of the next gzip member
    try:
        while offset < size:
            if data[offset:offset + 2] != b"\x1f\x8b":
                if written and not data[offset:].strip(b"\x00"):
                    break  # zero padding after the last member, as gzip(1) accepts
                raise CorruptGzip("unexpected data after the gzip stream", offset)
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            fed = offset  # compressed bytes handed to the inflater end here
            while True:
                pending = inflater.unconsumed_tail
                if not pending:
                    if fed >= size:
                        raise CorruptGzip(
                            "gzip stream is truncated (%d bytes decompressed before it ended)"
                            % written
                        )
                    end = min(fed + _INFLATE_STEP, size)
                    pending = view[fed:end]
                    fed = end
                limit = 0 if max_size is None else max_size - written + 1
                try:
                    piece = inflater.decompress(pending, limit)
                except zlib.error as exc:
                    raise CorruptGzip("not a valid gzip stream (%s)" % exc) from None
                del pending
                count = len(piece)
                if max_size is not None and written + count > max_size:
                    raise LogTooLarge("log file decompresses to more than %d bytes" % max_size)
                out += piece
                written += count
                del piece
                if inflater.eof:
                    offset = fed - len(inflater.unused_data)
                    break
    finally:
        view.release()
    result = bytes(out)
    del out
    return result


_RECIPIENT_KEY = b'"recipientAccountId"'
_RECIPIENT_RE = re.compile(rb'"recipientAccountId"[ \t\r\n]*:[ \t\r\n]*"([^"]*)"')


def recipient_counts(buf, account):
    """(``recipientAccountId`` keys, those whose value is ``account``) in a log buffer, for
    ``check_recipient_account``: two substring counts, taken before the buffer is split."""
    expected = b'"recipientAccountId":"' + account.encode("ascii") + b'"'
    return buf.count(_RECIPIENT_KEY), buf.count(expected)


def check_recipient_account(counts, items, account):
    """Refuse a log whose records do not all belong to ``account`` (the account its key is
    filed under): every ``recipientAccountId`` in it must be ``account``, and there must be
    at least as many as records (a record without one is refused when the counts do not
    settle it).  ``counts`` is ``recipient_counts`` of
    the buffer ``items`` (its ``(record, ...)`` tuples) were split from.  Raises
    ``WrongAccount`` naming the first record that does not.

    Every ``recipientAccountId`` key is looked at, nested or not, which is stricter than the
    top-level key alone (CloudTrail writes it at the top level only).  In the usual case
    (one compact key a record, all of ``account``) the counts settle it."""
    keys, good = counts
    if keys == len(items) and good == keys:
        return
    for index, item in enumerate(items):
        found = _RECIPIENT_RE.findall(item[0])
        if not found or item[0].count(_RECIPIENT_KEY) != len(found):
            raise WrongAccount("record %d has no recipientAccountId string; the log is filed "
                               "under account %s" % (index, account))
        for value in found:
            if value != account.encode("ascii"):
                raise WrongAccount(
                    "record %d has recipientAccountId %s but the log is filed under account %s"
                    % (index, value[:32].decode("ascii", "replace"), account))


# ----------------------------------------------------------------------------- patterns

_STR = rb'"[^"]*"'  # a string, once escaped quotes are neutralised
_GAP = rb'[^{}"]*'  # anything between strings and braces: , : numbers literals [ ] spaces


def _nested_object(depth):
    """Pattern of an object with at most `depth` levels of objects inside it; no groups."""
    pattern = rb"\{" + _GAP + rb"(?:" + _STR + _GAP + rb")*\}"
    for _ in range(depth):
        pattern = rb"\{" + _GAP + rb"(?:(?:" + _STR + rb"|" + pattern + rb")" + _GAP + rb")*\}"
    return pattern


_INNER = _nested_object(MAX_FAST_DEPTH - 1)


def _supports_possessive():
    try:
        re.compile(rb"a*+")
    except re.error:
        return False
    return True


# A record's pieces must be matched one way only, or a record the pattern cannot match (an
# unclosed one, say) fails in time exponential in its length: a captured key such as
# "eventTime":"..." can also be read as two plain strings, so each duplicate of it doubled
# the ways a failing match tried (34 s at 22 duplicates).  Where ``re`` has possessive
# repeats (Python 3.11+), the record's loop of pieces is possessive: once it ends, no other
# split of the pieces is tried (none could be followed by the closing brace anyway: a
# shorter loop stops before a string or an object, never before a ``}``), which is also
# the fastest form.  On older Pythons a lookahead keeps a captured key from also being a
# plain string.  Either way a failing match takes time linear in the record's length.
if _supports_possessive():

    def _plain_string(_keys):
        return _STR

    _PIECES_END = rb")*+\}"
else:  # Python 3.9, 3.10

    def _plain_string(keys):
        return rb'"(?!' + keys + rb'"\s*:\s*")[^"]*"'

    _PIECES_END = rb")*\}"

# A record; group 1 = eventTime token, group 2 = eventID token (top level only).
_RECORD = (
    rb"\{" + _GAP + rb'(?:(?:"event(?:Time"\s*:\s*(' + _STR + rb")|ID\"\s*:\s*(" + _STR
    + rb"))|" + _plain_string(rb"event(?:Time|ID)") + rb"|" + _INNER + rb")" + _GAP
    + _PIECES_END
)
_RECORD_RE = re.compile(_RECORD)
# Records after the first, for findall: ',' + (record, eventTime, eventID).
_ITEM_RE = re.compile(rb",(" + _RECORD + rb")")
# The same for the XML writer: ',' + (record, eventTime).
_ITEM_TIME_RE = re.compile(
    rb",(\{" + _GAP + rb'(?:(?:"eventTime"\s*:\s*(' + _STR + rb")|"
    + _plain_string(rb"eventTime") + rb"|" + _INNER + rb")" + _GAP + _PIECES_END + rb")"
)
# Without captures: the raw-limit splitter.
_PLAIN_RECORD = _nested_object(MAX_FAST_DEPTH)
_PLAIN_RECORD_RE = re.compile(_PLAIN_RECORD)
_PLAIN_ITEM_RE = re.compile(rb",(" + _PLAIN_RECORD + rb")")

_HEAD_RE = re.compile(rb'(?:\xef\xbb\xbf)?[ \t\r\n]*\{[ \t\r\n]*"Records"[ \t\r\n]*:[ \t\r\n]*\[')
_TAIL_RE = re.compile(rb"[ \t\r\n]*\}[ \t\r\n]*\Z")
_WS_RE = re.compile(rb"[ \t\r\n]*")
_TOKEN_RE = re.compile(rb'"[^"]*"|[{}\[\]]|"')
_COLON_RE = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*")
_STRING_AT_RE = re.compile(_STR)
_SCALAR_RE = re.compile(rb'[^,\]}\s"{\[]+')

_first = itemgetter(0)

_KEY_TIME = b'"eventTime"'
_KEY_ID = b'"eventID"'
_KEY_RECORDS = b'"Records"'


# ----------------------------------------------------------------------------- neutralise


def _pick_placeholder(buf):
    for code in range(1, 32):
        if code in (9, 10, 13):
            continue
        if bytes((code,)) not in buf:
            return code
    # Every control character occurs raw: this is not JSON text.
    raise NotJSON("data contains every ASCII control character: not JSON text")


def _escaped_quotes(buf):
    """Offsets of the escaped double quotes (``\\"`` preceded by an odd backslash run).

    Escapes pair left to right: a backslash escapes the byte after it, so the scan resumes
    two bytes further on; backslash runs and ``\\\\"`` are handled by that rule.  Only
    backslashes are visited (memchr), which are rare in CloudTrail logs."""
    positions = []
    find = buf.find
    i = find(b"\\")
    while i >= 0:
        if buf[i + 1:i + 2] == b'"':
            positions.append(i + 1)
        i = find(b"\\", i + 2)
    return positions


def _neutralise(buf):
    """Replace each escaped double quote by a placeholder byte (same length, so offsets
    hold).  Returns ``(buffer, placeholder)``; placeholder (bytes) is None when the buffer
    had no escaped quote, and the buffer may then be a bytearray."""
    positions = _escaped_quotes(buf)
    if not positions:
        return buf, None
    code = _pick_placeholder(buf)
    out = bytearray(buf)
    for position in positions:
        out[position] = code
    return out, bytes((code,))


def _restore(raw, placeholder):
    if placeholder is not None and placeholder in raw:
        return raw.replace(placeholder, b'"')
    return raw


# ----------------------------------------------------------------------------- scanning


def _array_bounds(buf):
    """(offset of '[', offset of ']') of a compact ``{"Records":[...]}`` file, or None."""
    head = _HEAD_RE.match(buf)
    if head is not None:
        array_open = head.end() - 1
        array_close = buf.rfind(b"]")
        if array_close > array_open and _TAIL_RE.match(buf, array_close + 1):
            return array_open, array_close
    return None


def _scan_buffer(buf, item_re=None):
    """Split a neutralised log buffer into (record, time token, id token) tuples
    (``item_re`` may capture the time only: the XML writer needs no eventID).

    Fast path: the first record, then ``findall`` of ',' + record; the matches must tile
    the array exactly, else (whitespace, deep nesting, damage) the slow scanner decides."""
    bounds = _array_bounds(buf)
    if bounds is not None:
        array_open, array_close = bounds
        if array_close == array_open + 1:
            return []
        first = _RECORD_RE.match(buf, array_open + 1)
        if first is not None:
            items = (item_re or _ITEM_RE).findall(buf, first.end(), array_close)
            covered = sum(map(len, map(_first, items))) + len(items)
            if first.end() + covered == array_close:
                items.insert(0, (first.group(), first.group(1) or b"", first.group(2) or b""))
                return items
    return _scan_slow(buf)


def _scan_slow(buf):
    """Record-by-record scan of unlimited depth with precise errors."""
    size = len(buf)
    pos = 3 if buf[:3] == b"\xef\xbb\xbf" else 0
    pos = _WS_RE.match(buf, pos).end()
    if pos >= size:
        raise NotJSON("empty log file")
    if buf[pos] != 0x7B:  # '{'
        if buf[pos:pos + 1] in b'["-0123456789tfn':
            raise MissingRecords("log file is JSON but not an object with a Records array")
        raise NotJSON(
            "not JSON: starts with %r" % buf[pos:pos + 16].decode("utf-8", "replace"), pos
        )
    items = None
    pos = _WS_RE.match(buf, pos + 1).end()
    if buf[pos:pos + 1] == b"}":
        pos += 1
    else:
        while True:
            key = _STRING_AT_RE.match(buf, pos)
            if key is None:
                _fail(buf, pos, "expected a key in the top-level object")
            colon = _COLON_RE.match(buf, key.end())
            if colon is None:
                _fail(buf, _WS_RE.match(buf, key.end()).end(), "expected ':' after a key")
            pos = colon.end()
            if key.group() == _KEY_RECORDS:
                if items is not None:
                    raise MalformedLog("log file has two Records keys", key.start())
                if buf[pos:pos + 1] != b"[":
                    _fail(buf, pos, "Records is not an array")
                items, pos = _scan_array(buf, pos)
            else:
                pos = _skip_value(buf, pos)
            pos = _WS_RE.match(buf, pos).end()
            sep = buf[pos:pos + 1]
            if sep == b",":
                pos = _WS_RE.match(buf, pos + 1).end()
                continue
            if sep == b"}":
                pos += 1
                break
            _fail(buf, pos, "expected ',' or '}' in the top-level object")
    rest = _WS_RE.match(buf, pos).end()
    if rest != size:
        raise MalformedLog("unexpected data after the log's JSON object", rest)
    if items is None:
        raise MissingRecords("log file has no Records array")
    return items


def _fail(buf, pos, message):
    if pos >= len(buf):
        raise TruncatedJSON("log file is truncated (ends at byte %d)" % len(buf), len(buf))
    raise MalformedLog("%s at byte %d" % (message, pos), pos)


def _scan_array(buf, pos):
    """pos at '[' of Records -> ([(record, time token, id token)], position after ']')."""
    items = []
    pos = _WS_RE.match(buf, pos + 1).end()
    if buf[pos:pos + 1] == b"]":
        return items, pos + 1
    match_record = _RECORD_RE.match
    while True:
        if buf[pos:pos + 1] != b"{":
            _fail(buf, pos, "Records item %d is not an object" % len(items))
        m = match_record(buf, pos)
        if m is not None:
            items.append((m.group(), m.group(1) or b"", m.group(2) or b""))
            pos = m.end()
        else:
            end, time_token, id_token = _scan_deep_record(buf, pos)
            items.append((buf[pos:end], time_token, id_token))
            pos = end
        pos = _WS_RE.match(buf, pos).end()
        sep = buf[pos:pos + 1]
        if sep == b",":
            pos = _WS_RE.match(buf, pos + 1).end()
        elif sep == b"]":
            return items, pos + 1
        else:
            _fail(buf, pos, "expected ',' or ']' after Records item %d" % (len(items) - 1))


def _scan_deep_record(buf, start):
    """Token scanner for one object at `start`: (end, time token, id token)."""
    closers = []
    time_token = id_token = b""
    for m in _TOKEN_RE.finditer(buf, start):
        token = m.group()
        first = token[0]
        if first == 0x22:  # '"'
            if len(token) == 1:
                _fail(buf, len(buf), "")  # an unterminated string runs to the end
            if len(closers) == 1:
                colon = _COLON_RE.match(buf, m.end())
                if colon is not None:
                    if token == _KEY_TIME or token == _KEY_ID:
                        value = _STRING_AT_RE.match(buf, colon.end())
                        if value is not None:
                            if token == _KEY_TIME:
                                time_token = value.group()
                            else:
                                id_token = value.group()
        elif first == 0x7B:  # '{'
            closers.append(0x7D)
        elif first == 0x5B:  # '['
            closers.append(0x5D)
        else:
            if not closers or closers.pop() != first:
                _fail(buf, m.start(), "unbalanced '%s'" % chr(first))
            if not closers:
                return m.end(), time_token, id_token
    _fail(buf, len(buf), "")
    raise AssertionError("unreachable")


def _skip_value(buf, pos):
    """Skip any JSON value at pos (after whitespace); return the position after it."""
    pos = _WS_RE.match(buf, pos).end()
    first = buf[pos:pos + 1]
    if first == b'"':
        m = _STRING_AT_RE.match(buf, pos)
        if m is None:
            _fail(buf, len(buf), "")
        return m.end()
    if first in (b"{", b"["):
        closers = []
        for m in _TOKEN_RE.finditer(buf, pos):
            token = m.group()
            c = token[0]
            if c == 0x22:
                if len(token) == 1:
                    _fail(buf, len(buf), "")
            elif c == 0x7B:
                closers.append(0x7D)
            elif c == 0x5B:
                closers.append(0x5D)
            else:
                if not closers or closers.pop() != c:
                    _fail(buf, m.start(), "unbalanced '%s'" % chr(c))
                if not closers:
                    return m.end()
        _fail(buf, len(buf), "")
    m = _SCALAR_RE.match(buf, pos)
    if m is None:
        _fail(buf, pos, "expected a value")
    return m.end()


def scan_xml_escaped(holder):
    """Internal API of the XML writer.

    ``holder`` is a one-element list holding a decompressed log already escaped for XML
    text (``&<>`` and forbidden characters rewritten, which cannot change its JSON
    structure); it is emptied, so that only one copy of the log is alive at a time.
    Escaped quotes are rewritten as ``&quot;`` (an XML parser turns that back into ``"``,
    so no restore pass is needed).  Returns ``[(record, eventTime token, ...)]`` in file
    order; the record bytes are ready to be written as ``<data>`` text."""
    buf = holder.pop()
    positions = _escaped_quotes(buf)
    if positions:
        view = memoryview(buf)
        pieces = []
        start = 0
        for position in positions:
            pieces.append(view[start:position])
            start = position + 1
        pieces.append(view[start:])
        del positions
        joined = b"&quot;".join(pieces)
        del pieces
        view.release()
        buf = joined
        del joined
    return _scan_buffer(buf, _ITEM_TIME_RE)


def record_event_id(raw):
    """The top-level ``eventID`` of one record's bytes, or None."""
    try:
        nbuf, placeholder = _neutralise(raw)
        m = _RECORD_RE.match(nbuf)
        token = m.group(2) if m is not None else _scan_deep_record(nbuf, 0)[2]
        return _decode_token(token or b"", placeholder)
    except CloudTrailFormatError:
        return None


def time_of_token(token, placeholder):
    """Internal API: eventTime token from ``scan_neutralised`` -> epoch ms (int), or the
    reason (str) it cannot be used."""
    return _time_of_token(token, placeholder)


# ----------------------------------------------------------------------------- public API


def parse_records(buf):
    """Records of an already decompressed log; see ``parse_log``."""
    nbuf, placeholder = _neutralise(buf)
    return _build(_scan_buffer(nbuf), placeholder, len(buf))


def parse_log(data, max_size=DEFAULT_MAX_SIZE):
    """Parse a CloudTrail log object (gzip or plain JSON bytes) into records.

    Returns a ``LogFile``: ``records`` (``Record``: exact bytes, eventTime in epoch ms,
    eventID) in file order, and ``skipped`` records (no or unparsable ``eventTime``) with a
    reason.  Raises a ``CloudTrailFormatError`` subclass when the file as a whole cannot be
    read (``CorruptGzip``, ``NotJSON``, ``TruncatedJSON``, ``MissingRecords``,
    ``MalformedLog``, ``LogTooLarge``); no records are returned then, so a caller that
    retries the file later cannot write a record twice.
    """
    buf = decompress(data, max_size)
    nbuf, placeholder = _neutralise(buf)
    return _build(_scan_buffer(nbuf), placeholder, len(buf))


def _build(items, placeholder, size):
    records = []
    skipped = []
    append = records.append
    for index, (raw, time_token, id_token) in enumerate(items):
        when = _time_of_token(time_token, placeholder)
        if placeholder is not None and placeholder in raw:
            raw = raw.replace(placeholder, b'"')
        event_id = _decode_token(id_token, placeholder)
        if when.__class__ is int:
            append(Record(raw, when, event_id))
        else:
            skipped.append(Skipped(index, when, event_id, len(raw)))
    return LogFile(records, skipped, size)


def split_records(buf):
    """Raw-limit splitter: the Records of a decompressed log as exact byte slices, nothing
    else (no eventTime/eventID).  Raises like ``parse_log``."""
    nbuf, placeholder = _neutralise(buf)
    bounds = _array_bounds(nbuf)
    if bounds is not None:
        array_open, array_close = bounds
        if array_close == array_open + 1:
            return []
        first = _PLAIN_RECORD_RE.match(nbuf, array_open + 1)
        if first is not None:
            found = _PLAIN_ITEM_RE.findall(nbuf, first.end(), array_close)
            if first.end() + sum(map(len, found)) + len(found) == array_close:
                found.insert(0, first.group())
                if placeholder is not None:
                    return [_restore(raw, placeholder) for raw in found]
                return found
    return [_restore(item[0], placeholder) for item in _scan_slow(nbuf)]


def parse_event(text):
    """Parse one LookupEvents ``CloudTrailEvent`` string (or bytes) into a ``Record``.

    ``raw`` is the UTF-8 encoding of the string (surrounding whitespace removed): the same
    bytes the record has in an S3 log file.  Raises ``BadEventTime`` when the event has no
    usable ``eventTime``, other ``CloudTrailFormatError`` subclasses when it is not a JSON
    object.
    """
    if isinstance(text, str):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from a "\\udXXX" escape decoded by the outer JSON): write them
            # back as JSON escapes, which keeps the record valid JSON with the same value.
            raw = re.sub(
                "[\ud800-\udfff]", lambda m: "\\u%04x" % ord(m.group()), text
            ).encode("utf-8")
    else:
        raw = bytes(text)
    raw = raw.strip(b" \t\r\n")
    if not raw:
        raise NotJSON("empty CloudTrailEvent")
    if raw[:1] != b"{":
        raise NotJSON("CloudTrailEvent is not a JSON object: %r" % raw[:32])
    nbuf, placeholder = _neutralise(raw)
    m = _RECORD_RE.match(nbuf)
    if m is not None:
        end, time_token, id_token = m.end(), m.group(1) or b"", m.group(2) or b""
    else:
        end, time_token, id_token = _scan_deep_record(nbuf, 0)
    if end != len(nbuf):
        raise MalformedLog("unexpected data after the CloudTrailEvent object", end)
    when = _time_of_token(time_token, placeholder)
    event_id = _decode_token(id_token, placeholder)
    if when.__class__ is not int:
        error = BadEventTime("event %s: %s" % (event_id or "(no eventID)", when))
        error.event_id = event_id
        raise error
    return Record(raw, when, event_id)
