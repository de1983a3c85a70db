"""Splunk .conf files as splreplay layers them (lines are read by ``tools/conffile.py``:
stanzas, comments, continuations, ``key = value``; a line that is none of these is refused).

- A stanza that appears twice is merged (later keys win); ``local/`` is layered over
  ``default/`` key by key; the ``[default]`` stanza supplies defaults for every stanza.
"""
import os

import conffile

from .errors import ConfigError


class Conf:
    """An ordered mapping of stanza name -> {key: value} for one .conf file name."""

    def __init__(self, name):
        self.name = name
        self.stanzas = {}  # insertion order = file order (default first, then local)
        self.origin = {}  # stanza -> "path:line"

    def merge_file(self, path):
        for stanza, key, value, lineno in conffile.read(path):
            self.stanzas.setdefault(stanza, {})
            self.origin.setdefault(stanza, "%s:%d" % (path, lineno))
            if key is None:  # the stanza header
                continue
            if value is None:
                raise ConfigError("%s:%d: expected 'key = value' or '[stanza]', got %r"
                                  % (path, lineno, key[:60]))
            if not key:
                raise ConfigError("%s:%d: empty key" % (path, lineno))
            self.stanzas[stanza][key] = value

    def names(self):
        """Stanza names in file order, without ``default``."""
        return [n for n in self.stanzas if n != "default"]

    def get(self, stanza):
        """The stanza's settings with ``[default]`` applied, or None when absent."""
        if stanza not in self.stanzas:
            return None
        merged = dict(self.stanzas.get("default", {}))
        merged.update(self.stanzas[stanza])
        return merged

    def own(self, stanza):
        """The stanza's settings without ``[default]``."""
        return dict(self.stanzas.get(stanza, {}))

    def __contains__(self, stanza):
        return stanza in self.stanzas


def load_conf(app_dir, name):
    """Load ``<name>.conf`` from ``default/`` then ``local/`` (missing files are fine)."""
    conf = Conf(name)
    for layer in ("default", "local"):
        path = os.path.join(app_dir, layer, name + ".conf")
        if os.path.isfile(path):
            conf.merge_file(path)
    return conf


def parse_bool(value, default=False):
    if value is None:
        return default
    v = str(value).strip().lower()
    if v in ("1", "t", "true", "y", "yes", "on"):
        return True
    if v in ("0", "f", "false", "n", "no", "off", ""):
        return False
    raise ConfigError("not a boolean: %r" % value)
