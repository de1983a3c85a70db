"""Checks every .conf (and metadata/*.meta) of an add-on folder against the spec key lists."""
import glob
import json
import os

from .check import (SPECS, VERSIONS, key_allowed, load_spec, parse_spec_text, placeholder_regex,
                    read_conf, value_problem)

# Alert actions whose savedsearches.conf settings (action.<name>.*) Splunk Enterprise Security
# defines; their keys are listed in specs/es/savedsearches.es.json.
ES_FILE = os.path.join(SPECS, "es", "savedsearches.es.json")
# Settings that a newer Splunk than the checked versions defines, which the add-on sets because
# AppInspect asks for them and which older versions ignore (with where each is defined).
FORWARD_FILE = os.path.join(SPECS, "forward.json")


def _forward_keys():
    if not os.path.exists(FORWARD_FILE):
        return {}
    with open(FORWARD_FILE, encoding="utf-8") as handle:
        doc = json.load(handle)
    out = {}
    for entry in doc["settings"]:
        for conf in entry["confs"]:
            out.setdefault(conf, {})[entry["key"]] = entry["value"]
    return out


def _own_settings(readme, splunk_spec, stanza):
    """Settings the add-on's README/<conf>.spec defines for a stanza of a conf Splunk owns:
    only in the add-on's own stanzas (its modular input schemes, its alert actions: headers
    Splunk's spec does not have), never in Splunk's ([default], [admin_external:<uniqueName>]):
    an add-on cannot add keys to Splunk's stanzas."""
    splunk_headers = {header for header, _settings in splunk_spec.entries}
    found = {}
    for header, settings in readme.entries:
        if header in splunk_headers or header in ("default", "") or header.startswith("<"):
            continue
        scheme = header.split("://", 1)[0]
        if stanza == scheme or placeholder_regex(header).match(stanza):
            found.update(settings)
    return found


def _app_specs(app_dir):
    """The add-on's own README/<conf>.spec files (custom confs, modular inputs, alert params)."""
    out = {}
    for path in glob.glob(os.path.join(app_dir, "README", "*.spec")):
        conf = os.path.basename(path)[:-len(".spec")]
        with open(path, encoding="utf-8") as handle:
            out[conf] = parse_spec_text(conf, handle.read(), os.path.relpath(path, app_dir))
    return out


def _es_keys():
    if not os.path.exists(ES_FILE):
        return {}
    with open(ES_FILE, encoding="utf-8") as handle:
        doc = json.load(handle)
    keys = {}
    for entry in doc["stanzas"]:
        keys.update(entry["settings"])
    return keys


def _alert_action_params(app_dir, version):
    """{action name: {param key: type}} for the actions a saved search may configure:
    Splunk's own (alert_actions.conf.spec literal stanzas) and the add-on's alert_actions.conf."""
    out = {}
    spec = load_spec("alert_actions.conf", version)
    shipped = os.path.join(SPECS, "splunk_actions.json")
    if os.path.exists(shipped):
        with open(shipped, encoding="utf-8") as handle:
            for name, entry in json.load(handle)["actions"].items():
                params = dict(spec.default) if spec else {}
                params.update({param: "<string>" for param in entry["params"]})
                out[name] = params
    if spec:
        for name, settings in spec.literal.items():
            if name != "default":
                merged = dict(spec.default)
                merged.update(settings)
                out[name] = merged
    ours = os.path.join(app_dir, "default", "alert_actions.conf")
    if os.path.exists(ours):
        readme = _app_specs(app_dir).get("alert_actions.conf")
        for stanza, key, _value, _n in read_conf(ours):
            params = out.setdefault(stanza, dict(spec.default) if spec else {})
            params.setdefault(key, "<value>")
            if readme:
                params.update(readme.settings_for(stanza))
    return out


def _check_action_key(key, value, actions, es_keys, savedsearch_settings):
    """savedsearches.conf action.<name>[.<param>]: the action must exist and the param be one
    it defines (Splunk's spec, ES's keys, or the add-on's own action)."""
    if key in es_keys:
        return None
    if key in savedsearch_settings:  # literal keys of the spec (action.email.to, ...)
        return None
    parts = key.split(".", 2)
    name = parts[1]
    if name in ("correlationsearch", "notable", "risk"):
        return "is not a setting Enterprise Security defines for %s" % name
    if name not in actions:
        return "names alert action %r, which neither Splunk nor this add-on defines" % name
    if len(parts) == 2:
        return None
    param = parts[2]
    if key_allowed(param, actions[name]) is None:
        return "alert action %r has no setting %r" % (name, param)
    return None


def check_app(app_dir, versions=VERSIONS):
    """[problem text] for every unknown key or bad value in the add-on's .conf files."""
    problems = []
    own = _app_specs(app_dir)
    es_keys = _es_keys()
    forward = _forward_keys()
    files = sorted(glob.glob(os.path.join(app_dir, "default", "*.conf")))
    files += sorted(glob.glob(os.path.join(app_dir, "metadata", "*.meta")))
    for path in files:
        conf = os.path.basename(path)
        rel = os.path.relpath(path, app_dir)
        entries = read_conf(path)
        for version in versions:
            spec = load_spec(conf, version)
            if spec is None and conf not in own:
                problems.append(("%s: no .conf.spec in Splunk and none in README/: Splunk would "
                                 "not know this file" % rel, version))
                continue
            actions = _alert_action_params(app_dir, version) if conf == "savedsearches.conf" else {}
            for stanza, key, value, number in entries:
                where = "%s:%d [%s] %s" % (rel, number, stanza, key)
                if value is None:
                    problems.append("%s: not a key = value line" % where)
                    continue
                allowed = {}
                if spec is not None:
                    allowed.update(spec.settings_for(stanza))
                    if conf in own:
                        allowed.update(_own_settings(own[conf], spec, stanza))
                    allowed.update(forward.get(conf, {}))
                elif conf in own:  # the add-on's own .conf: its README spec is the spec
                    allowed.update(own[conf].settings_for(stanza))
                if conf == "savedsearches.conf" and key.startswith("action."):
                    problem = _check_action_key(key, value, actions, es_keys, allowed)
                    if problem:
                        problems.append(("%s: %s" % (where, problem), version))
                    continue
                type_text = key_allowed(key, allowed)
                if type_text is None:
                    problems.append(("%s: not a key of %s.spec" % (where, conf), version))
                    continue
                problem = value_problem(key, value, type_text)
                if problem:
                    problems.append(("%s = %r: %s (spec: %s)" % (where, value, problem, type_text), version))
    # one line a problem, with the Splunk versions it holds for
    merged = {}
    for text, version in problems:
        merged.setdefault(text, []).append(version)
    return ["%s (Splunk %s)" % (text, ", ".join(versions)) for text, versions in merged.items()]
