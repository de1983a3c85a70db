"""Modular-input XML event stream, written fast and correctly.

Splunk reads a modular input's stdout in XML streaming mode as::

    <stream><event unbroken="1"><time>1714564800.123</time><source>s3://b/k</source>
    <sourcetype>aws:cloudtrail</sourcetype><index>main</index><data>{...}</data><done/>
    </event>...</stream>

This writer produces the same elements, in the same order, as splunklib's
``Event.write_to``/``EventWriter`` (``tests/ingest`` compares the two), with these
differences, all of which parse to the same text:

* Output is UTF-8 (Splunk: "In XML streaming mode, the XML stream itself must be encoded in
  UTF-8"); splunklib's ElementTree writes non-ASCII characters as ``&#NNN;`` references.
* ``&``, ``<`` and ``>`` are escaped as ElementTree does; a carriage return in data is
  written as ``&#13;`` because an XML parser would otherwise turn it into a line feed
  (ElementTree writes it raw), so the data Splunk receives stays byte-identical.
* Characters XML 1.0 forbids (C0 controls other than tab/newline/CR, U+FFFE, U+FFFF) are
  written as JSON escapes (``\\u0001``): inside a JSON string, where valid JSON can hold
  U+FFFE/U+FFFF raw, that keeps the record valid JSON with the *same value*; raw control
  characters are not valid JSON anywhere, so such a record was already broken.  ElementTree
  writes them raw, producing XML no parser accepts.  Invalid UTF-8 is replaced by U+FFFD.
  Every such repair is counted (``repaired``) so the input can log it.
* Escaped quotes inside JSON strings (``\\"``) are written ``\\&quot;`` by the fast path
  (a side effect of how it splits records); the parsed text is the same.

``write_cloudtrail_log`` is the S3/SQS fast path: one ``bytes.translate`` pass finds whether
the decompressed log holds anything needing escaping (usually only a few ``&``), the whole
log is escaped at once (the escapes cannot change its JSON structure), split with
``cloudtrail_records``, and the stream is built with C-level joins of cached
``</data><done/></event><event unbroken="1"><time>...</time>`` parts (one per distinct
``eventTime``), the file's header elements and the record bytes.  Events are buffered;
``flush()`` hands them to Splunk (call it before a checkpoint is saved or an SQS message is
deleted).

Splunk's own parser is not available to test against here, so the stream is kept to what any
conforming XML 1.0 parser reads back exactly (the tests parse it with ElementTree and compare
the data with the source bytes); no leniency of Splunk's parser is relied on.

Pure Python, standard library only, Python 3.9 to 3.13.
"""

import re
import sys
from itertools import chain, repeat
from operator import itemgetter
from typing import List, NamedTuple

from . import cloudtrail_records as _records

__all__ = ["EventStreamWriter", "LogWriteResult", "escape_data", "escape_text"]

_TAIL = b"</data><done/></event>"
_BATCH_RECORDS = 2048  # records per output join (~2.5 MB for typical records)
# eventTime token -> b"</data><done/></event><event unbroken=\"1\"><time>...</time>", or
# the reason (str) the token is unusable.  Shared by all files: a few hundred seconds each.
_TIME_PARTS = {}
_TIME_PARTS_MAX = 65536
_CHUNK = 1 << 20

_FORBIDDEN = bytes(c for c in range(32) if c not in (9, 10))  # C0 controls + CR
_ALLOWED = bytes(c for c in range(256) if c not in _FORBIDDEN)
# Bytes that need no attention at all in XML text: printable ASCII but & < >, tab, newline.
_PLAIN = bytes(c for c in range(128) if c not in _FORBIDDEN and c not in b"&<>")
_FORBIDDEN_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NONCHAR_RE = re.compile("[\ufffe\uffff]")
_TEXT_SPECIAL = re.compile("[&<>]")
_first = itemgetter(0)
_second = itemgetter(1)


class LogWriteResult(NamedTuple):
    written: int  #: events written
    skipped: List["_records.Skipped"]  #: records not written (no/invalid eventTime)
    size: int  #: decompressed size of the log, bytes
    repaired: int  #: characters rewritten to keep the XML valid (0 for valid JSON)


def _repair_control(match):
    return b"\\u%04x" % match.group()[0]


def _valid_utf8(buf):
    """Validate UTF-8 in 1 MB steps (never a whole-file str: a str of a mostly ASCII file
    with one emoji would take four times its size) and look for U+FFFE/U+FFFF on the way.
    Invalid sequences become U+FFFD.  Returns ``(buffer, repairs, has_nonchar)``."""
    size = len(buf)
    view = memoryview(buf)
    has_nonchar = False
    try:
        start = 0
        while start < size:
            end = min(start + _CHUNK, size)
            for _ in range(3):  # do not split a character (at most 3 continuation bytes)
                if end >= size or buf[end] & 0xC0 != 0x80:
                    break
                end -= 1
            text = str(view[start:end], "utf-8")
            if not has_nonchar and ("\ufffe" in text or "\uffff" in text):
                has_nonchar = True
            start = end
        return buf, 0, has_nonchar
    except UnicodeDecodeError:
        pass
    finally:
        view.release()
    fixed = buf.decode("utf-8", "replace").encode("utf-8")  # rare: a broken file
    marker = b"\xef\xbf\xbd"
    has_nonchar = b"\xef\xbf\xbe" in fixed or b"\xef\xbf\xbf" in fixed
    return fixed, fixed.count(marker) - buf.count(marker), has_nonchar


def _prepare(holder, defer_utf8=False):
    """Escape the UTF-8 JSON buffer in ``holder`` (a one-element list) for XML element text,
    replacing it in the list, so that no caller keeps a reference to an older copy.

    Returns ``(repairs, has_cr, needs_utf8)``.  Carriage returns are left in place (they can
    only be whitespace between JSON tokens, which the splitter must still recognise); the
    caller writes them as ``&#13;`` after splitting when ``has_cr``.  With ``defer_utf8``
    non-ASCII text is not checked here: ``needs_utf8`` tells the caller to check the
    records that hold some (``_check_records``), usually a small share of a log."""
    buf = holder.pop()
    repaired = 0
    has_cr = False
    needs_utf8 = False
    # One pass finds everything that may need work: C0 controls (incl. CR), & < > and
    # non-ASCII bytes.  Typical CloudTrail logs yield a few bytes here, or none.
    special = buf.translate(None, _PLAIN)
    if special:
        if not special.isascii() and defer_utf8:
            needs_utf8 = True
        elif not special.isascii():
            buf, repaired, has_nonchar = _valid_utf8(buf)
            if has_nonchar:  # U+FFFE, U+FFFF
                repaired += buf.count(b"\xef\xbf\xbe") + buf.count(b"\xef\xbf\xbf")
                buf = buf.replace(b"\xef\xbf\xbe", b"\\ufffe").replace(b"\xef\xbf\xbf", b"\\uffff")
        if b"&" in special:
            buf = buf.replace(b"&", b"&amp;")
        if b"<" in special:
            buf = buf.replace(b"<", b"&lt;")
        if b">" in special:
            buf = buf.replace(b">", b"&gt;")
        controls = special.translate(None, _ALLOWED)
        if controls:
            carriage_returns = controls.count(b"\r")
            has_cr = carriage_returns > 0
            if carriage_returns < len(controls):
                repaired += len(controls) - carriage_returns
                buf = _FORBIDDEN_RE.sub(_repair_control, buf)
    holder.append(buf)
    return repaired, has_cr, needs_utf8


def _check_records(items):
    """UTF-8 validity and U+FFFE/U+FFFF of the non-ASCII records in ``items`` (list of
    ``(record, token, ...)``), repaired in place.  Returns the number of repairs."""
    repaired = 0
    non_ascii = [i for i, ascii in enumerate(map(bytes.isascii, map(_first, items)))
                 if not ascii]
    for i in non_ascii:
        item = items[i]
        raw = item[0]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            marker = b"\xef\xbf\xbd"
            fixed = raw.decode("utf-8", "replace").encode("utf-8")
            repaired += fixed.count(marker) - raw.count(marker)
            raw = fixed
            text = raw.decode("utf-8")
        if "\ufffe" in text or "\uffff" in text:
            repaired += text.count("\ufffe") + text.count("\uffff")
            raw = raw.replace(b"\xef\xbf\xbe", b"\\ufffe").replace(b"\xef\xbf\xbf", b"\\uffff")
        if raw is not item[0]:
            items[i] = (raw,) + tuple(item[1:])
    return repaired


def _unescape(data):
    """Inverse of ``_prepare`` for valid input (used to report skipped records)."""
    if b"&" in data:
        data = (data.replace(b"&quot;", b'"').replace(b"&lt;", b"<").replace(b"&gt;", b">")
                .replace(b"&#13;", b"\r").replace(b"&amp;", b"&"))
    return data


def escape_data(data):
    """Event data (str or bytes) -> escaped UTF-8 bytes for a ``<data>`` element."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    holder = [bytes(data)]
    _, has_cr, _ = _prepare(holder)
    data = holder[0]
    return data.replace(b"\r", b"&#13;") if has_cr else data


def escape_text(value):
    """A header value (source, sourcetype, index, host) -> escaped UTF-8 bytes.

    Characters XML forbids are dropped (they cannot be part of a useful name)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value)
    if value.isascii() and value.isprintable() and not _TEXT_SPECIAL.search(value):
        return value.encode("ascii")  # the usual case: nothing to escape
    value = _NONCHAR_RE.sub("", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    data = value.encode("utf-8", "replace")
    if data.translate(None, _ALLOWED):
        data = data.replace(b"\r", b"&#13;").translate(None, _FORBIDDEN)
    return data


def _format_time(time):
    if time is None:
        return None
    if isinstance(time, str):
        return time.encode("ascii")
    if isinstance(time, bytes):
        return time
    return b"%.3f" % time


class EventStreamWriter:
    """Buffered writer of Splunk's modular-input XML event stream.

    ``out`` is a binary stream (default ``sys.stdout.buffer``).  Output is buffered up to
    ``buffer_bytes``; ``flush()`` writes it and flushes ``out``.  ``close()`` ends the
    stream.  Not thread-safe: one writer per thread, or serialise the calls.
    """

    def __init__(self, out=None, buffer_bytes=1 << 20):
        self._out = out if out is not None else sys.stdout.buffer
        self._limit = buffer_bytes
        self._pending = []
        self._pending_size = 0
        self._started = False
        self._closed = False
        self.events_written = 0
        self.bytes_written = 0
        self._meta_tails = {}

    # -- output -----------------------------------------------------------------------

    def _emit(self, chunk):
        if not self._started:
            self._started = True
            self._emit(b"<stream>")
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= self._limit:
            self._drain()

    def _drain(self):
        if self._pending:
            blob = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
            self._out.write(blob)
            self.bytes_written += len(blob)

    def flush(self):
        """Write everything buffered and flush the output: the events are then Splunk's."""
        self._drain()
        flush = getattr(self._out, "flush", None)
        if flush is not None:
            flush()

    def close(self):
        """End the stream (``</stream>``) and flush.  Idempotent."""
        if self._closed:
            return
        if self._started:
            self._pending.append(b"</stream>")
            self._pending_size += 9
        self._closed = True
        self.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- heads ----------------------------------------------------------------------

    def _meta(self, source, sourcetype, index, host):
        """``<source>..</source>...<data>`` for one file; the part after the source is
        cached (it is the same for every file of an input)."""
        key = (sourcetype, index, host)
        tail = self._meta_tails.get(key)
        if tail is None:
            parts = []
            for tag, value in ((b"sourcetype", sourcetype), (b"index", index), (b"host", host)):
                if value is not None:
                    parts.append(b"<%s>%s</%s>" % (tag, escape_text(value), tag))
            parts.append(b"<data>")
            tail = b"".join(parts)
            if len(self._meta_tails) > 64:
                self._meta_tails.clear()
            self._meta_tails[key] = tail
        if source is None:
            return tail
        return b"<source>" + escape_text(source) + b"</source>" + tail

    @staticmethod
    def _open_tag(stanza, unbroken):
        if stanza is None:
            return b'<event unbroken="%d">' % int(bool(unbroken))
        stanza = escape_text(stanza).replace(b'"', b"&quot;")
        return b'<event stanza="%s" unbroken="%d">' % (stanza, int(bool(unbroken)))

    # -- events ---------------------------------------------------------------------

    def write_event(self, data, time=None, source=None, sourcetype=None, index=None,
                    host=None, stanza=None, unbroken=True, done=True):
        """Write one event.  ``data``: str or bytes; ``time``: epoch seconds (float/int,
        written with 3 decimals) or the ``<time>`` text itself (str)."""
        if self._closed:
            raise ValueError("stream is closed")
        if data is None:
            raise ValueError("an event needs data")
        parts = [self._open_tag(stanza, unbroken)]
        time_text = _format_time(time)
        if time_text is not None:
            parts.append(b"<time>%s</time>" % time_text)
        parts.append(self._meta(source, sourcetype, index, host))
        parts.append(escape_data(data))
        parts.append(b"</data><done/></event>" if done else b"</data></event>")
        self._emit(b"".join(parts))
        self.events_written += 1

    def write_records(self, records, source, sourcetype="aws:cloudtrail", index=None,
                      host=None):
        """Write ``cloudtrail_records.Record`` objects (e.g. from LookupEvents) as events,
        ``_time`` from eventTime.  Returns the number written."""
        if self._closed:
            raise ValueError("stream is closed")
        meta = self._meta(source, sourcetype, index, host)
        count = 0
        for record in records:
            self._emit(b"".join((
                b'<event unbroken="1"><time>',
                _records.format_time(record.time_ms).encode("ascii"),
                b"</time>",
                meta,
                escape_data(record.raw),
                _TAIL,
            )))
            count += 1
        self.events_written += count
        return count

    def write_cloudtrail_log(self, data, source, sourcetype="aws:cloudtrail", index=None,
                             host=None, max_size=_records.DEFAULT_MAX_SIZE, account=None):
        """Write every record of a CloudTrail log object (gzip or plain bytes) as an event.

        All-or-nothing per file: the file is decompressed and split completely before the
        first event is written, so a ``CloudTrailFormatError`` (corrupt gzip, not JSON,
        truncated, no Records) leaves the stream untouched.  Records without a usable
        ``eventTime`` are skipped and returned in ``LogWriteResult.skipped``.  Call
        ``flush()`` before acknowledging the file.  With ``account`` (the account the log's
        key is filed under) a log holding a record of another account is refused
        (``WrongAccount``), and ``max_size`` caps the decompressed size (``LogTooLarge``).
        """
        if self._closed:
            raise ValueError("stream is closed")
        holder = [_records.decompress(data, max_size)]
        size = len(holder[0])
        repaired, has_cr, needs_utf8 = _prepare(holder, defer_utf8=True)
        if account is not None:
            counts = _records.recipient_counts(holder[0], account)
        items = _records.scan_xml_escaped(holder)  # empties holder: one buffer alive at a time
        if account is not None:
            _records.check_recipient_account(counts, items, account)
        if needs_utf8:
            repaired += _check_records(items)

        meta = self._meta(source, sourcetype, index, host)
        shared = _TIME_PARTS  # shared by writers (threads): read once per token
        parts = {}
        invalid = {}
        for token in set(map(_second, items)):
            part = shared.get(token)
            if part is None:
                when = _records.time_of_token(token, None)
                if when.__class__ is int:
                    part = b"".join((_TAIL, b'<event unbroken="1"><time>',
                                     _records.format_time(when).encode("ascii"), b"</time>"))
                else:
                    part = when
                if len(shared) >= _TIME_PARTS_MAX:
                    shared.clear()
                shared[token] = part
            if part.__class__ is str:
                invalid[token] = part
            else:
                parts[token] = part
        skipped = []
        if invalid:
            kept = []
            for position, item in enumerate(items):
                reason = invalid.get(item[1])
                if reason is None:
                    kept.append(item)
                else:
                    raw = _unescape(item[0])
                    skipped.append(_records.Skipped(
                        position, reason, _records.record_event_id(raw), len(raw)
                    ))
            items = kept

        part_of = parts.__getitem__
        skip = len(_TAIL)
        for start in range(0, len(items), _BATCH_RECORDS):
            batch = items[start:start + _BATCH_RECORDS]
            blob = b"".join(chain.from_iterable(zip(  # noqa: B905 (Python 3.9)
                map(part_of, map(_second, batch)), repeat(meta), map(_first, batch)
            )))
            if has_cr:
                blob = blob.replace(b"\r", b"&#13;")
            self._emit(memoryview(blob)[skip:])
            self._emit(_TAIL)
        self.events_written += len(items)
        return LogWriteResult(len(items), skipped, size, repaired)
