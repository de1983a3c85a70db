"""eval/where expressions and eval functions."""
import pytest

from replay_helpers import ev, run
from splreplay.errors import SearchRuntimeError, SplError, Unsupported
from splreplay.values import render_field

REC = ev("2024-03-05T09:00:00Z", eventName="ConsoleLogin", n="5", m="2.5", s="abc",
         user="Alice", tags=["b", "a", "b"], ip="203.0.113.9", zero="0",
         arn="arn:aws:sts::111122223333:assumed-role/OpsAdmin/carol@example.com",
         userIdentity={"type": "Root", "userName": "root"},
         items=[{"port": 22}, {"port": 3389}])
NOW = 1709632800.0  # 2024-03-05T10:00:00Z


def val(expr, rec=REC):
    rows = run("* | eval out=%s | table out" % expr, [rec], now=NOW)
    v = rows[0].get("out")
    return None if v is None else render_field(v)


def where(expr, rec=REC):
    return len(run("* | where %s" % expr, [rec], now=NOW)) == 1


@pytest.mark.parametrize("expr, expected", [
    ("n+1", "6"), ("n*m", "12.5"), ("n/2", "2.5"), ("10/5", "2"), ("n-7", "-2"),
    ("7%3", "1"), ("-n", "-5"), ("(n+1)*2", "12"),
    ('s."-".n', "abc-5"), ('s+"def"', "abcdef"), ("s+1", None),
    ("missing+1", None), ('missing."x"', None), ("n/zero", None),
])
def test_arithmetic_concatenation_and_null(expr, expected):
    assert val(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ('user="Alice"', True), ('user="alice"', False),  # eval/where are case-sensitive
    ("n=5", True), ('n="5"', True), ("n=5.0", True), ("n>4", True), ("n<10", True),
    ('s<"abd"', True), ("missing=1", False), ("missing!=1", False), ("NOT missing=1", False),
    ("isnull(missing) OR missing=1", True), ("NOT (missing=1)", False),
    ('tags{}="a"', None),  # braces need quotes: checked separately
    ("'tags{}'=\"a\"", True), ("'tags{}'!=\"b\"", True), ("'tags{}'=\"c\"", False),
    ("'userIdentity.type'=\"Root\"", True),
    ('user LIKE "Al%"', True), ('user LIKE "al%"', False), ('user LIKE "A_ice"', True),
    ('eventName IN ("StopLogging", "ConsoleLogin")', True),
    ('n>4 AND s="abc"', True), ('n>10 OR s="abc"', True), ('n>4 XOR s="abc"', False),
])
def test_where_comparisons(expr, expected):
    if expected is None:
        with pytest.raises(SplError, match="braces must be single-quoted"):
            where(expr)
        return
    assert where(expr) is expected


def test_unquoted_dotted_field_is_refused_as_ambiguous():
    with pytest.raises(Unsupported, match="single-quote a field name containing dots"):
        where('userIdentity.type="Root"')


def test_boolean_results_cannot_be_assigned():
    with pytest.raises(SplError, match="Fields cannot be assigned a boolean result"):
        val("n>1")
    assert val('if(n>1, "big", "small")') == "big"


def test_typechecking_of_boolean_operators_and_where():
    with pytest.raises(SplError, match="Typechecking failed"):
        where("n AND s")
    with pytest.raises(SplError, match="must be boolean"):
        where("n*2")
    with pytest.raises(SearchRuntimeError, match="non-boolean value 6"):
        where("n+1")  # + may be text or number: found out when it runs
    with pytest.raises(SplError, match="first argument of if"):
        val('if(n, 1, 2)')


def test_lowercase_operators_are_refused():
    with pytest.raises(Unsupported, match="upper case"):
        where("n>1 and s=\"abc\"")


def test_three_valued_logic():
    assert where("missing>1 OR n=5")
    assert not where("missing>1 AND n=5")
    assert not where("NOT missing>1")
    assert val('if(missing>1, "y", "n")') == "n"


def test_eval_assignments_are_sequential_and_null_removes():
    rows = run('* | eval a=1, b=a+1, user=null() | table a b user', [REC])
    assert rows == [{"a": 1, "b": 2}]


def test_eval_can_create_dotted_fields():
    rows = run("* | eval x.y=1, 'a{}'=2 | table x.y a{}", [REC])
    assert rows == [{"x.y": 1, "a{}": 2}]


@pytest.mark.parametrize("expr, expected", [
    ('if(isnull(missing), "none", "some")', "none"),
    ('case(n>10, "big", n>3, "medium", true(), "small")', "medium"),
    ('case(n>10, "big")', None),
    ("coalesce(missing, other, user)", "Alice"),
    ("nullif(n, 5)", None), ("nullif(n, 6)", "5"),
    ("isnotnull(user)", None),  # bool result: checked via if below
    ('if(isnum(n), "y", "n")', "y"), ('if(isnum(s), "y", "n")', "n"),
    ('if(isint(m), "y", "n")', "n"), ('if(isstr(s), "y", "n")', "y"),
    ("typeof(n)", "Number"), ("typeof(s)", "String"), ("typeof('tags{}')", "Multivalue"),
    ("typeof(missing)", "Invalid"), ("typeof(n>1)", "Boolean"),
    ('if(match(arn, "assumed-role/[^/]+/"), 1, 0)', "1"),
    ('if(match(arn, "^ASSUMED"), 1, 0)', "0"),
    ('if(like(user, "A%"), 1, 0)', "1"),
    ('if(in(eventName, "A", "ConsoleLogin"), 1, 0)', "1"),
    ('if(cidrmatch("203.0.113.0/24", ip), 1, 0)', "1"),
    ('if(cidrmatch("10.0.0.0/8", ip), 1, 0)', "0"),
    ('if(cidrmatch("10.0.0.0/8", "not-an-ip"), 1, 0)', "0"),
    ('if(searchmatch("eventName=consolelogin user=A*"), 1, 0)', "1"),
    ('validate(n>1, "too small", s="abc", "bad s")', None),
    ('validate(n>10, "too small")', "too small"),
])
def test_conditional_functions(expr, expected):
    if expr.startswith("isnotnull"):
        assert val('if(isnotnull(user), 1, 0)') == "1"
        return
    assert val(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ('tonumber("0x1F")', "31"), ('tonumber("12")', "12"), ('tonumber("ab")', None),
    ('tonumber("ff", 16)', "255"), ('tostring(5)', "5"), ("tostring(1234567, \"commas\")", "1,234,567"),
    ('tostring(3725, "duration")', "01:02:05"), ('tostring(90061, "duration")', "1+01:01:01"),
    ('tostring(255, "hex")', "0xff"),
    ("abs(-3)", "3"), ("ceiling(2.1)", "3"), ("ceil(2.1)", "3"), ("floor(2.9)", "2"),
    ("round(2.5)", "3"), ("round(-2.5)", "-3"), ("round(3.14159, 2)", "3.14"),
    ("sqrt(16)", "4"), ("pow(2, 10)", "1024"), ("exp(0)", "1"), ("ln(1)", "0"),
    ("log(100)", "2"), ("log(8, 2)", "3"),
    ("min(3, 1, 2)", "1"), ("max(3, 10, 2)", "10"), ('max(3, "a")', "a"), ('min(3, "a")', "3"),
    ("max('tags{}')", "b"),
])
def test_conversion_and_maths(expr, expected):
    assert val(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("len(s)", "3"), ("lower(user)", "alice"), ("upper(user)", "ALICE"),
    ("substr(s, 2)", "bc"), ("substr(s, 1, 2)", "ab"), ("substr(s, -2)", "bc"),
    ("substr(s, -2, 1)", "b"),
    ('replace(arn, "^.*/([^/]+)$", "\\1")', "carol@example.com"),
    ('replace(s, "b", "X")', "aXc"),
    ('trim("  x  ")', "x"), ('ltrim("xxay", "x")', "ay"), ('rtrim("a  ")', "a"),
    ('mvindex(split(arn, "/"), -1)', "carol@example.com"),
    ('mvindex(split(arn, "/"), 1)', "OpsAdmin"),
    ('urldecode("a%20b%2Fc")', "a b/c"),
    ('md5("abc")', "900150983cd24fb0d6963f7d28e17f72"),
    ('sha256("abc")', "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
])
def test_text_functions(expr, expected):
    assert val(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("mvcount('tags{}')", "3"), ("mvcount(user)", "1"), ("mvcount(missing)", None),
    ("mvindex('tags{}', 0)", "b"), ("mvindex('tags{}', -1)", "b"),
    ("mvindex('tags{}', 0, 1)", ["b", "a"]), ("mvindex('tags{}', 5)", None),
    ('mvjoin(\'tags{}\', ";")', "b;a;b"),
    ("mvdedup('tags{}')", ["b", "a"]), ("mvsort('tags{}')", ["a", "b", "b"]),
    ('mvappend(user, "x", \'tags{}\')', ["Alice", "x", "b", "a", "b"]),
    ('mvappend(missing, "x")', "x"),
    ('mvfind(\'tags{}\', "^a")', "1"),
    ('mvzip(\'tags{}\', \'tags{}\', ":")', ["b:b", "a:a", "b:b"]),
    ('mvfilter(\'tags{}\'="b")', ["b", "b"]),
    ('mvfilter(match(\'items{}.port\', "^3"))', "3389"),
    ('mvmap(\'items{}.port\', \'items{}.port\'+1)', ["23", "3390"]),
    ('split("a,,b", ",")', ["a", "", "b"]),
])
def test_multivalue_functions(expr, expected):
    assert val(expr) == expected


def test_multivalue_in_scalar_context_is_refused_at_run_time():
    with pytest.raises(SearchRuntimeError, match="multivalue"):
        val("lower('tags{}')")
    with pytest.raises(SearchRuntimeError, match="multivalue"):
        val("'items{}.port'+1")


@pytest.mark.parametrize("expr, expected", [
    ("now()", "1709632800"), ("time()", "1709632800"),
    ('relative_time(now(), "-1d@d")', "1709510400"),
    ('relative_time(now(), "@w1")', "1709510400"),  # Monday 2024-03-04
    ('relative_time(now(), "-1mon@mon")', "1706745600"),
    ('strftime(_time, "%Y-%m-%dT%H:%M:%S.%3N%z")', "2024-03-05T09:00:00.000+0000"),
    ('strftime(_time, "%d/%b/%Y %H")', "05/Mar/2024 09"),
    ('strptime("2024-03-05T09:00:00Z", "%Y-%m-%dT%H:%M:%SZ")', "1709629200"),
    ('strptime("2024-03-05 10:00:00 +0100", "%Y-%m-%d %H:%M:%S %z")', "1709629200"),
    ('strptime("05/Mar/2024", "%d/%b/%Y")', "1709596800"),
    ('strptime("garbage", "%Y")', None),
])
def test_time_functions(expr, expected):
    assert val(expr) == expected


def test_unknown_function_is_refused_with_its_position():
    with pytest.raises(Unsupported, match=r"eval function printf\(\) is not implemented") as info:
        run('* | eval x=printf("%d", 1)', [REC])
    assert info.value.pos == 11


def test_wrong_argument_count():
    with pytest.raises(SplError, match=r"substr\(\) takes 2 to 3 argument"):
        val("substr(s)")


def test_eval_string_escapes():
    assert val('"say \\"hi\\""') == 'say "hi"'
    assert val('"a\\\\b"') == "a\\b"


# ---- expressions remember their value for the values of the fields they read -----------------

def _events(replay, records):
    return replay.events_from_records(records)


def test_memo_tells_numbers_text_and_multivalue_apart():
    """The memo is keyed on the field values with their types: 5 (a number from eval), "5"
    (extracted text), 5.0 and a multivalue field starting with "5" each get their own answer."""
    from splreplay.evalexpr import _memo_key
    keys = [_memo_key(v) for v in (5, "5", 5.0, ["5", "6"], ("5", "6"), None)]
    assert len(set(keys)) == len(keys)
    recs = [ev("2024-03-05T09:00:0%dZ" % i, k=str(i)) for i in range(3)]
    rows = run('* | eval x=case(k="0", 5, k="1", "5", true(), mvappend("5", "6")) '
               '| eval t=typeof(x), c=mvcount(x) | sort 0 k | table k t c', recs, now=NOW)
    assert [(r["k"], r["t"], render_field(r["c"])) for r in rows] == [
        ("0", "Number", "1"), ("1", "Number", "1"), ("2", "Multivalue", "2")]


def test_memo_follows_now_across_runs_of_one_pipeline():
    """A compiled search run at another time (the backtest's set_now) sees the new now()."""
    from replay_helpers import bare_app
    from splreplay.runner import Replay
    replay = Replay(bare_app(), warn=lambda m: None)
    events = _events(replay, [ev("2024-03-05T09:00:00Z", user="a")])
    pipeline = replay.compile('* | eval age=now()-_time, u=user | table age u', "adhoc", NOW)
    first = pipeline.run([dict(e) for e in events])[0]["age"]
    pipeline.set_now(NOW + 60)
    second = pipeline.run([dict(e) for e in events])[0]["age"]
    assert (first, second) == (3600, 3660)


def test_searchmatch_is_evaluated_for_every_row():
    """searchmatch() reads _raw, which the expression does not name: two rows with the same
    named fields but different raw text get different answers."""
    recs = [ev("2024-03-05T09:00:00Z", user="a", note="alpha"),
            ev("2024-03-05T09:00:01Z", user="a", note="beta")]
    rows = run('* | eval hit=if(searchmatch("beta") AND user="a", 1, 0) | sort 0 _time '
               '| table hit', recs, now=NOW)
    assert [render_field(r["hit"]) for r in rows] == ["0", "1"]


def test_memo_hands_out_copies_of_multivalue_results():
    """Rows given the same remembered multivalue value do not share one list, so a command
    changing one row's value in place cannot change another's."""
    recs = [ev("2024-03-05T09:00:0%dZ" % i, k="same", n=str(i)) for i in range(2)]
    rows = run('* | eval v=mvappend(k, "x") | sort 0 n | table n v', recs, now=NOW)
    assert rows[0]["v"] == rows[1]["v"] == ["same", "x"]
    assert rows[0]["v"] is not rows[1]["v"]


def test_many_distinct_values_still_give_every_row_its_own_answer():
    """Past the memo's size (and once it stops remembering for a poor hit rate) every row
    still gets the value computed from its own fields."""
    recs = [ev("2024-03-05T09:00:00Z", k="v%05d" % i) for i in range(5000)]
    rows = run('* | eval up=upper(k) | where up!=upper(k) OR isnull(up)', recs, now=NOW)
    assert rows == []
    rows = run('* | eval up=upper(k) | stats dc(up) AS n', recs, now=NOW)
    assert render_field(rows[0]["n"]) == "5000"
