"""Loading and validating the detection source files (detections/<folder>/detection.yml)."""
import glob
import json
import os
import re

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DETECTIONS = os.path.join(ROOT, "detections")
SCHEMA_FILE = os.path.join(DETECTIONS, "detection.schema.json")
PROFILES_FILE = os.path.join(DETECTIONS, "schedules.yml")


class ContentError(Exception):
    """A detection source file that cannot be rendered; the message names the file and the fix."""


class Detection(object):
    """One saved search's source: its parsed document, folder and cases."""

    def __init__(self, folder, doc):
        self.folder = folder
        self.doc = doc

    def __getattr__(self, key):
        try:
            return self.__dict__["doc"][key]
        except KeyError:
            raise AttributeError(key)

    def get(self, key, default=None):
        return self.doc.get(key, default)

    @property
    def path(self):
        return os.path.join(self.folder, "detection.yml")

    @property
    def slug(self):
        return os.path.basename(self.folder)

    @property
    def cases_dir(self):
        return os.path.join(self.folder, "cases")

    def case_files(self):
        return sorted(glob.glob(os.path.join(self.cases_dir, "*.json")))

    def macros(self):
        """Tuning macros named in the search (`trailwatch_<id>_...`), in order of first use."""
        seen = []
        for name in re.findall(r"`(trailwatch_\w+?)(?:\([^`]*\))?`", self.search):
            prefix = "trailwatch_%s_" % (self.get("policy_id") or "").lower()
            if self.get("policy_id") and name.startswith(prefix) and name not in seen:
                seen.append(name)
        return seen


def _load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_schema():
    with open(SCHEMA_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def load_profiles(path=PROFILES_FILE):
    return _load_yaml(path)


def validate(doc, path, schema=None):
    """Raises ContentError naming the file, the field and what is wrong."""
    validator = jsonschema.Draft202012Validator(schema or load_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = ["%s: %s: %s" % (path, "/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
                 for e in errors]
        raise ContentError("\n".join(lines))


def load_all(root=DETECTIONS):
    """Every detection source under root, validated, with cross-file checks; sorted by kind
    (support, baselines, detections) then folder, the order savedsearches.conf lists them."""
    schema = load_schema()
    profiles = load_profiles(os.path.join(root, "schedules.yml"))
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*", "detection.yml"))):
        doc = _load_yaml(path)
        if not isinstance(doc, dict):
            raise ContentError("%s: not a YAML mapping" % path)
        validate(doc, path, schema)
        out.append(Detection(os.path.dirname(path), doc))
    _check_together(out, profiles)
    order = {"support": 0, "baseline": 1, "detection": 2}
    out.sort(key=lambda d: (order[d.kind], d.slug))
    return out


def _check_together(detections, profiles):
    problems = []
    names = {}
    for kind_key in ("name", "id", "policy_id"):
        seen = {}
        for d in detections:
            value = d.get(kind_key)
            if value is None:
                continue
            if value in seen:
                problems.append("%s and %s share %s %r" % (seen[value], d.path, kind_key, value))
            seen[value] = d.path
        if kind_key == "name":
            names = seen
    for d in detections:
        sched = d.schedule
        profile = profiles.get(sched["profile"])
        if profile is None:
            problems.append("%s: unknown schedule profile %r" % (d.path, sched["profile"]))
            continue
        need = {"minute": ("minute",), "hour_minute": ("hour", "minute")}[profile["offset"]]
        for key in need:
            if key not in sched:
                problems.append("%s: schedule profile %s needs %s" % (d.path, sched["profile"], key))
        if "minute" in sched and sched["minute"] >= profile["period_minutes"]:
            problems.append("%s: minute %d is not below the period of %s (%d minutes)"
                            % (d.path, sched["minute"], sched["profile"], profile["period_minutes"]))
        for req in d.get("requires", []):
            if req not in names:
                problems.append("%s: requires %r, which no detection file defines" % (d.path, req))
        if d.kind == "detection":
            expect = "%s_" % d.policy_id.lower()
            if not d.slug.startswith(expect):
                problems.append("%s: folder of policy %s must start with %r" % (d.path, d.policy_id, expect))
            if d.name != "TrailWatch - " + d.policy:
                problems.append("%s: name must be 'TrailWatch - ' + policy" % d.path)
    if problems:
        raise ContentError("\n".join(problems))


def with_summaries(names, content):
    """``names`` (saved search names, in run order) preceded by the summary searches (support
    searches that ``collect`` into a summary index) any of them requires and that are not
    already among them: what must run first when they run outside the scheduler."""
    by_name = {d.name: d for d in content}
    summaries = [d.name for d in content if d.kind == "support" and "| collect " in d.search]
    needed = [s for s in summaries if s not in names and any(
        s in by_name[n].get("requires", []) for n in names if n in by_name)]
    return needed + list(names)
