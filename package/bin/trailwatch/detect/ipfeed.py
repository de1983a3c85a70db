"""IP feeds: download a list of addresses or ranges and store it as a range lookup.

The trailwatch_ip_feed input calls ``refresh_feed`` on its interval; the lookup it writes,
``lookups/trailwatch_ip_feed_<name>.csv`` (columns range, category, list, provider), is read by
trailwatchipclass next to the admin's own trailwatch_ip_ranges. Formats:

- ``ips``: one IP address per line;
- ``cidrs``: one address, CIDR block or first-last range per line;
- ``csv``: a CSV file with a header; ``column`` names the column holding the range.

In the line formats, ``#`` and ``;`` start comments and anything after the first space or
tab on a line is ignored (as in Tor exit lists and Spamhaus DROP). Lines that are not ranges
are counted and skipped. The lookup is replaced atomically and only when the download
succeeded with at least one range, so a failed or empty download keeps the previous list.

A feed decides which sign-ins the detections call risky, so it is not trusted blindly:
it is downloaded over HTTPS only (certificate checked), a redirect may not leave the feed's
scheme, host and port, the add-on's configured proxy is used, and a range broader than
``/8`` (IPv4) or ``/16`` (IPv6), such as ``0.0.0.0/0`` or ``::/0``, is refused: one such
line would put a large share of the internet, or all of it, in the feed's category.
"""
import csv
import io
import os
import re
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from .ipranges import CATEGORIES, RangeError, parse_range

FORMATS = ("ips", "cidrs", "csv")
MAX_BYTES = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: The broadest range a feed may list: a /8 of IPv4 and a /16 of IPv6 (addresses in it).
MAX_RANGE_SIZE = {4: 1 << (32 - 8), 6: 1 << (128 - 16)}


class FeedError(Exception):
    pass


def lookup_name(feed_name):
    if not _NAME.match(feed_name or ""):
        raise FeedError("feed name %r: use 1-64 letters, digits, '_' or '-'" % feed_name)
    return "trailwatch_ip_feed_%s.csv" % feed_name


def parse_feed(text, fmt, column=None, too_broad=None):
    """(ranges, skipped): the range strings found in a feed body, and how many lines were not.
    Ranges broader than ``MAX_RANGE_SIZE`` are skipped too, and appended to the list
    ``too_broad`` when one is given."""
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
        if last - first + 1 > MAX_RANGE_SIZE[version]:
            skipped += 1
            if too_broad is not None:
                too_broad.append(value)
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


def check_url(url):
    """Refuse a feed URL that is not https:// with a host."""
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise FeedError("feed URL must be an https:// URL (over plain http anyone on the "
                        "path could rewrite the list): %r" % url)
    return parts


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme, host and port as the request."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old = urllib.parse.urlsplit(req.full_url)
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (new.scheme.lower(), new.hostname, new.port) != (old.scheme.lower(), old.hostname,
                                                             old.port):
            raise FeedError("%s redirects to %s://%s, another origin than the feed's; not "
                            "followed (set the feed's URL to where it now lives if that is "
                            "expected)" % (req.full_url, new.scheme, new.netloc))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(proxy):
    """urllib opener: verified TLS, same-origin redirects, the configured proxy (a
    ``ProxyConfig``) or, without one, the environment's proxy settings."""
    handlers = [_SameOriginRedirects(), urllib.request.HTTPSHandler(
        context=ssl.create_default_context())]
    if proxy is not None:
        if proxy.scheme != "http":
            raise FeedError("IP feeds reach HTTPS sites through an http proxy (CONNECT) only; "
                            "the configured proxy is of type %s" % proxy.scheme)
        handlers.append(urllib.request.ProxyHandler({"https": proxy.url()}))
    return urllib.request.build_opener(*handlers)


def download(url, timeout=60, proxy=None):
    check_url(url)
    request = urllib.request.Request(url, headers={"User-Agent": "TrailWatch-IP-feed/1"})
    try:
        with _opener(proxy).open(request, timeout=timeout) as response:
            body = response.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FeedError("cannot download %s: %s" % (url, exc))
    if len(body) > MAX_BYTES:
        raise FeedError("%s is larger than %d MB" % (url, MAX_BYTES // (1024 * 1024)))
    return body.decode("utf-8", "replace")


def refresh_feed(lookups_dir, name, url, fmt, category, column=None, provider="", timeout=60,
                 proxy=None):
    """Download one feed and replace its lookup; returns a summary dict for the input's log."""
    if category not in CATEGORIES:
        raise FeedError("category %r: use one of %s" % (category, ", ".join(CATEGORIES)))
    path = os.path.join(lookups_dir, lookup_name(name))
    text = download(url, timeout=timeout, proxy=proxy)
    too_broad = []
    ranges, skipped = parse_feed(text, fmt, column, too_broad)
    if not ranges:
        raise FeedError("%s gave no %s (%d lines skipped); keeping the previous list"
                        % (url, "IP addresses" if fmt == "ips" else "ranges", skipped))
    write_lookup(path, ranges, category, name, provider)
    return {"feed": name, "lookup": os.path.basename(path), "ranges": len(ranges),
            "skipped": skipped, "category": category, "too_broad": too_broad}
