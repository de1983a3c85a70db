"""Classify IP addresses against CIDR lists: sorted disjoint intervals searched with bisect.

Lists have the columns ``range,category,list,provider``: the admin's own list (the KV store
lookup ``trailwatch_ip_ranges``, read by the caller) and the feed lookups (CSV files the
trailwatch_ip_feed input writes). ``range`` is an IPv4/IPv6 address, a CIDR block or
``first-last``. Where ranges overlap the most specific
(smallest) one wins; identical ranges keep the one loaded first (the admin's own list is
loaded before feeds). Building the table is O(n log n); a lookup is one bisect.
"""
import bisect
import csv
import glob
import heapq
import ipaddress
import os
import socket

CATEGORIES = ("risky", "anonymous", "suspicious", "corporate", "cloud_provider")
RANGE_COLUMNS = ("range", "category", "list", "provider")

# The admin's editable list first (it wins ties), then every feed the input refreshes.
ADMIN_LOOKUP = "trailwatch_ip_ranges"
FEED_LOOKUP_GLOB = "trailwatch_ip_feed_*.csv"

_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_from_bytes = int.from_bytes
_bisect_right = bisect.bisect_right


class RangeError(ValueError):
    """A range that is not an address, a CIDR block or first-last."""


def parse_range(text):
    """(version, first, last) of an address, CIDR block or ``first-last`` range.

    Addresses and ``address/prefix`` blocks (nearly every row of a feed) are parsed with
    socket.inet_pton, in C; anything else (ranges, netmask forms, mistakes) goes through the
    ipaddress module, which also words the errors. Host bits of a block are ignored, as
    ``ipaddress.ip_network(strict=False)`` does."""
    text = (text or "").strip()
    if not text:
        raise RangeError("empty range")
    quick = _quick_block(text)
    return quick if quick is not None else _parse_range_full(text)


def _quick_block(text):
    """(version, first, last) of ``address`` or ``address/prefix``; None for anything else."""
    address, slash, prefix = text.partition("/")
    if slash and not (prefix.isascii() and prefix.isdigit()):
        return None
    for family, bits, version in ((_AF_INET, 32, 4), (_AF_INET6, 128, 6)):
        try:
            value = _from_bytes(_inet_pton(family, address), "big")
        except (OSError, ValueError):
            continue
        length = int(prefix) if slash else bits
        if length > bits:
            return None
        host = (1 << (bits - length)) - 1
        first = value & ~host
        return version, first, first | host
    return None


def _parse_range_full(text):
    """parse_range through the ipaddress module (every form it accepts, worded errors)."""
    try:
        if "-" in text and "/" not in text:
            left, right = (part.strip() for part in text.split("-", 1))
            first, last = ipaddress.ip_address(left), ipaddress.ip_address(right)
            if first.version != last.version:
                raise RangeError("range %r mixes IPv4 and IPv6" % text)
            if int(first) > int(last):
                raise RangeError("range %r ends before it starts" % text)
            return first.version, int(first), int(last)
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise RangeError("%r is not an IP address, CIDR block or first-last range (%s)"
                         % (text, exc))
    return net.version, int(net.network_address), int(net.broadcast_address)


def parse_ip(text):
    """(version, integer) for an IPv4/IPv6 literal, None for anything else.

    Source addresses such as ``AWS Internal`` or ``ec2.amazonaws.com`` are not IPs and give
    None; IPv4-mapped IPv6 (``::ffff:198.51.100.7``) is treated as the IPv4 address.
    (socket.inet_pton: strict dotted quads and RFC 4291 text, parsed in C.)
    """
    if not text:
        return None
    try:
        return 4, _from_bytes(_inet_pton(_AF_INET, text), "big")
    except (OSError, ValueError, TypeError):
        pass
    if ":" not in text:
        return None
    try:
        value = _from_bytes(_inet_pton(_AF_INET6, text.split("%", 1)[0]), "big")
    except (OSError, ValueError, TypeError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


def is_public(text):
    """True for a global unicast address (not private, loopback, link-local, reserved...)."""
    try:
        return ipaddress.ip_address(text.strip()).is_global
    except (ValueError, AttributeError):
        return False


class _Table:
    """Disjoint, sorted intervals of one IP version with their labels."""

    __slots__ = ("starts", "ends", "labels")

    def __init__(self):
        self.starts = []
        self.ends = []
        self.labels = []

    def find(self, value):
        i = bisect.bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.ends[i]:
            return self.labels[i]
        return None


def _flatten(entries):
    """Disjoint segments from (first, last, order, label) ranges; the smallest range wins.

    Sweep over the range boundaries with a list of the ranges that cover the current point;
    the winner at a point is the covering range with the smallest size (then lowest order).
    """
    boundaries = sorted({e[0] for e in entries} | {e[1] + 1 for e in entries})
    by_start = sorted(entries, key=lambda e: e[0])
    active = []  # heap of (size, order, last, label)
    out_starts, out_ends, out_labels = [], [], []
    j = 0
    for n, point in enumerate(boundaries[:-1]):
        while j < len(by_start) and by_start[j][0] == point:
            first, last, order, label = by_start[j]
            heapq.heappush(active, (last - first, order, last, label))
            j += 1
        while active and active[0][2] < point:
            heapq.heappop(active)
        if not active:
            continue
        # Ranges that ended are dropped lazily: the top may still be stale.
        label = active[0][3]
        end = boundaries[n + 1] - 1
        if out_labels and out_labels[-1] == label and out_ends[-1] + 1 == point:
            out_ends[-1] = end
        else:
            out_starts.append(point)
            out_ends.append(end)
            out_labels.append(label)
    return out_starts, out_ends, out_labels


class IpClassifier:
    """Answers (category, list, provider) for an IP string from loaded ranges."""

    def __init__(self, ranges=()):
        """``ranges``: iterable of (range_text, category, list_name, provider)."""
        entries = {4: [], 6: []}
        self.errors = []
        self.file_errors = []
        self.count = 0
        for order, (text, category, list_name, provider) in enumerate(ranges):
            try:
                version, first, last = parse_range(text)
            except RangeError as exc:
                self.errors.append(str(exc))
                continue
            if category not in CATEGORIES:
                self.errors.append("%r: unknown category %r (use one of %s)"
                                   % (text, category, ", ".join(CATEGORIES)))
                continue
            label = (category, list_name or "", provider or "")
            entries[version].append((first, last, order, label))
            self.count += 1
        self._tables = {}
        for version, items in entries.items():
            table = _Table()
            if items:
                table.starts, table.ends, table.labels = _flatten(items)
            self._tables[version] = table
        self._v4 = self._tables[4]

    def classify(self, text):
        """(category, list, provider) or None when the address is in no list or not an IP."""
        try:
            value = _from_bytes(_inet_pton(_AF_INET, text), "big")
            table = self._v4
        except (OSError, ValueError, TypeError):
            parsed = parse_ip(text)
            if parsed is None:
                return None
            table = self._tables[parsed[0]]
            value = parsed[1]
        starts = table.starts
        i = _bisect_right(starts, value) - 1
        if i >= 0 and value <= table.ends[i]:
            return table.labels[i]
        return None


def read_range_rows(path):
    """Rows (range, category, list, provider) of one lookup CSV; the list defaults to its file."""
    default_list = os.path.splitext(os.path.basename(path))[0]
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if "range" not in header:
            raise RangeError("%s has no 'range' column (expected columns: %s)"
                             % (os.path.basename(path), ", ".join(RANGE_COLUMNS)))
        # Column positions; a column the file lacks (or a short row) reads as empty.
        where = [header.index(name) if name in header else None for name in RANGE_COLUMNS]
        width = 1 + max(i for i in where if i is not None)
        for row in reader:
            if len(row) < width:
                row = row + [""] * (width - len(row))
            text, category, list_name, provider = (
                "" if i is None else row[i].strip() for i in where)
            if not text or text.startswith("#"):
                continue
            yield text, category.lower(), list_name or default_list, provider


def lookup_files(lookups_dir):
    """The feed lookups, in name order."""
    return sorted(glob.glob(os.path.join(lookups_dir, FEED_LOOKUP_GLOB)))


def admin_range_rows(rows):
    """(range, category, list, provider) of the admin list's rows (dicts), in order."""
    for row in rows:
        text = str(row.get("range") or "").strip()
        if not text or text.startswith("#"):
            continue
        yield (text, str(row.get("category") or "").strip().lower(),
               str(row.get("list") or "").strip() or ADMIN_LOOKUP,
               str(row.get("provider") or "").strip())


def load_classifier(lookups_dir, admin_rows=()):
    """An IpClassifier over the admin list's rows (first: they win ties) and every feed
    lookup in ``lookups_dir``, plus the feed files read.

    A lookup that cannot be used (no ``range`` column, unreadable, not UTF-8) is skipped from
    where it failed, and the problem is kept in the classifier's ``file_errors``."""
    files = lookup_files(lookups_dir)
    file_errors = []

    def rows():
        for row in admin_range_rows(admin_rows):
            yield row
        for path in files:
            try:
                for row in read_range_rows(path):
                    yield row
            except RangeError as exc:  # its message names the file
                file_errors.append(str(exc))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                file_errors.append("%s: %s" % (os.path.basename(path), exc))

    classifier = IpClassifier(rows())
    classifier.file_errors = file_errors
    return classifier, files
