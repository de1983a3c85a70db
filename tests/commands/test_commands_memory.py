"""One million records through each command, as splunkd sends them (real protocol, 50,000-row
chunks), watching the command's own memory: its peak resident size (VmHWM from /proc) after
the first 100,000 records and after the millionth must stay bounded and flat, i.e. memory does
not grow with the number of records. About a minute together on a 2-core machine; each run
has a wall-clock limit so a command that stalls fails instead of hanging the suite.
"""
import ipaddress
import random
import time

import pytest

from command_protocol import CommandProcess, overlay_app

RECORDS = 1000000
SMALL = 100000
CHUNK = 50000
MAX_SECONDS = 300
MAX_RSS_MB = 250
FLAT_MB = 30  # allowed growth of the peak from 100k to 1M records

pytestmark = pytest.mark.slow


def ranges_csv(n, seed=11):
    rng = random.Random(seed)
    lines = ["range,category,list,provider"]
    for i in range(n):
        if i % 10 == 9:
            net = ipaddress.IPv6Network(((0x20010DB8 << 96) | (rng.getrandbits(64) << 32), 64),
                                        strict=False)
        else:
            net = ipaddress.IPv4Network((rng.getrandbits(32), rng.choice([16, 20, 24, 28, 32])),
                                        strict=False)
        lines.append("%s,%s,feed%d," % (net, ("risky", "anonymous", "suspicious")[i % 3], i % 7))
    return "\n".join(lines) + "\n"


def peak_rss_mb(pid):
    """The process's peak resident set size so far (VmHWM, Linux), in MB."""
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmHWM in /proc/%d/status" % pid)


def ipclass_chunks(rng):
    """Twenty chunks of public and private IPv4 and IPv6 sources (each address new)."""
    head = "_time,src_ip,user,eventName\r\n"
    for n in range(RECORDS // CHUNK):
        yield head + "".join("%d,%s,user%d,ConsoleLogin\r\n" % (
            1700000000 + n * CHUNK + i,
            ("2001:db8:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16))) if i % 10 == 9
            else "%d.%d.%d.%d" % tuple(rng.getrandbits(8) for _ in range(4)),
            i % 500) for i in range(CHUNK))


def travel_chunks(rng):
    """Logins of 20,000 users, newest first across all chunks as Splunk hands them (the command
    keeps one login per user across chunks): each user signs in from a home city, 2% of the
    logins come from anywhere."""
    head = "_time,user,src_ip,lat,lon,City,Country\r\n"
    homes = [(rng.uniform(-50, 60), rng.uniform(-180, 180)) for _ in range(20000)]
    tails = []
    for i in range(CHUNK):
        user = rng.randrange(20000)
        lat, lon = homes[user]
        if rng.random() < 0.02:
            lat, lon = rng.uniform(-60, 60), rng.uniform(-180, 180)
        tails.append("user%d,192.0.2.%d,%.3f,%.3f,C%d,X\r\n" % (
            user, rng.randrange(256), lat, lon, i % 50))
    latest = 1800000000
    for n in range(RECORDS // CHUNK):
        rng.shuffle(tails)
        top = latest - n * CHUNK
        yield head + "".join("%d,%s" % (top - i, tail) for i, tail in enumerate(tails))


def score_chunks(rng):
    """Rows whose score inputs never repeat (the mean differs in every chunk), so the scorer's
    memo tables fill and must clear at their bound."""
    head = "user,count,median,mad,mean,days\r\n"
    parts = [(rng.randrange(100), rng.randrange(10), rng.randrange(4), rng.randrange(10),
              rng.randrange(30)) for _ in range(CHUNK)]
    for n in range(RECORDS // CHUNK):
        yield head + "".join("user%d,%d,%d,%d,%d.%02d%04d,%d\r\n" % (
            i, count, median, mad, whole, n, i % 10000, days)
            for i, (count, median, mad, whole, days) in enumerate(parts))


def run_million(script, args, chunks, app_dir):
    """Sends the chunks; returns (rows out, peak MB after 100k records, peak MB at the end)."""
    proc = CommandProcess(script, app_dir=app_dir, timeout=MAX_SECONDS)
    started = time.time()
    out_rows, small_peak, sent = 0, None, 0
    try:
        info = proc.getinfo(args)
        assert not info.errors(), info.messages
        total = RECORDS // CHUNK
        for n, body in enumerate(chunks):
            answer = proc.execute(body=body, finished=n == total - 1)
            assert answer is not None and not answer.errors(), proc.stderr_text()[-2000:]
            out_rows += max(0, answer.body.count("\r\n") - 1) if answer.body else 0
            sent += CHUNK
            if sent == SMALL:
                small_peak = peak_rss_mb(proc.proc.pid)
            assert time.time() - started < MAX_SECONDS, "too slow: stopped after %d chunks" % n
        end_peak = peak_rss_mb(proc.proc.pid)
    finally:
        proc.close()
    assert proc.returncode == 0, proc.stderr_text()[-2000:]
    assert sent == RECORDS
    print("%s: %d rows out in %.1f s, peak RSS %.0f MB after 100k records, %.0f MB after 1M"
          % (script, out_rows, time.time() - started, small_peak, end_peak))
    return out_rows, small_peak, end_peak


def assert_flat(small_peak, end_peak):
    assert end_peak < MAX_RSS_MB
    assert end_peak < small_peak + FLAT_MB, (
        "memory grew with the record count: peak %.0f MB after 100k records, %.0f MB after 1M"
        % (small_peak, end_peak))


def test_ipclass_one_million_records_with_100k_ranges(tmp_path):
    app = overlay_app(tmp_path, {"trailwatch_ip_feed_bench.csv": ranges_csv(100000)})
    rows, small_peak, end_peak = run_million("trailwatchipclass.py", ["field=src_ip"],
                                             ipclass_chunks(random.Random(1)), app)
    assert rows == RECORDS
    assert_flat(small_peak, end_peak)


def test_travel_one_million_records(tmp_path):
    app = overlay_app(tmp_path)
    rows, small_peak, end_peak = run_million("trailwatchtravel.py", [],
                                             travel_chunks(random.Random(2)), app)
    assert 0 < rows < RECORDS  # alerts only: pairs too far apart for the time between them
    assert_flat(small_peak, end_peak)


def test_score_one_million_records(tmp_path):
    app = overlay_app(tmp_path)
    rows, small_peak, end_peak = run_million("trailwatchscore.py", ["floor=5"],
                                             score_chunks(random.Random(3)), app)
    assert rows == RECORDS
    assert_flat(small_peak, end_peak)
