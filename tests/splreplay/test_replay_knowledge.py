"""Search-time knowledge: props (aliases, calculated fields, automatic lookups), eventtypes,
tags and macros, on the fixture app and on small throwaway apps."""
import pytest

import cloudtrail_samples as samples
from replay_helpers import bare_app, ev
from splreplay.errors import ConfigError, SplError, Unsupported
from splreplay.runner import Replay


def events_for(app_dir, records):
    r = Replay(app_dir, warn=lambda m: None)
    return r, r.events_from_records(records)


def test_fixture_props_order_aliases_evals_lookup_eventtypes_tags(scenario_events):
    root_fail = [e for e in scenario_events if e.get("eventName") == "ConsoleLogin"
                 and e.get("userIdentity.type") == "Root"
                 and e.get("responseElements.ConsoleLogin") == "Failure"][0]
    assert root_fail["src_ip"] == root_fail["sourceIPAddress"]          # FIELDALIAS
    assert root_fail["tw_user"] == "root"                                 # EVAL- uses fields
    assert root_fail["tw_outcome"] == "failure"
    assert root_fail["tw_src_copy"] == root_fail["src_ip"]               # EVAL- sees aliases
    assert root_fail["tw_ip_category"] in ("risky", "suspicious")        # LOOKUP-
    assert root_fail["eventtype"] == "tw_console_login"
    assert root_fail["tag::eventtype"] == ["authentication", "cloud"]
    assert root_fail["tag"] == ["authentication", "cloud", "privileged"]
    role = [e for e in scenario_events if e.get("userIdentity.type") == "AssumedRole"][0]
    assert role["tw_user"] == "carol@example.com"
    create = [e for e in scenario_events if e.get("eventName") == "CreateUser"][0]
    assert create["eventtype"] == "tw_iam_change"
    assert create["tag"] == "change"  # 'account = disabled' is not applied
    listing = [e for e in scenario_events if e.get("eventName") == "ListUsers"][0]
    assert "eventtype" not in listing


def test_searching_by_eventtype_and_tag(replay, scenario_events):
    rows = replay.spl("tag=authentication tag=privileged | stats count", scenario_events)
    assert rows == [{"count": 4}]
    rows = replay.spl("eventtype=tw_iam_change | table eventName", scenario_events)
    assert rows == [{"eventName": "CreateUser"}]


def test_calculated_fields_are_evaluated_in_parallel():
    app = bare_app(props="[aws:cloudtrail]\nKV_MODE = json\nEVAL-a = 1\nEVAL-b = a + 1\n"
                         "EVAL-eventName = lower(eventName)\nEVAL-c = eventName\n")
    _, events = events_for(app, [ev(eventName="StopLogging")])
    e = events[0]
    assert e["a"] == 1 and "b" not in e  # b cannot see a
    assert e["eventName"] == "stoplogging" and e["c"] == "StopLogging"


def test_field_alias_as_and_asnew():
    app = bare_app(props="[aws:cloudtrail]\nKV_MODE = json\n"
                         "FIELDALIAS-a = src AS ip\nFIELDALIAS-b = other ASNEW kept\n"
                         "FIELDALIAS-c = missing AS gone\n")
    _, events = events_for(app, [ev(src="192.0.2.1", ip="old", kept="mine", other="x",
                                    gone="there")])
    e = events[0]
    assert e["ip"] == "192.0.2.1"
    assert e["kept"] == "mine"
    assert "gone" not in e  # AS overwrites even when the source field is missing


def test_both_kv_mode_and_indexed_extractions_double_the_values():
    app = bare_app(props="[aws:cloudtrail]\nKV_MODE = json\nINDEXED_EXTRACTIONS = json\n")
    _, events = events_for(app, [ev(eventName="StopLogging")])
    assert events[0]["eventName"] == ["StopLogging", "StopLogging"]


def test_missing_props_falls_back_to_json_with_a_warning(tmp_path):
    app = bare_app(props="")
    warnings = []
    r = Replay(app, warn=warnings.append)
    events = r.events_from_records([ev(eventName="X")])
    assert events[0]["eventName"] == "X"
    assert any("KV_MODE=json" in w for w in warnings)


@pytest.mark.parametrize("props, message", [
    ("REPORT-x = something", "REPORT-x is not implemented"),
    ("KV_MODE = xml", "KV_MODE=xml is not implemented"),
    ("SEDCMD-x = s/a/b/", "SEDCMD-x is not implemented"),
])
def test_unimplemented_props_are_refused(props, message):
    app = bare_app(props="[aws:cloudtrail]\n%s\n" % props)
    with pytest.raises(Unsupported, match=message):
        events_for(app, [ev()])


def test_bad_eval_in_props_is_a_config_error():
    app = bare_app(props="[aws:cloudtrail]\nKV_MODE=json\nEVAL-x = if(\n")
    with pytest.raises(ConfigError, match="EVAL-x"):
        events_for(app, [ev()])


def test_extract_in_props():
    app = bare_app(props="[aws:cloudtrail]\nKV_MODE=json\n"
                         "EXTRACT-role = assumed-role/(?<role_name>[^/]+) in userIdentity.arn\n"
                         "EXTRACT-raw = assumed-role/(?<raw_role>[^/]+)\n")
    _, events = events_for(app, [ev(userIdentity={"arn": "arn:aws:sts::1:assumed-role/Ops/s"})])
    assert events[0]["raw_role"] == "Ops"
    # Knowledge Manager Manual, "The sequence of search-time operations": inline EXTRACT-
    # runs before automatic (KV_MODE=json) extraction, so a JSON field is not there yet for
    # "in <field>" (the evaluator used to extract JSON first and found "Ops").
    assert "role_name" not in events[0]


MACROS = """
[base]
definition = index=aws sourcetype=aws:cloudtrail

[pick(1)]
args = name
definition = eventName=$name$

[pick(2)]
args = name, who
definition = eventName=$name$ user=$who$

[nested]
definition = `base` `pick(StopLogging)`

[loop]
definition = `loop`

[evalmacro]
definition = 1+1
iseval = 1
"""


def test_macros_with_and_without_arguments_and_nesting():
    app = bare_app(macros=MACROS)
    r, events = events_for(app, [ev(eventName="StopLogging", user="bob"),
                                 ev(eventName="CreateUser", user="al, ice")])
    assert r.spl("`base` `pick(StopLogging)` | table user", events) == [{"user": "bob"}]
    assert r.spl('`pick(CreateUser, "al, ice")` | table eventName', events) == \
        [{"eventName": "CreateUser"}]
    assert r.spl("`nested` | table user", events) == [{"user": "bob"}]


@pytest.mark.parametrize("query, message", [
    ("`nosuch`", r"macro `nosuch` is not defined"),
    ("`pick(a, b, c)`", r"no \[pick\(3\)\]"),
    ("`loop`", "too deep"),
    ("`evalmacro`", "iseval"),
    ("`base", "unterminated macro"),
    ('eventName="`base`"', "backtick inside a quoted string"),
])
def test_macro_errors(query, message):
    app = bare_app(macros=MACROS)
    r, events = events_for(app, [ev()])
    with pytest.raises(SplError, match=message):
        r.spl(query, events)


def test_saved_search_lookup_and_unknown_name(replay):
    assert "TW Test - Busy users" in replay.app.saved_search_names()
    with pytest.raises(ConfigError, match="no saved search named 'Nope'"):
        replay.compile_saved("Nope", 0)


def test_eventtype_refering_to_tags_is_refused():
    app = bare_app(eventtypes="[x]\nsearch = tag=authentication\n")
    with pytest.raises(Unsupported, match="eventtype 'x' refers to eventtype= or tag="):
        events_for(app, [ev()])


def test_the_scenario_records_are_realistic():
    recs = samples.scenario()
    assert all(r["eventVersion"] and r["recipientAccountId"] for r in recs)


def test_each_sourcetype_gets_its_own_props_then_the_shared_eventtypes_and_tags(tmp_path):
    """props.conf stanzas apply per source type ("[<spec>] ... <sourcetype>, the source type
    of an event", props.conf.spec); eventtypes and tags apply to every event. Calculated fields
    see fields that existed before them, so coalesce(x, ...) keeps an existing x (props.conf
    "EVAL-<fieldname>": evaluated after field extraction and aliasing)."""
    app = bare_app(str(tmp_path / "app"),
                   props="[aws:cloudtrail]\nKV_MODE = json\nEVAL-kind = \"trail\"\n\n"
                         "[my:alert]\nKV_MODE = json\nDATETIME_CONFIG = CURRENT\n"
                         "EVAL-type = coalesce(type, \"alert\")\nEVAL-kind = \"alert\"\n",
                   eventtypes="[my_alert]\nsearch = sourcetype=my:alert\n",
                   tags="[eventtype=my_alert]\nalert = enabled\n")
    r = Replay(app, warn=lambda m: None)
    alerts = r.events_of_sourcetype([{"t": 20, "id": "a"}, {"t": 10, "id": "b", "type": "task"}],
                                    "my:alert", "t")
    assert [a["id"] for a in alerts] == ["a", "b"]  # newest first
    assert [a["type"] for a in alerts] == ["alert", "task"]
    assert all(a["kind"] == "alert" and a["tag"] == "alert" for a in alerts)
    trail = r.events_from_records([ev(eventName="X")])[0]
    assert trail["kind"] == "trail" and "type" not in trail and "tag" not in trail
    with pytest.raises(Unsupported, match="no \\[other:type\\] stanza"):
        r.events_of_sourcetype([{"t": 1}], "other:type", "t")
