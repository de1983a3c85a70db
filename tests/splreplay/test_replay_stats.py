"""stats, eventstats, streamstats."""
import pytest

from replay_helpers import ev, run
from splreplay.errors import SplError, Unsupported

RECS = [
    ev("2024-01-01T00:00:01Z", user="alice", bytes="10", action="read", tags=["a", "b"]),
    ev("2024-01-01T00:00:02Z", user="alice", bytes="30", action="write"),
    ev("2024-01-01T00:00:03Z", user="bob", bytes="x", action="read", tags=["b"]),
    ev("2024-01-01T00:00:04Z", user="bob", action="read"),
    ev("2024-01-01T00:00:05Z", bytes="5", action="delete"),
    ev("2024-01-01T00:00:06Z", user="10", bytes="7"),
    ev("2024-01-01T00:00:07Z", user="9", bytes="8"),
]


def test_count_forms_and_nulls():
    rows = run("* | stats count count(user) as users count(tags{}) as tagvals c", RECS)
    assert rows == [{"count": 7, "users": 6, "tagvals": 3, "c": 7}]


def test_default_output_names_keep_the_written_form():
    rows = run("* | stats dc(user) values(action) sum(bytes)", RECS)
    assert rows == [{"dc(user)": 4, "values(action)": ["delete", "read", "write"],
                     "sum(bytes)": 60}]


def test_by_drops_null_groups_and_sorts_numbers_before_strings():
    rows = run("* | stats count by user", RECS)
    assert [(r["user"], r["count"]) for r in rows] == [
        ("9", 1), ("10", 1), ("alice", 2), ("bob", 2)]


def test_by_a_multivalue_field_counts_the_event_in_each_group():
    rows = run("* | stats count by tags{}", RECS)
    assert rows == [{"tags{}": "a", "count": 1}, {"tags{}": "b", "count": 2}]


def test_numeric_functions_ignore_non_numbers_and_nulls():
    rows = run("* | stats sum(bytes) as s avg(bytes) as a min(bytes) as lo max(bytes) as hi "
               "range(bytes) as r median(bytes) as med by user", RECS)
    by = {r["user"]: r for r in rows}
    # median of an even number of values: the higher middle value (Search Reference, median),
    # not their mean (the evaluator used to interpolate: 20).
    assert by["alice"] == {"user": "alice", "s": 40, "a": 20.0, "lo": 10, "hi": 30, "r": 20,
                           "med": 30}
    assert by["bob"] == {"user": "bob", "lo": "x", "hi": "x"}  # no numbers: text min/max only


def test_no_events_without_by_gives_one_row_with_zero_counts():
    rows = run("eventName=none | stats count dc(user) as d sum(bytes) as s values(user) as v",
               RECS)
    assert rows == [{"count": 0, "d": 0}]
    assert run("eventName=none | stats count by user", RECS) == []


def test_list_values_first_last_earliest_latest():
    rows = run("* | stats list(action) as l values(action) as v first(action) as f "
               "last(action) as la earliest(action) as e latest(action) as lt "
               "earliest_time(action) as et latest_time(action) as lat", RECS)
    r = rows[0]
    # events arrive newest first, so first() is the newest, earliest() the oldest
    assert r["l"] == ["delete", "read", "read", "write", "read"]
    assert r["v"] == ["delete", "read", "write"]
    assert r["f"] == "delete" and r["la"] == "read"
    assert r["e"] == "read" and r["lt"] == "delete"
    assert r["et"] == 1704067201.0 and r["lat"] == 1704067205.0


def test_stdev_var_perc_mode_distinct():
    recs = [ev("2024-01-01T00:00:%02dZ" % i, v=str(x)) for i, x in enumerate([1, 2, 3, 4, 10])]
    r = run("* | stats stdev(v) as sd var(v) as var varp(v) as vp perc50(v) as p50 "
            "p90(v) as p90 exactperc25(v) as p25 mode(v) as mode dc(v) as dc", recs)[0]
    assert r["var"] == pytest.approx(12.5)
    assert r["sd"] == pytest.approx(12.5 ** 0.5)
    assert r["vp"] == pytest.approx(10.0)
    assert r["p50"] == 3 and r["p25"] == 2
    # perc/p: nearest rank, ceil(0.9 x 5) = 5th value (Search Reference, perc); the evaluator
    # used to interpolate (7.6). exactperc25 still interpolates: 2.
    assert r["p90"] == 10
    assert r["mode"] == "10"  # all once: the first seen (newest)
    assert r["dc"] == 5


def test_eval_inside_a_stats_function():
    rows = run('* | stats count(eval(action="read")) as reads sum(eval(if(action="read", 1, 0))) as r2 by user',
               RECS)
    by = {r["user"]: r for r in rows}
    assert by["alice"]["reads"] == 1 and by["alice"]["r2"] == 1
    assert by["bob"]["reads"] == 2
    assert by["9"]["reads"] == 0


def test_eval_in_stats_must_be_renamed():
    with pytest.raises(SplError, match="must be renamed with AS"):
        run('* | stats count(eval(action="read"))', RECS)


def test_eventstats_adds_group_results_to_each_event():
    rows = run("* | eventstats count as n max(bytes) as top by user | table user n top", RECS)
    assert rows[0] == {"user": "9", "n": 1, "top": 8}
    bob = [r for r in rows if r.get("user") == "bob"]
    assert bob == [{"user": "bob", "n": 2, "top": "x"}, {"user": "bob", "n": 2, "top": "x"}]
    assert {} in rows  # the event without user is untouched


def test_streamstats_running_window_and_current():
    recs = [ev("2024-01-01T00:00:%02dZ" % i, user="u%d" % (i % 2), v=str(i)) for i in range(6)]
    rows = run("* | reverse | streamstats count as n sum(v) as s by user | table user v n s", recs)
    assert [(r["user"], r["n"], r["s"]) for r in rows] == [
        ("u0", 1, 0), ("u1", 1, 1), ("u0", 2, 2), ("u1", 2, 4), ("u0", 3, 6), ("u1", 3, 9)]
    rows = run("* | reverse | streamstats window=2 sum(v) as s | table v s", recs)
    assert [r["s"] for r in rows] == [0, 1, 3, 5, 7, 9]
    rows = run("* | reverse | streamstats current=f window=2 max(v) as prev | table v prev", recs)
    assert [r.get("prev") for r in rows] == [None, 0, 1, 2, 3, 4]


@pytest.mark.parametrize("query, message", [
    ("* | stats estdc(user)", r"estdc\(\) is not implemented"),
    ("* | stats values(*)", "wildcarded fields"),
    ("* | stats sum", "sum needs a field"),
    ("* | streamstats reset_on_change=t count", "reset_on_change"),
    ("* | stats allnum=t count", "allnum= is not implemented"),
])
def test_refused_stats(query, message):
    with pytest.raises(SplError, match=message):
        run(query, RECS)


def test_unsupported_is_a_spl_error_subclass():
    assert issubclass(Unsupported, SplError)
