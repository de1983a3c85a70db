"""Serves an add-on's shipped ``default/`` configuration as splunkd would: its .conf files read
with the project's one .conf reader (``tools/conffile.py``)."""
from __future__ import annotations

import os

import conffile


def parse_conf(text):
    """{stanza: {key: value}}; settings before any stanza belong to ``default``."""
    stanzas = {}
    for stanza, key, value, _line in conffile.entries(text):
        if stanza == "default" and key is None:
            continue
        current = stanzas.setdefault(stanza, {})
        if key is not None and value is not None:
            current[key] = value
    if not stanzas.get("default", True):
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
