"""streamstats time_window=<span>: sliding windows over _time, per by-group."""
import pytest

from replay_helpers import ev, run
from splreplay.errors import SearchRuntimeError, SplError, Unsupported


def at(minute, second=0, **fields):
    return ev("2024-01-01T%02d:%02d:%02dZ" % (minute // 60, minute % 60, second), **fields)


def test_window_edge_is_exclusive_at_exactly_the_span():
    # 00:00, 00:30, 00:59:59, 01:00, 01:30 -- ascending order after reverse
    recs = [at(0), at(30), at(59, 59), at(60), at(90)]
    rows = run("* | reverse | streamstats time_window=60m count as n | table n", recs)
    # at 01:00 the 00:00 event is exactly 60m away: out; 00:30 and 00:59:59 in
    assert [r["n"] for r in rows] == [1, 2, 3, 3, 3]


def test_one_second_longer_span_keeps_the_edge_event():
    recs = [at(0), at(30), at(59, 59), at(60), at(90)]
    rows = run("* | reverse | streamstats time_window=3601s count as n | table n", recs)
    assert [r["n"] for r in rows] == [1, 2, 3, 4, 4]  # 00:30 is 3600s before 01:30


def test_descending_order_as_splunk_returns_events():
    recs = [at(0), at(30), at(59, 59), at(60), at(90)]
    rows = run("* | streamstats time_window=1h count as n | table n", recs)
    # newest first: 01:30, 01:00, 00:59:59, 00:30, 00:00
    assert [r["n"] for r in rows] == [1, 2, 3, 3, 3]


def test_by_groups_have_their_own_windows_and_null_by_values_get_nothing():
    recs = [at(0, user="a", v="1"), at(10, user="b", v="2"), at(20, user="a", v="3"),
            at(25, v="100"), at(70, user="a", v="4"), at(75, user="b", v="5")]
    rows = run("* | reverse | streamstats time_window=60m count as n sum(v) as s by user "
               "| table user v n s", recs)
    assert rows == [
        {"user": "a", "v": "1", "n": 1, "s": 1},
        {"user": "b", "v": "2", "n": 1, "s": 2},
        {"user": "a", "v": "3", "n": 2, "s": 4},
        {"v": "100"},                              # no user: no statistics
        {"user": "a", "v": "4", "n": 2, "s": 7},   # 00:00 left, 00:20 still in
        {"user": "b", "v": "5", "n": 1, "s": 5},   # 00:10 is 65m earlier
    ]


def test_null_values_are_ignored_by_the_functions():
    recs = [at(0, ip="1.1.1.1"), at(1), at(2, ip="2.2.2.2"), at(3, ip="1.1.1.1")]
    rows = run("* | reverse | streamstats time_window=10m count as n count(ip) as c "
               "dc(ip) as d | table n c d", recs)
    assert rows == [{"n": 1, "c": 1, "d": 1}, {"n": 2, "c": 1, "d": 1},
                    {"n": 3, "c": 2, "d": 2}, {"n": 4, "c": 3, "d": 2}]


def test_current_false_leaves_the_event_itself_out():
    recs = [at(0, v="1"), at(5, v="2"), at(20, v="3")]
    rows = run("* | reverse | streamstats current=f time_window=15m sum(v) as prev "
               "count as n | table v prev n", recs)
    assert rows == [{"v": "1", "n": 0}, {"v": "2", "prev": 1, "n": 1},
                    {"v": "3", "n": 0}]


def test_window_sees_values_as_they_came_in_not_the_fields_it_wrote():
    recs = [at(0, n="1"), at(1, n="1"), at(2, n="1")]
    rows = run("* | reverse | streamstats time_window=1h sum(n) as n | table n", recs)
    assert [r["n"] for r in rows] == [1, 2, 3]


def test_global_true_is_accepted():
    recs = [at(0, user="a"), at(1, user="a")]
    rows = run("* | reverse | streamstats global=t time_window=1h count as n by user "
               "| table n", recs)
    assert [r["n"] for r in rows] == [1, 2]


def test_events_out_of_time_order_fail_the_search():
    recs = [at(0, k="2"), at(10, k="1"), at(30, k="3")]
    # sorted by k: 00:10, 00:00, 00:30 -- neither ascending nor descending
    with pytest.raises(SearchRuntimeError, match="time order"):
        run("* | sort 0 k | streamstats time_window=1h count", recs)
    rows = run("* | sort 0 k | streamstats count as n | table n", recs)
    assert [r["n"] for r in rows] == [1, 2, 3]  # without time_window order does not matter


def test_ties_in_time_are_in_order():
    recs = [at(0), at(0), at(0)]
    rows = run("* | streamstats time_window=1m count as n | table n", recs)
    assert [r["n"] for r in rows] == [1, 2, 3]


@pytest.mark.parametrize("query, exc, message", [
    ("* | streamstats time_window=1h window=5 count", Unsupported, "together with window="),
    ("* | streamstats time_window=1h global=f count by user", Unsupported, "global=false"),
    ("* | streamstats time_window=1mon count", SplError, "needs a time span"),
    ("* | streamstats time_window=60 count", SplError, "needs a time span"),
    ("* | streamstats time_window=1h reset_on_change=t count", Unsupported,
     "reset_on_change"),
])
def test_refused_combinations(query, exc, message):
    with pytest.raises(exc, match=message):
        run(query, [at(0)])
