"""Python search commands run as subprocesses speaking protocol v2, as splunkd runs them."""
import pytest

from splreplay.errors import SearchRuntimeError, Unsupported
from splreplay.protocol import decode_rows, encode_rows


def test_csv_body_encoding_roundtrip_with_multivalue():
    rows = [{"a": "1", "mv": ["x", "y$z"], "q": 'say "hi"\nthere'}, {"a": 2}]
    body = encode_rows(rows)
    header = body.split("\r\n")[0]
    assert header == "a,mv,__mv_mv,q"
    assert "$x$;$y$$z$" in body
    assert decode_rows(body) == [{"a": "1", "mv": ["x", "y$z"], "q": 'say "hi"\nthere'},
                                 {"a": "2"}]


def test_streaming_command_through_the_real_protocol(replay, scenario_events):
    rows = replay.compile_saved("TW Test - Tagged by Python command", 0).run(scenario_events)
    assert len(rows) == 5
    assert all(r["tagged"] == "checked" and r["tag_source"] == "tw_user" for r in rows)
    assert sorted(r["tw_user"] for r in rows) == ["alice", "root", "root", "root", "root"]


def test_multivalue_output_and_big_input(replay):
    events = replay.events_from_records(
        [{"eventTime": "2024-01-01T00:00:00Z", "eventName": "E%d" % i} for i in range(1200)])
    rows = replay.spl("* | twtag label=a | stats count values(values_seen) as v", events)
    assert rows == [{"count": 1200, "v": ["a", "x$y"]}]


def test_generating_command(replay):
    rows = replay.spl("| twgen count=4 | stats count by user", [])
    assert rows == [{"user": "user0", "count": 2}, {"user": "user1", "count": 2}]


def test_command_errors_fail_the_search_with_its_message(replay, scenario_events):
    with pytest.raises(SearchRuntimeError, match="twfail refuses record"):
        replay.spl("eventName=StopLogging | twfail", scenario_events)
    with pytest.raises(SearchRuntimeError, match='A value for "label" is required'):
        replay.spl("* | twtag", scenario_events)


def test_protocol_v1_commands_are_refused(replay, scenario_events):
    with pytest.raises(Unsupported, match="protocol v1"):
        replay.spl("* | twlegacy", scenario_events)
