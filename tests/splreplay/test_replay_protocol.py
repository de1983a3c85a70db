"""Python search commands run as subprocesses speaking protocol v2, as splunkd runs them."""
import os

import pytest

import cloudtrail_samples
from replay_helpers import FIXTURE_APP
from splreplay.runner import Replay

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


# Commands see the app's lookups/ with --state and this run's outputlookup tables over it.

def _lookup_values(replay, query, events):
    rows = replay.spl(query, events)
    assert rows, "the command returned no rows"
    return rows[0]["lookup_values"]


def test_command_reads_the_app_lookups(replay, scenario_events):
    got = _lookup_values(replay, "* | head 1 | twlookup file=tw_terminated_users.csv",
                         scenario_events)
    assert got == ["mallory", "Trent"]
    got = _lookup_values(replay, "* | head 1 | twlookup file=tw_nowhere.csv", scenario_events)
    assert got == "missing"


def test_state_lookups_win_over_the_app_and_new_ones_appear(replay, scenario_events):
    state_lookups = os.path.join(replay.app.state_dir, "lookups")
    os.makedirs(state_lookups)
    with open(os.path.join(state_lookups, "tw_terminated_users.csv"), "w") as handle:
        handle.write("user,terminated_at,reason\neve,2024-03-01T00:00:00Z,state\n")
    with open(os.path.join(state_lookups, "tw_extra.csv"), "w") as handle:
        handle.write("name\nonly-in-state\n")
    q = "* | head 1 | twlookup file=%s"
    assert _lookup_values(replay, q % "tw_terminated_users.csv", scenario_events) == "eve"
    assert _lookup_values(replay, q % "tw_extra.csv", scenario_events) == "only-in-state"
    # files only in the app are still there
    assert _lookup_values(replay, q % "tw_protected_buckets.csv", scenario_events) != "missing"
    # the app itself is untouched
    assert not os.path.exists(os.path.join(FIXTURE_APP, "lookups", "tw_extra.csv"))


def test_outputlookup_to_state_reaches_a_later_command(replay, scenario_events):
    replay.spl("| makeresults count=1 | eval user=\"written\" | table user "
               "| outputlookup tw_written.csv", [])
    assert os.path.isfile(os.path.join(replay.app.state_dir, "lookups", "tw_written.csv"))
    got = _lookup_values(replay, "* | head 1 | twlookup file=tw_written.csv", scenario_events)
    assert got == "written"


def test_outputlookup_without_state_reaches_a_command_in_the_same_run(scenario_events):
    r = Replay(FIXTURE_APP, warn=lambda m: None)
    events = r.events_from_records(cloudtrail_samples.scenario())
    r.spl("| makeresults | eval user=\"in-memory\" | table user | outputlookup tw_mem.csv", [])
    got = _lookup_values(r, "* | head 1 | twlookup file=tw_mem.csv", events)
    assert got == "in-memory"
    assert not os.path.exists(os.path.join(FIXTURE_APP, "lookups", "tw_mem.csv"))


def test_command_runs_from_an_overlay_named_like_the_app(replay, scenario_events):
    from splreplay.protocol import overlay_app
    base = os.path.join(replay.app.state_dir, "..", "overlay-base")
    overlay = overlay_app(replay.app, base)
    assert os.path.basename(overlay) == "app"
    assert os.path.islink(os.path.join(overlay, "bin"))
    assert os.path.realpath(os.path.join(overlay, "bin")) == os.path.realpath(
        os.path.join(FIXTURE_APP, "bin"))
    assert not os.path.islink(os.path.join(overlay, "lookups"))
    assert sorted(os.listdir(os.path.join(overlay, "lookups"))) == sorted(
        os.listdir(os.path.join(FIXTURE_APP, "lookups")))
