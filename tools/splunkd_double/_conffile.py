"""Reads Splunk .conf files (stanzas, ``key = value``, ``#`` comments, ``\\`` continuations)
so the double can serve an add-on's shipped ``default/`` configuration as splunkd would."""
from __future__ import annotations

import os


def parse_conf(text):
    """{stanza: {key: value}}; settings before any stanza belong to ``default``."""
    stanzas = {}
    current = stanzas.setdefault("default", {})
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        # A trailing backslash continues the value on the next line (kept as a newline).
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + "\n" + lines[i]
        i += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stanzas.setdefault(stripped[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        current[key.strip()] = value.strip()
    if not stanzas["default"]:
        del stanzas["default"]
    return stanzas


def read_conf_dir(path):
    """{conf file name (without .conf): stanzas} for every .conf in ``path``."""
    found = {}
    if not os.path.isdir(path):
        return found
    for name in sorted(os.listdir(path)):
        if name.endswith(".conf"):
            with open(os.path.join(path, name), encoding="utf-8") as handle:
                found[name[: -len(".conf")]] = parse_conf(handle.read())
    return found
