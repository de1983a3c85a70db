"""A tiny MaxMind DB writer (IPv6 tree, 32-bit records, no data pointers): the GeoIP databases
of the tests and of the demo (`./build.sh demo`), made up at run time for `--geoip`.

Networks must not overlap. IPv4 networks go under ::/96, as MaxMind's own databases do.
"""
import ipaddress
import struct
import time


def _size_ctrl(typ, size):
    ext = typ > 7
    head = 0 if ext else typ << 5
    extra = b""
    if size < 29:
        head |= size
    elif size < 285:
        head |= 29
        extra = bytes([size - 29])
    elif size < 65821:
        head |= 30
        extra = (size - 285).to_bytes(2, "big")
    else:
        head |= 31
        extra = (size - 65821).to_bytes(3, "big")
    return bytes([head]) + (bytes([typ - 7]) if ext else b"") + extra


def encode(value):
    if isinstance(value, bool):
        return _size_ctrl(14, int(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _size_ctrl(2, len(raw)) + raw
    if isinstance(value, float):
        return _size_ctrl(3, 8) + struct.pack(">d", value)
    if isinstance(value, int):
        raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big") if value else b""
        return _size_ctrl(6 if value < 2 ** 32 else 9, len(raw)) + raw
    if isinstance(value, dict):
        out = _size_ctrl(7, len(value))
        for k, v in value.items():
            out += encode(str(k)) + encode(v)
        return out
    if isinstance(value, (list, tuple)):
        out = _size_ctrl(11, len(value))
        for v in value:
            out += encode(v)
        return out
    raise TypeError(type(value))


def write_mmdb(path, networks, database_type="GeoLite2-City"):
    """networks: {cidr: record dict}."""
    nodes = [[None, None]]
    data = b""
    leaves = []
    for cidr, record in networks.items():
        net = ipaddress.ip_network(cidr)
        value = int(net.network_address)
        plen = net.prefixlen
        if net.version == 4:
            bits, plen = [0] * 96 + [(value >> (31 - i)) & 1 for i in range(32)], plen + 96
        else:
            bits = [(value >> (127 - i)) & 1 for i in range(128)]
        offset = len(data)
        data += encode(record)
        node = 0
        for i in range(plen - 1):
            nxt = nodes[node][bits[i]]
            if nxt is None:
                nodes.append([None, None])
                nxt = ("node", len(nodes) - 1)
                nodes[node][bits[i]] = nxt
            if nxt[0] != "node":
                raise ValueError("overlapping networks are not supported: %s" % cidr)
            node = nxt[1]
        nodes[node][bits[plen - 1]] = ("data", offset)
        leaves.append(cidr)
    count = len(nodes)
    tree = b""
    for left, right in nodes:
        for rec in (left, right):
            if rec is None:
                v = count
            elif rec[0] == "node":
                v = rec[1]
            else:
                v = count + 16 + rec[1]
            tree += struct.pack(">I", v)
    meta = {"binary_format_major_version": 2, "binary_format_minor_version": 0,
            "build_epoch": int(time.time()), "database_type": database_type,
            "description": {"en": "splreplay test database"}, "ip_version": 6,
            "languages": ["en"], "node_count": count, "record_size": 32}
    with open(path, "wb") as handle:
        handle.write(tree + b"\x00" * 16 + data + b"\xab\xcd\xefMaxMind.com" + encode(meta))
    return path


def city(name, country, iso, lat, lon, region=None, continent="Europe", tz=None):
    rec = {"city": {"names": {"en": name}},
           "continent": {"code": "EU", "names": {"en": continent}},
           "country": {"iso_code": iso, "names": {"en": country}},
           "location": {"latitude": lat, "longitude": lon, "time_zone": tz or "UTC"}}
    if region:
        rec["subdivisions"] = [{"iso_code": "X", "names": {"en": region}}]
    return rec
