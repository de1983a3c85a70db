"""Checks .conf files against .conf.spec key lists: unknown keys and malformed values."""
import json
import os
import re

import conffile

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = os.path.join(HERE, "specs")
VERSIONS = ("9.4", "10.0")
SETTING = re.compile(r"^([^\s#*\[=][^=]*?)\s*=\s*(.*)$")
TIME = re.compile(r"^(now|rt|0|[+-]?\d*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|"
                  r"d|day|days|w|week|weeks|mon|month|months|q|qtr|quarter|quarters|y|yr|year|years)"
                  r"(@(s|m|h|d|w[0-7]?|mon|q|y))?|@(s|m|h|d|w[0-7]?|mon|q|y)|\d{9,10}(\.\d+)?)$")


class Spec(object):
    """One .conf's spec: stanzas (literal names and placeholder patterns) and their keys."""

    def __init__(self, conf, stanzas, source):
        self.conf = conf
        self.source = source
        self.literal = {}
        self.patterns = []  # [(regex, settings)]
        self.default = {}
        self.entries = []  # [(stanza header without brackets, settings)] as written
        for entry in stanzas:
            self.entries.append((entry["stanza"].strip("[]"), dict(entry["settings"])))
            name, settings = entry["stanza"].strip("[]"), dict(entry["settings"])
            if conf.endswith(".meta") or name in ("default", "global"):
                # default.meta.spec documents access/export/owner (and import) with example
                # stanzas ([], [views], [views/index_status]): the keys hold for every stanza
                self.default.update(settings)
                continue
            if name in ("default", "global"):
                self.default.update(settings)
            if "<" in name:
                self.patterns.append((placeholder_regex(name), settings))
            else:
                self.literal.setdefault(name, {}).update(settings)

    def settings_for(self, stanza):
        """Keys a stanza may use: its literal entry, else the placeholder entries it matches,
        plus the global settings (which apply to every stanza)."""
        found = dict(self.default)
        if stanza in self.literal:
            found.update(self.literal[stanza])
            return found
        matched = False
        for regex, settings in self.patterns:
            if regex.match(stanza):
                found.update(settings)
                matched = True
        if not matched and self.patterns and stanza != "default":
            # one generic placeholder stanza ([<spec>], [<stanza name>]) takes any name
            for _regex, settings in self.patterns:
                found.update(settings)
        return found


def placeholder_regex(text):
    parts = re.split(r"(<[^>]*>)", text)
    body = "".join(".+" if p.startswith("<") else re.escape(p) for p in parts)
    return re.compile("^" + body + "$", re.S)


def load_spec(conf, version):
    path = os.path.join(SPECS, version, conf + ".json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        doc = json.load(handle)
    return Spec(conf, doc["stanzas"], doc["source"])


def parse_spec_text(conf, text, source):
    """A .conf.spec file (the add-on's own README/*.conf.spec) -> Spec."""
    stanzas, current = [], {"stanza": "default", "settings": {}}
    stanzas.append(current)
    for line in text.splitlines():
        if line.startswith("["):
            current = {"stanza": line.strip(), "settings": {}}
            stanzas.append(current)
            continue
        match = SETTING.match(line)
        if match and not line[0].isspace():
            current["settings"][match.group(1).strip()] = match.group(2).strip()
    return Spec(conf, stanzas, source)


def read_conf(path):
    """[(stanza, key, value, line number)] of a .conf file (continuation lines joined; a line
    without ``=`` has the value None)."""
    return [e for e in conffile.read(path) if e[1] is not None]


def key_allowed(key, settings):
    if key in settings:
        return settings[key]
    for spec_key, value in settings.items():
        if "<" in spec_key and placeholder_regex(spec_key).match(key):
            return value
    return None


def value_problem(key, value, type_text):
    """Why value does not fit the spec's value description, or None."""
    t = type_text.strip()
    v = value.strip()
    if t in ("[0 | 1]", "[0|1]", "[1|0]", "[1 | 0]"):
        return None if v in ("0", "1") else "must be 0 or 1"
    if t.startswith("<boolean>") or t == "<bool>":
        return None if v.lower() in ("0", "1", "true", "false", "t", "f", "yes", "no") else "must be a boolean"
    if t in ("<integer>", "<int>") or t.startswith("<integer>"):
        return None if re.fullmatch(r"-?\d+", v) else "must be an integer"
    if t in ("<unsigned integer>", "<non-negative integer>", "<positive integer>"):
        return None if re.fullmatch(r"\d+", v) else "must be a non-negative integer"
    if t.startswith("<cron string>") or t.startswith("<cron-style string>"):
        return cron_problem(v)
    if t.startswith("<unsigned integer> | auto"):
        return None if re.fullmatch(r"\d+|auto", v) else "must be an unsigned integer or auto"
    if key.endswith(("earliest_time", "latest_time", "index_earliest", "index_latest")) and v:
        return None if TIME.match(v) else "is not a Splunk time modifier"
    alternatives = enum_of(t)
    if alternatives and v not in alternatives:
        return "must be one of %s" % ", ".join(alternatives)
    return None


def enum_of(text):
    """['a', 'b'] for a spec value '[a | b]' or 'a | b' made of words only, else None."""
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if "|" not in inner or "<" in inner or "*" in inner:
        return None
    options = [o.strip() for o in inner.split("|")]
    if all(re.fullmatch(r"[A-Za-z0-9_. -]+", o) for o in options):
        return options
    return None


CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def cron_problem(value):
    fields = value.split()
    if len(fields) != 5:
        return "a cron schedule has 5 fields"
    for field, (low, high) in zip(fields, CRON_RANGES, strict=True):
        for part in field.split(","):
            if not CRON_FIELD.match(part):
                return "cron field %r is not *, N, N-M or */N (Splunk cron takes no names)" % field
            for number in re.findall(r"\d+", part.split("/")[0]):
                if not low <= int(number) <= high:
                    return "cron field %r is out of range %d-%d" % (field, low, high)
    return None
