"""collect into a summary index, reading it back, and what the indexers read.

Search Reference, "collect" (https://help.splunk.com/splunk-enterprise/spl-search-reference/9.4/search-commands/collect):
results become events of the named summary index, sourcetype stash by default, time from the
result's _time; later searches of that index read them. Search Reference, "Time modifiers":
an index-time window still needs an event-time window to retrieve events.
"""
import io
import json

import pytest

from splreplay.backtest import Backtest, IndexDelay
from splreplay.errors import SearchRuntimeError, SplError
from splreplay.runner import Replay
from splreplay.searchexpr import ALL, compile_search, prefilter

from replay_helpers import bare_app, ev, rows_of

SUMMARY = "index=summary sourcetype=stash source=S"


def _replay(tmp_path=None, **confs):
    return Replay(bare_app(**confs), state_dir=str(tmp_path) if tmp_path else None,
                  warn=lambda m: None)


RECS = [ev("2024-01-01T10:05:00Z", eventName="A", user="u1"),
        ev("2024-01-01T10:40:00Z", eventName="A", user="u1"),
        ev("2024-01-01T11:10:00Z", eventName="B", user="u2")]


def test_collected_rows_come_back_as_events_of_the_summary_index(tmp_path):
    r = _replay(tmp_path)
    out = rows_of(r, "index=main | bin _time span=1h | stats count by _time eventName user "
                  "| collect index=summary source=S addinfo=false", RECS)
    assert len(out) == 2  # collect passes its input through
    back = r.spl(SUMMARY + " | sort 0 _time | table _time eventName user count index sourcetype",
                 [])
    assert [(x["eventName"], x["count"], x["index"], x["sourcetype"]) for x in back] == [
        ("A", "2", "summary", "stash"), ("B", "1", "summary", "stash")]
    assert back[0]["_time"] == 1704103200.0  # 10:00, the row's _time
    # kept in the state folder: another run with the same state reads them
    again = _replay(tmp_path).spl(SUMMARY + " | stats sum(count) AS n", [])
    assert again[0]["n"] == 3


def test_raw_searches_do_not_read_the_summary_and_the_summary_reader_not_the_raw():
    r = _replay()
    rows_of(r, "index=main | stats count by eventName | eval _time=1704103200 "
            "| collect index=summary source=S addinfo=false", RECS)
    events = r.events_from_records(RECS)
    assert len(r.spl("index=main eventName=*", events)) == 3
    assert len(r.spl("index=summary eventName=*", events)) == 2


@pytest.mark.parametrize("query, message", [
    ("| collect source=S addinfo=false", "index="),
    ("| collect index=summary addinfo=false", "source="),
    ("| collect index=summary source=S", "addinfo"),
])
def test_collect_options_splreplay_does_not_model_are_refused(query, message):
    with pytest.raises(SplError) as err:
        _replay().spl("index=main" + query, [])
    assert message in str(err.value)


@pytest.mark.parametrize("query, message", [
    ("index=main | stats count by eventName", "_time"),
    ("index=main | stats values(user) AS u count | eval _time=1", "multivalue"),
    ("index=main | head 1", "_raw"),
])
def test_rows_collect_cannot_write_faithfully_fail_the_run(query, message):
    with pytest.raises(SearchRuntimeError) as err:
        rows_of(_replay(), query + " | collect index=summary source=S addinfo=false",
                RECS + [ev("2024-01-01T11:20:00Z", eventName="B", user="u3")])
    assert message in str(err.value)


def test_prefilter_prunes_on_json_values_but_not_on_calculated_fields():
    r = _replay(props="[aws:cloudtrail]\nKV_MODE = json\nEVAL-calc = upper(eventName)\n")
    ctx = r.compile("index=main", "t", 0).ctx
    events = r.events_from_records(RECS)
    pruned = compile_search('eventName=B sourcetype="aws:cloudtrail"', ctx).lispy
    assert [prefilter(pruned, e) for e in events] == [True, False, False]  # newest first
    assert compile_search("calc=B", ctx).lispy == ALL
    assert compile_search("NOT eventName=B", ctx).lispy == ALL
    either = compile_search("eventName=B OR calc=A", ctx).lispy
    assert either == ALL  # one side cannot prune, so neither can the OR
    # every event the filter keeps passes the prefilter (it errs on reading more)
    for text in ("eventName=A user=u1", "eventName IN (A, b*)", "u2", "user=u*"):
        flt = compile_search(text, ctx)
        assert all(prefilter(flt.lispy, e) for e in events if flt.pred(e)), text


def test_backtest_counts_the_event_time_window_as_read_and_runs_collected_events(tmp_path):
    conf = "\n".join([
        "[Sum]", "search = index=main | bin _time span=1h | stats count by _time eventName "
        "| collect index=summary source=S addinfo=false",
        "enableSched = 1", "cron_schedule = 5 * * * *", "dispatch.earliest_time = -3h@h",
        "dispatch.latest_time = now", "dispatch.index_earliest = -1h@h",
        "dispatch.index_latest = @h",
        "[Read]", "search = index=summary source=S | stats sum(count) AS n by eventName",
        "enableSched = 1", "cron_schedule = 30 * * * *", "dispatch.earliest_time = -4h@h",
        "dispatch.latest_time = now", "counttype = number of events",
        "relation = greater than", "quantity = 0", "alert.digest_mode = 1", ""])
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"Records": RECS}))
    r = Replay(bare_app(savedsearches=conf), warn=lambda m: None)
    out = io.StringIO()
    start = 1704103200  # 10:00
    bt = Backtest(r, [], start, start + 3 * 3600, IndexDelay("fixed=1m"), out)
    bt.run([str(path)])
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    summ = {x["search_name"]: x for x in lines if x["type"] == "summary"}
    # Sum runs at 10:05, 11:05, 12:05: each event is summarised once (index windows tile) ...
    alerts = [x for x in lines if x["type"] == "alert"]
    last = {row["eventName"]: row["n"] for row in alerts[-1]["results"]}
    assert last == {"A": "2", "B": "1"}
    assert sorted(e["eventName"] for e in bt.collected) == ["A", "B"]
    # ... but every run reads all it has indexed of its event-time window: 10:05 (none yet:
    # indexed a minute late), 11:05 (A A), 12:05 (A A B)
    assert summ["Sum"]["events_read_raw"] == 0 + 2 + 3
    assert summ["Read"]["events_read_raw"] == 0 and summ["Read"]["events_read"] > 0
