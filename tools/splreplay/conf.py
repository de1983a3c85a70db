"""Reading Splunk .conf files the way Splunk does.

- ``[stanza]`` headers; keys before the first header belong to ``default``.
- ``#`` starts a comment only at the start of a line (after whitespace); Splunk has no
  inline comments, so ``a = b # c`` has the value ``b # c``.
- A line ending in ``\\`` continues on the next line; the line break is kept in the value
  (that is how multi-line searches in savedsearches.conf keep their shape).
- A stanza that appears twice is merged (later keys win); ``local/`` is layered over
  ``default/`` key by key; the ``[default]`` stanza supplies defaults for every stanza.
"""
import os

from .errors import ConfigError


class Conf:
    """An ordered mapping of stanza name -> {key: value} for one .conf file name."""

    def __init__(self, name):
        self.name = name
        self.stanzas = {}  # insertion order = file order (default first, then local)
        self.origin = {}  # stanza -> "path:line"

    def merge_file(self, path):
        with open(path, encoding="utf-8-sig") as handle:
            lines = handle.read().split("\n")
        stanza = "default"
        i = 0
        while i < len(lines):
            lineno = i + 1
            line = lines[i].rstrip("\r")
            i += 1
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("[") and stripped.endswith("]"):
                stanza = stripped[1:-1]
                self.stanzas.setdefault(stanza, {})
                self.origin.setdefault(stanza, "%s:%d" % (path, lineno))
                continue
            # continuation lines
            while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
                line = line[:-1] + "\n" + lines[i].rstrip("\r")
                i += 1
            if "=" not in line:
                raise ConfigError("%s:%d: expected 'key = value' or '[stanza]', got %r"
                                  % (path, lineno, stripped[:60]))
            key, _, value = line.partition("=")
            key = key.strip()
            if not key:
                raise ConfigError("%s:%d: empty key" % (path, lineno))
            self.stanzas.setdefault(stanza, {})
            self.origin.setdefault(stanza, "%s:%d" % (path, lineno))
            self.stanzas[stanza][key] = value.strip()

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
