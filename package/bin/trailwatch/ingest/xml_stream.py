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

``write_cloudtrail_log`` is the S3/SQS fast path: it escapes the whole decompressed log once
(the escapes cannot change its JSON structure), splits it with ``cloudtrail_records`` and
builds the stream with C-level joins, one cached ``<event>...<data>`` head per distinct
``eventTime``.  Events are buffered; ``flush()`` hands them to Splunk (call it before a
checkpoint is saved or an SQS message deleted).

Pure Python, standard library only, Python 3.9 to 3.13.
"""

import re
import sys
from itertools import chain
from operator import itemgetter
from typing import List, NamedTuple

from . import cloudtrail_records as _records

__all__ = ["EventStreamWriter", "LogWriteResult", "escape_data", "escape_text"]

_TAIL = b"</data><done/></event>"
_BATCH_RECORDS = 2048  # records per output join (~2.5 MB for typical records)

_FORBIDDEN = bytes(c for c in range(32) if c not in (9, 10))  # C0 controls + CR
_ALLOWED = bytes(c for c in range(256) if c not in _FORBIDDEN)
_FORBIDDEN_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NONCHAR_RE = re.compile("[\ufffe\uffff]")
_first = itemgetter(0)
_second = itemgetter(1)


class LogWriteResult(NamedTuple):
    written: int  #: events written
    skipped: List["_records.Skipped"]  #: records not written (no/invalid eventTime)
    size: int  #: decompressed size of the log, bytes
    repaired: int  #: characters rewritten to keep the XML valid (0 for valid JSON)


def _repair_control(match):
    return b"\\u%04x" % match.group()[0]


def _prepare(buf):
    """Escape a UTF-8 JSON buffer for XML element text.

    Returns ``(buffer, repairs, has_cr)``.  Carriage returns are left in place (they can
    only be whitespace between JSON tokens, which the splitter must still recognise); the
    caller writes them as ``&#13;`` after splitting when ``has_cr``."""
    repaired = 0
    if not buf.isascii():
        try:
            text = buf.decode("utf-8")
        except UnicodeDecodeError:
            before = buf.count(b"\xef\xbf\xbd")
            text = buf.decode("utf-8", "replace")
            buf = text.encode("utf-8")
            repaired += buf.count(b"\xef\xbf\xbd") - before
        if "\ufffe" in text or "\uffff" in text:
            repaired += text.count("\ufffe") + text.count("\uffff")
            buf = buf.replace(b"\xef\xbf\xbe", b"\\ufffe").replace(b"\xef\xbf\xbf", b"\\uffff")
        del text
    if b"&" in buf:
        buf = buf.replace(b"&", b"&amp;")
    if b"<" in buf:
        buf = buf.replace(b"<", b"&lt;")
    if b">" in buf:
        buf = buf.replace(b">", b"&gt;")
    special = buf.translate(None, _ALLOWED)
    has_cr = False
    if special:
        carriage_returns = special.count(b"\r")
        has_cr = carriage_returns > 0
        if carriage_returns < len(special):
            repaired += len(special) - carriage_returns
            buf = _FORBIDDEN_RE.sub(_repair_control, buf)
    return buf, repaired, has_cr


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
    data, _, has_cr = _prepare(bytes(data))
    return data.replace(b"\r", b"&#13;") if has_cr else data


def escape_text(value):
    """A header value (source, sourcetype, index, host) -> escaped UTF-8 bytes.

    Characters XML forbids are dropped (they cannot be part of a useful name)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = _NONCHAR_RE.sub("", str(value))
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

    @staticmethod
    def _meta(source, sourcetype, index, host):
        parts = []
        for tag, value in (
            (b"source", source),
            (b"sourcetype", sourcetype),
            (b"index", index),
            (b"host", host),
        ):
            if value is not None:
                parts.append(b"<%s>%s</%s>" % (tag, escape_text(value), tag))
        parts.append(b"<data>")
        return b"".join(parts)

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
                             host=None, max_size=_records.DEFAULT_MAX_SIZE):
        """Write every record of a CloudTrail log object (gzip or plain bytes) as an event.

        All-or-nothing per file: the file is decompressed and split completely before the
        first event is written, so a ``CloudTrailFormatError`` (corrupt gzip, not JSON,
        truncated, no Records) leaves the stream untouched.  Records without a usable
        ``eventTime`` are skipped and returned in ``LogWriteResult.skipped``.  Call
        ``flush()`` before acknowledging the file.
        """
        if self._closed:
            raise ValueError("stream is closed")
        buf = _records.decompress(data, max_size)
        size = len(buf)
        buf, repaired, has_cr = _prepare(buf)
        items = _records.scan_xml_escaped(buf)
        del buf

        meta = self._meta(source, sourcetype, index, host)
        heads = {}
        invalid = {}
        time_of = _records.time_of_token
        for token in set(map(_second, items)):
            when = time_of(token, None)
            if when.__class__ is int:
                heads[token] = b"".join((
                    _TAIL, b'<event unbroken="1"><time>',
                    _records.format_time(when).encode("ascii"), b"</time>", meta,
                ))
            else:
                invalid[token] = when
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

        head_of = heads.__getitem__
        skip = len(_TAIL)
        for start in range(0, len(items), _BATCH_RECORDS):
            batch = items[start:start + _BATCH_RECORDS]
            blob = b"".join(chain.from_iterable(
                zip(map(head_of, map(_second, batch)), map(_first, batch))  # noqa: B905 (3.9)
            ))
            if has_cr:
                blob = blob.replace(b"\r", b"&#13;")
            self._emit(memoryview(blob)[skip:])
            self._emit(_TAIL)
        self.events_written += len(items)
        return LogWriteResult(len(items), skipped, size, repaired)
