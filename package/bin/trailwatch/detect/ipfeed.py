"""IP feeds: download a list of addresses or ranges and store it as a range lookup.

The trailwatch_ip_feed input calls ``refresh_feed`` on its interval; the lookup it writes,
``lookups/trailwatch_ip_feed_<name>.csv`` (columns range, category, list, provider), is read by
trailwatchipclass next to the admin's own trailwatch_ip_ranges.csv. Formats:

- ``ips``: one IP address per line;
- ``cidrs``: one address, CIDR block or first-last range per line;
- ``csv``: a CSV file with a header; ``column`` names the column holding the range.

In the line formats, ``#`` and ``;`` start comments and anything after the first space or
tab on a line is ignored (as in Tor exit lists and Spamhaus DROP). Lines that are not ranges
are counted and skipped. The lookup is replaced atomically and only when the download
succeeded with at least one range, so a failed or empty download keeps the previous list.
"""
import csv
import io
import os
import re
import tempfile
import urllib.request

from .ipranges import CATEGORIES, RangeError, parse_range

FORMATS = ("ips", "cidrs", "csv")
MAX_BYTES = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FeedError(Exception):
    pass


def lookup_name(feed_name):
    if not _NAME.match(feed_name or ""):
        raise FeedError("feed name %r: use 1-64 letters, digits, '_' or '-'" % feed_name)
    return "trailwatch_ip_feed_%s.csv" % feed_name


def parse_feed(text, fmt, column=None):
    """(ranges, skipped): the range strings found in a feed body, and how many lines were not."""
    if fmt not in FORMATS:
        raise FeedError("format %r: use one of %s" % (fmt, ", ".join(FORMATS)))
    ranges, skipped = [], 0
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if not column or column not in (reader.fieldnames or []):
            raise FeedError("CSV feed has no column %r (columns: %s)"
                            % (column, ", ".join(reader.fieldnames or [])))
        values = (row.get(column) or "" for row in reader)
    else:
        values = (re.split(r"[#;]", line, maxsplit=1)[0] for line in text.splitlines())
    for value in values:
        value = value.strip().split(None, 1)[0] if value.strip() else ""
        if not value:
            continue
        try:
            version, first, last = parse_range(value)
        except RangeError:
            skipped += 1
            continue
        if fmt == "ips" and first != last:
            skipped += 1
            continue
        ranges.append(value)
    return ranges, skipped


def write_lookup(path, ranges, category, list_name, provider):
    """Replace the lookup at ``path`` atomically (temporary file in the same folder + rename)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".tw-feed-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["range", "category", "list", "provider"])
            for value in ranges:
                writer.writerow([value, category, list_name, provider])
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def download(url, timeout=60, opener=None):
    if not url.lower().startswith(("https://", "http://")):
        raise FeedError("feed URL must start with https:// or http://: %r" % url)
    request = urllib.request.Request(url, headers={"User-Agent": "TrailWatch-IP-feed/1"})
    open_url = opener.open if opener else urllib.request.urlopen
    try:
        with open_url(request, timeout=timeout) as response:
            body = response.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FeedError("cannot download %s: %s" % (url, exc))
    if len(body) > MAX_BYTES:
        raise FeedError("%s is larger than %d MB" % (url, MAX_BYTES // (1024 * 1024)))
    return body.decode("utf-8", "replace")


def refresh_feed(lookups_dir, name, url, fmt, category, column=None, provider="", timeout=60,
                 opener=None):
    """Download one feed and replace its lookup; returns a summary dict for the input's log."""
    if category not in CATEGORIES:
        raise FeedError("category %r: use one of %s" % (category, ", ".join(CATEGORIES)))
    path = os.path.join(lookups_dir, lookup_name(name))
    text = download(url, timeout=timeout, opener=opener)
    ranges, skipped = parse_feed(text, fmt, column)
    if not ranges:
        raise FeedError("%s gave no %s (%d lines skipped); keeping the previous list"
                        % (url, "IP addresses" if fmt == "ips" else "ranges", skipped))
    write_lookup(path, ranges, category, name, provider)
    return {"feed": name, "lookup": os.path.basename(path), "ranges": len(ranges),
            "skipped": skipped, "category": category}
