"""table, fields, rename, head, tail, reverse, dedup, sort, fillnull, makemv, mvexpand, spath,
bin, rex, makeresults, lookup, inputlookup, outputlookup."""
import json

import pytest

from replay_helpers import bare_app, ev, run
from splreplay.errors import SearchRuntimeError, SplError, Unsupported
from splreplay.runner import Replay

RECS = [
    ev("2024-01-01T00:00:01Z", user="alice", n="10", src="10.1.2.3", csv="a,b,,c"),
    ev("2024-01-01T00:00:02Z", user="bob", n="9", src="203.0.113.9"),
    ev("2024-01-01T00:00:03Z", user="alice", n="100"),
    ev("2024-01-01T00:00:04Z", n="abc", user_name="zed"),
]


def test_table_keeps_order_and_wildcards():
    rows = run("* | table n user*", RECS)
    assert rows == [{"n": "abc", "user_name": "zed"}, {"n": "100", "user": "alice"},
                    {"n": "9", "user": "bob"}, {"n": "10", "user": "alice"}]


def test_fields_keep_and_remove():
    rows = run("* | fields user n", RECS)
    assert set(rows[1]) == {"user", "n", "_raw", "_time"}
    rows = run("* | fields - _raw user*", RECS)
    assert "_raw" not in rows[0] and "user_name" not in rows[0] and "n" in rows[0]


def test_rename_plain_wildcard_and_missing():
    rows = run('* | rename user AS "User Name", n AS count, missing AS x | table "User Name" count x',
               RECS)
    assert rows[1] == {"User Name": "alice", "count": "100"}
    rows = run("* | rename user* AS who* | table who*", RECS)
    assert rows[0] == {"who_name": "zed"} and rows[1] == {"who": "alice"}


def test_head_tail_reverse():
    assert [r["n"] for r in run("* | head 2", RECS)] == ["abc", "100"]
    assert [r["n"] for r in run("* | head limit=1", RECS)] == ["abc"]
    assert len(run("* | head", [ev(n=str(i)) for i in range(15)])) == 10
    assert [r["n"] for r in run("* | tail 2", RECS)] == ["10", "9"]
    assert [r["n"] for r in run("* | reverse", RECS)] == ["10", "9", "100", "abc"]


def test_dedup_drops_missing_unless_keepempty_and_keeps_first():
    assert [r["n"] for r in run("* | dedup user", RECS)] == ["100", "9"]
    assert [r["n"] for r in run("* | dedup user keepempty=true", RECS)] == ["abc", "100", "9"]
    assert [r["n"] for r in run("* | dedup 2 user", RECS)] == ["100", "9", "10"]
    recs = [ev("2024-01-01T00:00:0%dZ" % i, u=u) for i, u in enumerate("aabba")]
    assert [r["u"] for r in run("* | reverse | dedup consecutive=true u", recs)] == ["a", "b", "a"]


def test_sort_numbers_before_text_missing_last_limits():
    assert [r["n"] for r in run("* | sort n", RECS)] == ["9", "10", "100", "abc"]
    assert [r["n"] for r in run("* | sort - n", RECS)] == ["abc", "100", "10", "9"]
    assert [r["n"] for r in run("* | sort str(n)", RECS)] == ["10", "100", "9", "abc"]
    # missing values sort last in both directions
    assert [r.get("user") for r in run("* | sort user", RECS)] == ["alice", "alice", "bob", None]
    assert [r.get("user") for r in run("* | sort -user", RECS)] == ["bob", "alice", "alice", None]
    assert [r["n"] for r in run("* | sort user, -n", RECS)] == ["100", "10", "9", "abc"]
    assert len(run("* | sort 2 n", RECS)) == 2
    many = [ev(n=str(i)) for i in range(10005)]
    assert len(run("* | sort n", many)) == 10000  # Splunk's default limit
    assert len(run("* | sort 0 n", many)) == 10005
    assert [r["src"] for r in run("* | search src=* | sort ip(src)", RECS)] == ["10.1.2.3", "203.0.113.9"]


def test_fillnull():
    rows = run("* | table user n | fillnull", RECS)
    assert rows[0] == {"user": "0", "n": "abc"}
    rows = run('* | fillnull value="unknown" user | table user', RECS)
    assert rows[0] == {"user": "unknown"}


def test_makemv_and_mvexpand():
    rows = run('* | search csv=* | makemv delim="," csv | table csv', RECS)
    assert rows == [{"csv": ["a", "b", "c"]}]
    rows = run('* | search csv=* | makemv delim="," allowempty=true csv | table csv', RECS)
    assert rows == [{"csv": ["a", "b", "", "c"]}]
    rows = run('* | search csv=* | makemv tokenizer="([^,]+)" csv | mvexpand csv | table user csv',
               RECS)
    assert rows == [{"user": "alice", "csv": "a"}, {"user": "alice", "csv": "b"},
                    {"user": "alice", "csv": "c"}]


def test_spath_paths_subtrees_and_input():
    recs = [ev(requestParameters={"policyDocument": json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                       {"Effect": "Deny", "Action": ["s3:*", "iam:*"]}]})},
        items=[{"a": 1}, {"a": 2}])]
    rows = run("* | spath input=requestParameters.policyDocument path=Statement{}.Action output=actions "
               "| spath path=items{}.a | spath path=items output=items_json | table actions items{}.a items_json",
               recs)
    # an array value comes back as its JSON text; {} walks into it
    assert rows == [{"actions": ["*", '["s3:*", "iam:*"]'], "items{}.a": ["1", "2"],
                     "items_json": '[{"a": 1}, {"a": 2}]'}]
    rows = run("* | spath input=requestParameters.policyDocument path=Statement{}.Action{} output=a "
               "| table a", recs)
    assert rows == [{"a": ["s3:*", "iam:*"]}]
    with pytest.raises(Unsupported, match="array positions"):
        run("* | spath path=items{1}.a", recs)


def test_bin_time_and_numbers():
    recs = [ev("2024-01-01T10:59:59Z", v="17"), ev("2024-01-01T11:00:00Z", v="25")]
    rows = run("* | bin _time span=1h | table _time", recs)
    assert [r["_time"] for r in rows] == [1704106800, 1704103200]
    rows = run("* | bucket span=1d _time as day | table day", recs)
    assert [r["day"] for r in rows] == [1704067200, 1704067200]
    rows = run("* | bin v span=10 | table v", recs)
    assert [r["v"] for r in rows] == ["20-30", "10-20"]
    with pytest.raises(Unsupported, match="bins= is not implemented"):
        run("* | bin bins=10 _time", recs)


def test_rex():
    recs = [ev(arn="arn:aws:sts::111122223333:assumed-role/OpsAdmin/carol@example.com")]
    rows = run('* | rex field=arn "assumed-role/(?<role>[^/]+)/(?<session>.+)$" | table role session',
               recs)
    assert rows == [{"role": "OpsAdmin", "session": "carol@example.com"}]
    rows = run('* | rex field=arn max_match=0 "(?<part>[^:/]+)" | eval n=mvcount(part) | table n', recs)
    assert rows == [{"n": 7}]
    with pytest.raises(Unsupported, match="mode=sed"):
        run('* | rex mode=sed field=arn "s/a/b/g"', recs)


def test_makeresults_must_be_first():
    assert run("| makeresults count=2 | eval x=1 | table x", []) == [{"x": 1}, {"x": 1}]
    with pytest.raises(SplError, match="must be the first command"):
        run("* | makeresults", [])
    with pytest.raises(SplError, match="must start with a generating command"):
        run("| eval x=1", [])


LOOKUPS = {
    "transforms": (
        "[ipcat]\nfilename = ipcat.csv\nmatch_type = CIDR(cidr)\nmax_matches = 1\n\n"
        "[ipcat_all]\nfilename = ipcat.csv\nmatch_type = CIDR(cidr)\nmax_matches = 5\n\n"
        "[users]\nfilename = users.csv\ncase_sensitive_match = false\n\n"
        "[users_cs]\nfilename = users.csv\n\n"
        "[buckets]\nfilename = buckets.csv\nmatch_type = WILDCARD(pattern)\n\n"
        "[defaults]\nfilename = users.csv\nmin_matches = 1\ndefault_match = unknown\n\n"
        "[ext]\nexternal_cmd = things.py a\nfields_list = a\n"),
    "lookups": {
        "ipcat.csv": "cidr,category\n203.0.113.0/25,risky\n203.0.113.0/24,suspicious\n"
                     "2001:db8::/32,v6\n",
        "users.csv": "user,team,email\nAlice,blue,alice@example.com\nbob,red,\nbob,green,bob2@example.com\n",
        "buckets.csv": "pattern,owner\nprod-*,platform\n*-logs,security\n",
    },
}


def lrun(query, recs):
    r = Replay(bare_app(**dict(LOOKUPS, lookups=dict(LOOKUPS["lookups"]))), warn=lambda m: None)
    return r.spl(query, r.events_from_records(recs))


def test_lookup_cidr_first_match_in_file_order_and_max_matches():
    recs = [ev(ip="203.0.113.9"), ev(ip="203.0.113.200"), ev(ip="2001:db8::1"), ev(ip="x")]
    rows = lrun("* | lookup ipcat cidr AS ip OUTPUT category | table ip category", recs)
    got = {r["ip"]: r.get("category") for r in rows}
    assert got == {"203.0.113.9": "risky", "203.0.113.200": "suspicious", "2001:db8::1": "v6",
                   "x": None}
    rows = lrun("* | lookup ipcat_all cidr AS ip | table ip category", recs)
    got = {r["ip"]: r.get("category") for r in rows}
    assert got["203.0.113.9"] == ["risky", "suspicious"]


def test_lookup_case_rules_multiple_matches_and_empty_cells():
    recs = [ev(user="alice"), ev(user="BOB"), ev(user="Alice")]
    rows = lrun("* | lookup users user OUTPUT team email | table user team email", recs)
    got = {r["user"]: (r.get("team"), r.get("email")) for r in rows}
    assert got["alice"] == ("blue", "alice@example.com")
    assert got["BOB"] == (["red", "green"], "bob2@example.com")
    rows = lrun("* | lookup users_cs user OUTPUT team | table user team", recs)
    got = {r["user"]: r.get("team") for r in rows}
    assert got == {"alice": None, "BOB": None, "Alice": "blue"}


def test_lookup_output_overwrites_and_outputnew_keeps():
    recs = [ev(user="nobody", team="old"), ev(user="Alice", team="old")]
    rows = lrun("* | lookup users user OUTPUT team | table user team", recs)
    assert {r["user"]: r.get("team") for r in rows} == {"nobody": None, "Alice": "blue"}
    rows = lrun("* | lookup users user OUTPUTNEW team | table user team", recs)
    assert {r["user"]: r.get("team") for r in rows} == {"nobody": "old", "Alice": "old"}
    rows = lrun("* | lookup users user AS user OUTPUT team AS squad email | table user squad email", recs)
    assert {r["user"]: r.get("squad") for r in rows} == {"nobody": None, "Alice": "blue"}


def test_lookup_wildcard_and_default_match():
    recs = [ev(bucket="prod-data"), ev(bucket="app-logs"), ev(bucket="dev")]
    rows = lrun("* | lookup buckets pattern AS bucket OUTPUT owner | table bucket owner", recs)
    assert {r["bucket"]: r.get("owner") for r in rows} == {
        "prod-data": "platform", "app-logs": "security", "dev": None}
    rows = lrun("* | lookup defaults user AS bucket OUTPUT team | table bucket team", recs)
    assert {r["bucket"]: r.get("team") for r in rows}["dev"] == "unknown"


def test_lookup_multivalue_input_looks_up_each_value():
    rows = lrun("* | lookup ipcat cidr AS ips{} OUTPUT category | table category",
                [ev(ips=["203.0.113.9", "2001:db8::5"])])
    assert rows == [{"category": ["risky", "v6"]}]


def test_lookup_errors():
    with pytest.raises(SplError, match="lookup table 'nope' is not defined"):
        lrun("* | lookup nope a", [ev()])
    with pytest.raises(SearchRuntimeError, match="has no field 'nofield'"):
        lrun("* | lookup users nofield", [ev()])
    with pytest.raises(Unsupported, match="uses external_cmd"):
        lrun("* | lookup ext a", [ev()])


def test_inputlookup_append_where_and_outputlookup_roundtrip(tmp_path):
    app = bare_app(**dict(LOOKUPS, lookups=dict(LOOKUPS["lookups"])))
    r = Replay(app, state_dir=str(tmp_path), warn=lambda m: None)
    rows = r.spl("| inputlookup users where team=red OR team=blue", [])
    assert [x["user"] for x in rows] == ["Alice", "bob"]
    rows = r.spl('| inputlookup users | eval team=upper(team), tags=split("x y", " ") '
                 '| outputlookup users_out.csv', [])
    assert len(rows) == 3
    back = r.spl("| inputlookup users_out.csv", [])
    assert back[0] == {"user": "Alice", "team": "BLUE", "email": "alice@example.com",
                       "tags": ["x", "y"]}
    assert (tmp_path / "lookups" / "users_out.csv").exists()
    r.spl('| makeresults | eval user="carol" | outputlookup append=true users_out.csv', [])
    assert [x["user"] for x in r.spl("| inputlookup users_out.csv", [])] == [
        "Alice", "bob", "bob", "carol"]
    events = r.events_from_records([ev(who="carol")])
    rows = r.spl("* | inputlookup append=t users_out.csv | stats count", events)
    assert rows == [{"count": 5}]


def test_outputlookup_without_state_is_kept_for_the_run():
    warnings = []
    r = Replay(bare_app(), warn=warnings.append)
    r.spl('| makeresults | eval a="1" | table a | outputlookup mem.csv', [])
    assert r.spl("| inputlookup mem.csv", []) == [{"a": "1"}]
    assert any("no --state folder" in w for w in warnings)


def test_default_match_needs_min_matches():
    app = bare_app(transforms="[d]\nfilename = users.csv\ndefault_match = none\n",
                   lookups={"users.csv": "user,team\nalice,blue\n"})
    r = Replay(app, warn=lambda m: None)
    rows = r.spl("* | lookup d user OUTPUT team | table user team",
                 r.events_from_records([ev(user="zed")]))
    assert rows == [{"user": "zed"}]  # min_matches defaults to 0: no default value
