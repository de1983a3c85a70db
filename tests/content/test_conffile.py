"""The one .conf reader (tools/conffile.py) and the three tools that use it agree."""
from confcheck.check import read_conf
from splreplay.conf import Conf
from splunkd_double._conffile import parse_conf

import conffile

TEXT = ("\ufefftop = t\r\n"
        "# a comment\r\n"
        "[s1]\r\n"
        "search = index=aws \\\r\n"
        "  | stats count # not a comment\r\n"
        "   # indented comment\r\n"
        "path = C:\\\\\r\n"
        "next = n\r\n"
        "[s2]\r\n"
        "description = one = two\r\n")
EXPECTED = {
    "default": {"top": "t"},
    "s1": {"search": "index=aws \n  | stats count # not a comment", "path": "C:\\\\",
           "next": "n"},
    "s2": {"description": "one = two"},
}


def test_entries_stanzas_comments_continuations_and_escaped_backslash():
    got = {}
    for stanza, key, value, _line in conffile.entries(TEXT):
        stanza_settings = got.setdefault(stanza, {})
        if key is not None:
            stanza_settings[key] = value
    assert got == EXPECTED
    lines = {key: line for _s, key, _v, line in conffile.entries(TEXT) if key}
    assert (lines["search"], lines["path"], lines["description"]) == (4, 7, 10)


def test_a_line_without_equals_is_reported_with_no_value():
    assert conffile.entries("[s]\nnot a setting\n") == [("s", None, None, 1),
                                                         ("s", "not a setting", None, 2)]


def test_the_checker_replay_and_splunkd_double_read_the_same_settings(tmp_path):
    path = tmp_path / "x.conf"
    path.write_bytes(TEXT.encode("utf-8"))
    checked = {}
    for stanza, key, value, _line in read_conf(str(path)):
        checked.setdefault(stanza, {})[key] = value
    replayed = Conf("x")
    replayed.merge_file(str(path))
    served = parse_conf(TEXT)
    assert checked == served == replayed.stanzas == EXPECTED
