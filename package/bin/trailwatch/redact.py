"""Secrets must never reach a log file or a message: one registry of secret values seen by
this process (access keys' secrets, external ids, proxy passwords, temporary credentials),
and the means to scrub them from any text or log record.

The session factory registers every secret it handles; loggers made by trailwatch.splunk.logs
carry RedactingFilter. This is a safety net behind the rule "never format a secret into a
message", not a replacement for it.
"""
import logging
import threading

MASK = "********"
_MIN_LENGTH = 6  # shorter values are too likely to occur in ordinary text
_lock = threading.Lock()
_secrets = set()


def register(*values):
    with _lock:
        for value in values:
            if value and isinstance(value, str) and len(value) >= _MIN_LENGTH:
                _secrets.add(value)


def scrub(text):
    if not text or not _secrets:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Replaces registered secrets in a record's final message (msg % args)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem, not ours
            return True
        clean = scrub(message)
        if clean != message:
            record.msg = clean
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
