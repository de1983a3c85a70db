"""The search command: matching, boolean logic, missing fields, multivalue, time."""
import pytest

from replay_helpers import ev, run
from splreplay.errors import SplError, Unsupported

RECS = [
    ev("2024-01-01T10:00:00Z", eventName="ConsoleLogin", user="Alice", errorCode="Denied",
       tags=["admin", "ops"]),
    ev("2024-01-01T10:10:00Z", eventName="StopLogging", user="bob", tags=["dev"]),
    ev("2024-01-01T10:20:00Z", eventName="CreateUser", count=5),
    ev("2024-01-01T10:30:00Z", eventName="consolelogin", user="carol", count=12,
       sourceIPAddress="ec2.amazonaws.com"),
]


def names(query, recs=RECS, now=None):
    return sorted(r["eventName"] for r in run(query, recs, now=now))


def test_values_match_case_insensitively_field_names_do_not():
    assert names("eventName=CONSOLELOGIN") == ["ConsoleLogin", "consolelogin"]
    assert names("EventName=ConsoleLogin") == []


def test_wildcards():
    assert names("eventName=*Log*") == ["ConsoleLogin", "StopLogging", "consolelogin"]
    assert names("sourceIPAddress=*.amazonaws.com") == ["consolelogin"]
    assert names("user=*") == ["ConsoleLogin", "StopLogging", "consolelogin"]
    assert names('eventName="Create*"') == ["CreateUser"]


def test_not_equal_requires_the_field_but_NOT_does_not():
    assert names("user!=bob") == ["ConsoleLogin", "consolelogin"]
    assert names("NOT user=bob") == ["ConsoleLogin", "CreateUser", "consolelogin"]
    assert names("NOT user=*") == ["CreateUser"]


def test_multivalue_fields_match_any_value():
    assert names("tags{}=ops") == ["ConsoleLogin"]
    assert names("NOT tags{}=ops") == ["CreateUser", "StopLogging", "consolelogin"]
    # != is true when some value differs (the field must exist)
    assert names("tags{}!=ops") == ["ConsoleLogin", "StopLogging"]
    assert names("tags{}!=dev") == ["ConsoleLogin"]


def test_implicit_and_or_precedence_and_parentheses():
    # OR binds tighter than the implicit AND: a b OR c == a AND (b OR c)
    assert names("user=* eventName=StopLogging OR eventName=CreateUser") == ["StopLogging"]
    assert names("(user=bob OR user=carol) count>10") == ["consolelogin"]
    assert names("user=bob OR user=carol AND eventName=consolelogin") == ["consolelogin"]
    assert names("NOT (user=bob OR user=carol)") == ["ConsoleLogin", "CreateUser"]


def test_in_operator_with_wildcards_and_missing_fields():
    assert names("eventName IN (StopLogging, create*)") == ["CreateUser", "StopLogging"]
    assert names('user IN ("bob" "carol")') == ["StopLogging", "consolelogin"]
    assert names("NOT user IN (bob)") == ["ConsoleLogin", "CreateUser", "consolelogin"]


def test_numeric_comparisons():
    assert names("count>10") == ["consolelogin"]
    assert names("count<=5") == ["CreateUser"]
    assert names("count>=5 count<12") == ["CreateUser"]
    assert names("count<100") == ["CreateUser", "consolelogin"]  # missing never compares


def test_bare_terms_search_the_raw_event_as_whole_terms():
    assert names("StopLogging") == ["StopLogging"]
    assert names("stoplogging") == ["StopLogging"]
    assert names("Stop") == []  # not a whole term
    assert names("Stop*") == ["StopLogging"]
    assert names('"amazonaws.com"') == ["consolelogin"]


def test_dotted_and_braced_field_names():
    recs = [ev(requestParameters={"ipPermissions": {"items": [
        {"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}, eventName="Open"),
        ev(requestParameters={"ipPermissions": {"items": [
            {"ipRanges": {"items": [{"cidrIp": "10.1.0.0/16"}]}}]}}, eventName="Closed")]
    assert names("requestParameters.ipPermissions.items{}.ipRanges.items{}.cidrIp=0.0.0.0/0",
                 recs) == ["Open"]
    assert names("requestParameters.ipPermissions.items{}.ipRanges.items{}.cidrIp=*/0",
                 recs) == ["Open"]


def test_time_modifiers_resolve_against_now():
    now = 1704103800.0  # 2024-01-01T10:10:00Z
    # no latest: everything from 10:05 on, including events after --now
    assert names("earliest=-5m", now=now) == ["CreateUser", "StopLogging", "consolelogin"]
    assert names("earliest=-1h@h latest=@h", now=now) == []
    # latest is exclusive: the event at exactly --now is outside
    assert names("earliest=@h latest=now", now=now) == ["ConsoleLogin"]
    assert names("earliest=@h latest=+1s", now=now) == ["ConsoleLogin", "StopLogging"]
    assert names("earliest=-15m latest=-5m", now=now) == ["ConsoleLogin"]
    assert names("earliest=0 latest=1704103300", now=now) == ["ConsoleLogin"]


def test_search_later_in_the_pipeline_and_index_terms():
    assert names("index=aws sourcetype=aws:cloudtrail | search user=bob") == ["StopLogging"]
    assert names("index IN (aws, main) | search NOT user=*") == ["CreateUser"]


@pytest.mark.parametrize("query, message", [
    ("user=bob | search earliest=-1h", "only supported at the top level of the first search"),
    ("(earliest=-1h)", "only supported at the top level"),
    ("user=a OR earliest=-1h", "only supported at the top level"),
    ("NOT index=aws", "index terms cannot be negated"),
    ("index!=aws", "index!= is not supported"),
    ("user=bob and eventName=x", "lower-case 'and'"),
    ("TERM(10.0.0.1)", r"TERM\(\) is not implemented"),
    ("[search user=bob]", "subsearches"),
    ("user*=bob", "wildcarded field names"),
    ("starttime=01/01/2024:00:00:00", "starttime is not implemented"),
])
def test_refused_search_syntax(query, message):
    with pytest.raises(Unsupported, match=message):
        run(query, RECS)


@pytest.mark.parametrize("query, message", [
    ("user==bob", "'==' is not a search operator"),
    ("(user=bob", "missing '\\)'"),
    ('user="bob', "unterminated"),
    ("earliest=-1x", "invalid time modifier"),
])
def test_malformed_search(query, message):
    with pytest.raises(SplError, match=message):
        run(query, RECS)


def test_errors_carry_positions():
    with pytest.raises(Unsupported) as info:
        run("user=bob | transaction user", RECS)
    assert info.value.pos == 11
    assert "transaction" in str(info.value) and "^" in str(info.value)
