"""The backtest: cron times, dispatch windows by event time and index time, index delay,
alert.suppress throttling, digest mode, determinism (savedsearches.conf.spec settings)."""
import io
import json
import statistics

import pytest

from replay_helpers import bare_app, ev
from splreplay.backtest import Backtest, IndexDelay, main
from splreplay.cron import Cron
from splreplay.errors import ConfigError
from splreplay.runner import Replay, parse_now

T0 = parse_now("2024-05-01T00:00:00Z")


def _write(tmp_path, records, name="events.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"Records": records}))
    return str(path)


def _at(minutes, **fields):
    t = T0 + minutes * 60
    import datetime
    iso = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return ev(iso, **fields)


def _conf(**extra):
    lines = ["[S]", "search = eventName=Hit | table eventID user",
             "enableSched = 1", "cron_schedule = */10 * * * *",
             "counttype = number of events", "relation = greater than", "quantity = 0",
             "alert.digest_mode = 0"]
    for k, v in extra.items():
        lines = [ln for ln in lines if not ln.startswith(k.replace("__", ".") + " =")]
        lines.append("%s = %s" % (k.replace("__", "."), v))
    return "\n".join(lines) + "\n"


def _run(tmp_path, conf, records, start="2024-05-01T00:00:00Z", end="2024-05-01T03:00:00Z",
         delay=None, seed=0):
    app = bare_app(savedsearches=conf)
    out = io.StringIO()
    args = ["--app", app, "--events", _write(tmp_path, records), "--from", start, "--to", end,
            "--seed", str(seed)]
    if delay:
        args += ["--index-delay", delay]
    assert main(args, out=out) == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    return ([x for x in lines if x["type"] == "alert"],
            {x["search_name"]: x for x in lines if x["type"] == "summary"})


def test_cron_times():
    assert [t - T0 for t in Cron("*/10 * * * *").times(T0, T0 + 3600)] == \
        [0, 600, 1200, 1800, 2400, 3000, 3600]
    assert [t - T0 for t in Cron("5 * * * *").times(T0, T0 + 3 * 3600)] == [300, 3900, 7500]
    assert [t - T0 for t in Cron("15,45 1-2 * * *").times(T0, T0 + 86400)] == \
        [4500, 6300, 8100, 9900]
    # 2024-05-01 is a Wednesday (3); both day fields restricted: either matches
    assert [(t - T0) // 86400 for t in Cron("0 0 2 * 3").times(T0, T0 + 7 * 86400)] == [0, 1, 7]
    with pytest.raises(ConfigError, match="five fields"):
        Cron("*/10 * * *")
    with pytest.raises(ConfigError, match="outside 0-59"):
        Cron("61 * * * *")


def test_index_windows_tile_so_each_event_is_seen_once(tmp_path):
    # Runs every 10 minutes over the events indexed 10 to 0 minutes before: consecutive
    # windows tile, so with any delay each event is in exactly one run.
    conf = _conf(dispatch__earliest_time="-4h@m", dispatch__latest_time="now",
                 dispatch__index_earliest="-10m@m", dispatch__index_latest="@m")
    recs = [_at(m, eventName="Hit", eventID="e%d" % m, user="u") for m in range(0, 120, 7)]
    alerts, summary = _run(tmp_path, conf, recs, delay="p50=3m,p99=14m,max=30m")
    ids = sorted(a["result"]["eventID"] for a in alerts)
    assert ids == sorted("e%d" % m for m in range(0, 120, 7))
    assert summary["S"]["runs"] == 19 and summary["S"]["events_scanned"] == len(recs)


def test_event_time_windows_miss_events_indexed_after_the_run(tmp_path):
    # A search over the previous clock hour by event time, run at :05: an event indexed after
    # :05 is not there yet, and the next run's window has moved on -- it is never seen.
    conf = _conf(cron_schedule="5 * * * *", dispatch__earliest_time="-1h@h",
                 dispatch__latest_time="@h")
    recs = [_at(30, eventName="Hit", eventID="early", user="a"),
            _at(58, eventName="Hit", eventID="late", user="b")]
    alerts, _ = _run(tmp_path, conf, recs, delay="fixed=8m")
    assert [a["result"]["eventID"] for a in alerts] == ["early"]
    alerts, _ = _run(tmp_path, conf, recs, delay="fixed=6m")
    assert sorted(a["result"]["eventID"] for a in alerts) == ["early", "late"]


def test_per_result_throttling_by_suppress_fields(tmp_path):
    conf = _conf(dispatch__earliest_time="-10m@m", dispatch__latest_time="@m",
                 alert__suppress="1", alert__suppress__fields="user",
                 alert__suppress__period="1h")
    recs = [_at(1, eventName="Hit", eventID="a1", user="alice"),
            _at(12, eventName="Hit", eventID="a2", user="alice"),
            _at(13, eventName="Hit", eventID="b1", user="bob"),
            _at(75, eventName="Hit", eventID="a3", user="alice")]
    alerts, summary = _run(tmp_path, conf, recs)
    assert [(a["run_time"], a["result"]["eventID"]) for a in alerts] == [
        ("2024-05-01T00:10:00Z", "a1"), ("2024-05-01T00:20:00Z", "b1"),
        ("2024-05-01T01:20:00Z", "a3")]
    assert summary["S"]["suppressed"] == 1 and summary["S"]["alerts"] == 3


def test_digest_mode_alerts_once_per_run_and_throttles_the_search(tmp_path):
    # alert.digest_mode defaults to true: one alert for all results of a run; suppression
    # then applies to the whole search.
    conf = _conf(dispatch__earliest_time="-10m@m", dispatch__latest_time="@m",
                 alert__digest_mode="1", alert__suppress="1", alert__suppress__period="30m")
    recs = [_at(1, eventName="Hit", eventID="x1", user="a"),
            _at(2, eventName="Hit", eventID="x2", user="b"),
            _at(15, eventName="Hit", eventID="x3", user="c"),
            _at(45, eventName="Hit", eventID="x4", user="d")]
    alerts, summary = _run(tmp_path, conf, recs)
    assert [(a["run_time"], sorted(r["eventID"] for r in a["results"])) for a in alerts] == [
        ("2024-05-01T00:10:00Z", ["x1", "x2"]), ("2024-05-01T00:50:00Z", ["x4"])]
    assert summary["S"]["suppressed"] == 1


def test_index_delay_distribution_and_determinism():
    d = IndexDelay("p50=3m,p99=14m,max=30m", seed=7)
    draws = [d.delay(i) for i in range(4000)]
    assert 150 < statistics.median(draws) < 210
    assert 600 < sorted(draws)[int(0.99 * len(draws))] < 1100
    assert max(draws) <= 1800
    assert draws == [IndexDelay("p50=3m,p99=14m,max=30m", seed=7).delay(i) for i in range(4000)]
    assert draws != [IndexDelay("p50=3m,p99=14m,max=30m", seed=8).delay(i) for i in range(4000)]
    assert IndexDelay("fixed=12m").delay("x") == 720
    for bad in ("p50=3m", "fixed=1m,p50=2m", "p50=5m,p99=1m", "soon"):
        with pytest.raises(ConfigError):
            IndexDelay(bad)


def test_backtest_output_is_deterministic_for_a_seed(tmp_path):
    conf = _conf(dispatch__earliest_time="-4h@m", dispatch__latest_time="now",
                 dispatch__index_earliest="-10m@m", dispatch__index_latest="@m")
    recs = [_at(m, eventName="Hit", eventID="e%d" % m, user="u%d" % m) for m in range(0, 90, 3)]
    first = _run(tmp_path, conf, recs, delay="p50=3m,p99=14m", seed=3)
    assert _run(tmp_path, conf, recs, delay="p50=3m,p99=14m", seed=3) == first
    other = _run(tmp_path, conf, recs, delay="p50=3m,p99=14m", seed=4)
    assert [a["run_time"] for a in other[0]] != [a["run_time"] for a in first[0]]


def test_jsonl_files_stream_and_must_be_in_time_order(tmp_path):
    conf = _conf(dispatch__earliest_time="-10m@m", dispatch__latest_time="@m")
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps(_at(m, eventName="Hit", eventID="j%d" % m, user="u"))
                              for m in (1, 2, 11)) + "\n")
    out = io.StringIO()
    app = bare_app(savedsearches=conf)
    assert main(["--app", app, "--events", str(path), "--from", "2024-05-01T00:00:00Z",
                 "--to", "2024-05-01T00:30:00Z"], out=out) == 0
    assert sum(1 for x in out.getvalue().splitlines() if '"alert"' in x) == 3
    path.write_text("\n".join(json.dumps(_at(m, eventName="Hit", eventID="j%d" % m))
                              for m in (5, 1)) + "\n")
    assert main(["--app", app, "--events", str(path), "--from", "2024-05-01T00:00:00Z",
                 "--to", "2024-05-01T00:30:00Z"], out=io.StringIO()) == 2


def test_backtest_holds_only_what_open_windows_need(tmp_path):
    conf = _conf(dispatch__earliest_time="-10m@m", dispatch__latest_time="@m")
    recs = [_at(m / 4.0, eventName="Miss", eventID="m%d" % m) for m in range(0, 4 * 600)]
    r = Replay(bare_app(savedsearches=conf.replace("eventName=Hit", "*")), warn=lambda m: None)
    bt = Backtest(r, [], T0, T0 + 600 * 60, IndexDelay(), io.StringIO())
    bt.run([_write(tmp_path, recs)])
    assert bt.evaluated == len(recs)  # windows tile: every event once
    assert bt.peak_held == 4 * 10 + 1  # one window's events (and the one at the run time)
    # eventName=Hit: the value must be in the raw event, so the indexers read none of them,
    # and the search holds none
    r = Replay(bare_app(savedsearches=conf), warn=lambda m: None)
    bt = Backtest(r, [], T0, T0 + 600 * 60, IndexDelay(), io.StringIO())
    bt.run([_write(tmp_path, recs)])
    assert bt.evaluated == bt.read == bt.peak_held == 0


def test_a_long_window_with_index_terms_keeps_its_own_events(tmp_path):
    # Short: every 10 minutes over the last 10, no index terms. Long: hourly over a day, only
    # eventName=Hit. The events Long's terms admit are kept for a day; the rest only as long
    # as Short needs them.
    conf = _conf(dispatch__earliest_time="-10m@m", dispatch__latest_time="@m")
    conf = conf.replace("[S]", "[Short]").replace("search = eventName=Hit", "search = *")
    conf += "\n".join(["[Long]", "search = eventName=Hit | table eventID", "enableSched = 1",
                       "cron_schedule = 0 * * * *", "dispatch.earliest_time = -1d",
                       "dispatch.latest_time = now", "counttype = number of events",
                       "relation = greater than", "quantity = 0", ""])
    recs = [_at(m / 4.0, eventName="Miss", eventID="m%d" % m) for m in range(0, 4 * 600)]
    recs.insert(4, _at(1, eventName="Hit", eventID="h1"))
    r = Replay(bare_app(savedsearches=conf), warn=lambda m: None)
    out = io.StringIO()
    bt = Backtest(r, [], T0, T0 + 600 * 60, IndexDelay(), out)
    bt.run([_write(tmp_path, recs)])
    assert bt.peak_held == 4 * 10 + 1 + 1  # Short's window (and Hit, held once for both)
    long_alerts = [json.loads(x) for x in out.getvalue().splitlines()
                   if '"alert"' in x and '"Long"' in x]
    # Hit (00:01) is seen by every hourly run of the day-long window, from 01:00 on
    assert len(long_alerts) == 10
    assert all(a["results"] == [{"eventID": "h1"}] for a in long_alerts)
