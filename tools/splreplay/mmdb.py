"""A small pure-Python reader for MaxMind DB (.mmdb) files, enough for ``iplocation``.

Implements the MaxMind DB format v2: the binary search tree (record sizes 24, 28, 32), IPv4
lookups in IPv6 trees (through the ::/96 subtree), and the data section types (pointers,
strings, doubles, floats, bytes, unsigned/signed integers, maps, arrays, booleans).
"""
import ipaddress
import struct

from .errors import InputError

_MARKER = b"\xab\xcd\xefMaxMind.com"


class MMDBReader:
    _cache = {}

    @classmethod
    def open_cached(cls, path):
        r = cls._cache.get(path)
        if r is None:
            r = cls._cache[path] = cls(path)
        return r

    def __init__(self, path):
        try:
            with open(path, "rb") as handle:
                self.buf = handle.read()
        except OSError as exc:
            raise InputError("--geoip %s: %s" % (path, exc)) from None
        pos = self.buf.rfind(_MARKER, max(0, len(self.buf) - 128 * 1024))
        if pos < 0:
            raise InputError("--geoip %s: not a MaxMind DB file (no metadata marker)" % path)
        self.data_start = 0
        meta, _ = self._decode(pos + len(_MARKER), base=pos + len(_MARKER))
        try:
            self.node_count = int(meta["node_count"])
            self.record_size = int(meta["record_size"])
            self.ip_version = int(meta["ip_version"])
        except (KeyError, TypeError, ValueError):
            raise InputError("--geoip %s: incomplete MaxMind DB metadata" % path) from None
        if self.record_size not in (24, 28, 32):
            raise InputError("--geoip %s: unsupported record size %d" % (path, self.record_size))
        self.meta = meta
        self.node_bytes = self.record_size * 2 // 8
        self.tree_size = self.node_count * self.node_bytes
        self.data_start = self.tree_size + 16
        self._ipv4_start = None

    # ---- tree
    def _record(self, node, bit):
        off = node * self.node_bytes
        b = self.buf
        if self.record_size == 24:
            o = off + bit * 3
            return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2]
        if self.record_size == 28:
            if bit == 0:
                return ((b[off + 3] & 0xF0) << 20) | (b[off] << 16) | (b[off + 1] << 8) | b[off + 2]
            return ((b[off + 3] & 0x0F) << 24) | (b[off + 4] << 16) | (b[off + 5] << 8) | b[off + 6]
        o = off + bit * 4
        return struct.unpack(">I", b[o:o + 4])[0]

    def _start_node(self, bits):
        if self.ip_version == 6 and bits == 32:
            if self._ipv4_start is None:
                node = 0
                for _ in range(96):
                    if node >= self.node_count:
                        break
                    node = self._record(node, 0)
                self._ipv4_start = node
            return self._ipv4_start
        return 0

    def get(self, ip_text):
        """The record for an IP address (dict), or None (not found or not an IP)."""
        try:
            ip = ipaddress.ip_address(ip_text)
        except ValueError:
            return None
        if ip.version == 6 and self.ip_version == 4:
            return None
        bits = 32 if ip.version == 4 else 128
        value = int(ip)
        node = self._start_node(bits)
        for i in range(bits):
            if node >= self.node_count:
                break
            bit = (value >> (bits - 1 - i)) & 1
            node = self._record(node, bit)
        if node == self.node_count:
            return None
        if node > self.node_count:
            offset = node - self.node_count - 16
            rec, _ = self._decode(self.data_start + offset, base=self.data_start)
            return rec
        return None

    # ---- data section
    def _decode(self, pos, base):
        b = self.buf
        ctrl = b[pos]
        pos += 1
        typ = ctrl >> 5
        if typ == 1:  # pointer
            ss = (ctrl >> 3) & 0x3
            vvv = ctrl & 0x7
            if ss == 0:
                ptr = (vvv << 8) | b[pos]
                pos += 1
            elif ss == 1:
                ptr = ((vvv << 16) | (b[pos] << 8) | b[pos + 1]) + 2048
                pos += 2
            elif ss == 2:
                ptr = ((vvv << 24) | (b[pos] << 16) | (b[pos + 1] << 8) | b[pos + 2]) + 526336
                pos += 3
            else:
                ptr = struct.unpack(">I", b[pos:pos + 4])[0]
                pos += 4
            value, _ = self._decode(base + ptr, base)
            return value, pos
        if typ == 0:
            typ = 7 + b[pos]
            pos += 1
        size = ctrl & 0x1F
        if size == 29:
            size = 29 + b[pos]
            pos += 1
        elif size == 30:
            size = 285 + ((b[pos] << 8) | b[pos + 1])
            pos += 2
        elif size == 31:
            size = 65821 + ((b[pos] << 16) | (b[pos + 1] << 8) | b[pos + 2])
            pos += 3
        if typ == 2:
            return b[pos:pos + size].decode("utf-8"), pos + size
        if typ == 3:
            return struct.unpack(">d", b[pos:pos + 8])[0], pos + 8
        if typ == 4:
            return bytes(b[pos:pos + size]), pos + size
        if typ in (5, 6, 9, 10):
            return int.from_bytes(b[pos:pos + size], "big"), pos + size
        if typ == 8:
            raw = b[pos:pos + size].rjust(4, b"\x00")
            return struct.unpack(">i", raw)[0], pos + size
        if typ == 7:
            out = {}
            for _ in range(size):
                key, pos = self._decode(pos, base)
                val, pos = self._decode(pos, base)
                out[key] = val
            return out, pos
        if typ == 11:
            out = []
            for _ in range(size):
                val, pos = self._decode(pos, base)
                out.append(val)
            return out, pos
        if typ == 14:
            return bool(size), pos
        if typ == 15:
            return struct.unpack(">f", b[pos:pos + 4])[0], pos + 4
        if typ in (12, 13):
            return None, pos
        raise InputError("MaxMind DB: unknown data type %d" % typ)
