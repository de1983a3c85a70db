"""Timestamps as TrailWatch writes them (events, audit records, policies, logs): ISO 8601 in
UTC, to the second, with a Z, e.g. 2024-03-05T09:00:00Z."""
import datetime

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
_UTC = datetime.timezone.utc


def iso_utc(value):
    """A datetime (naive ones are taken as UTC) or epoch seconds as 2024-03-05T09:00:00Z;
    anything else (None, a string AWS already formatted) is returned unchanged."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        return value.astimezone(_UTC).strftime(ISO_UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, tz=_UTC).strftime(ISO_UTC)
    return value
