"""searchbnf.conf documents every custom command as the command really is: each option the
script declares appears in the syntax (and nothing else does), and the examples only name
lookups and macros the add-on ships. Read from the built add-on, as Splunk reads it."""
import ast
import os
import re

import pytest

import command_protocol  # noqa: F401  (puts tools/ on sys.path)
from addon import APP_BIN, APP_DIR
from splreplay.conf import load_conf

COMMANDS = load_conf(APP_DIR, "commands")
BNF = load_conf(APP_DIR, "searchbnf")
NAMES = [n for n in COMMANDS.names()]


def declared_options(script):
    """Names assigned Option(...) in the command class of a script (read, not imported)."""
    with open(os.path.join(APP_BIN, script), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if (isinstance(item, ast.Assign) and isinstance(item.value, ast.Call)
                        and getattr(item.value.func, "id", None) == "Option"):
                    names.extend(t.id for t in item.targets)
    return names


def test_every_command_has_its_documentation():
    assert set(NAMES) >= {"trailwatchipclass", "trailwatchtravel", "trailwatchscore",
                          "trailwatchundo"}
    for name in NAMES:
        stanza = BNF.own(name + "-command")
        for key in ("syntax", "shortdesc", "description", "usage", "example1", "comment1"):
            assert stanza.get(key), "searchbnf.conf [%s-command] has no %s" % (name, key)
        assert stanza["syntax"].startswith(name)


@pytest.mark.parametrize("name", NAMES)
def test_syntax_names_exactly_the_declared_options(name):
    options = declared_options(COMMANDS.own(name)["filename"])
    assert options, name
    syntax = BNF.own(name + "-command")["syntax"]
    in_syntax = re.findall(r"\b([a-z_]+)=", syntax)
    assert sorted(set(in_syntax)) == sorted(options)


def test_examples_name_only_shipped_lookups_and_macros():
    lookups = set(load_conf(APP_DIR, "transforms").names())
    macros = {n.split("(")[0] for n in load_conf(APP_DIR, "macros").names()}
    checked = 0
    for name in NAMES:
        stanza = BNF.own(name + "-command")
        for key, text in stanza.items():
            if not key.startswith("example"):
                continue
            for lookup in re.findall(r"\b(?:input)?lookup\s+(?:\w+=\S+\s+)*([A-Za-z_]\w*)", text):
                assert lookup in lookups, "%s %s names an unknown lookup %r" % (name, key, lookup)
                checked += 1
            for macro in re.findall(r"`([\w]+)(?:\([^`]*\))?`", text):
                assert macro in macros, "%s %s names an unknown macro %r" % (name, key, macro)
                checked += 1
    assert checked >= 4
