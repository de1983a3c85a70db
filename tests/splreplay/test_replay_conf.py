"""Reading .conf files as Splunk does."""
import pytest

from splreplay.conf import load_conf
from splreplay.errors import ConfigError


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_stanzas_comments_continuations_and_default(tmp_path):
    write(tmp_path / "default" / "savedsearches.conf",
          "# a comment\n"
          "global_key = g\n"
          "[default]\n"
          "dispatch.earliest_time = -24h\n"
          "\n"
          "   # indented comment\n"
          "[A search]\n"
          "search = index=aws \\\n"
          "  | stats count # not a comment\n"
          "description = one = two\n")
    conf = load_conf(str(tmp_path), "savedsearches")
    st = conf.get("A search")
    assert st["search"] == "index=aws \n  | stats count # not a comment"
    assert st["description"] == "one = two"
    assert st["dispatch.earliest_time"] == "-24h"
    assert st["global_key"] == "g"
    assert conf.names() == ["A search"]


def test_local_layers_over_default_key_by_key(tmp_path):
    write(tmp_path / "default" / "macros.conf", "[m]\ndefinition = a\nargs = \n[n]\ndefinition = n\n")
    write(tmp_path / "local" / "macros.conf", "[m]\ndefinition = b\n[o]\ndefinition = o\n")
    conf = load_conf(str(tmp_path), "macros")
    assert conf.get("m") == {"definition": "b", "args": ""}
    assert conf.names() == ["m", "n", "o"]


def test_repeated_stanza_merges_and_last_key_wins(tmp_path):
    write(tmp_path / "default" / "props.conf", "[s]\na = 1\nb = 2\n[t]\nx=1\n[s]\na = 3\n")
    conf = load_conf(str(tmp_path), "props")
    assert conf.get("s") == {"a": "3", "b": "2"}


def test_missing_files_are_empty(tmp_path):
    assert load_conf(str(tmp_path), "tags").names() == []


def test_a_line_without_equals_is_an_error_with_its_line_number(tmp_path):
    write(tmp_path / "default" / "tags.conf", "[x]\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"tags.conf:2"):
        load_conf(str(tmp_path), "tags")
