"""Every .conf of the built add-on against Splunk's published .conf.spec keys (9.4 and 10.0):
the build runs the same check; here it is proven to pass on the add-on and to refuse what
Splunk would not read."""
import json
import os
import shutil

import pytest

from confcheck import check
from confcheck.app import check_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP_DIR = os.path.join(ROOT, "output", "TA-trailwatch")
A09 = "TrailWatch - Security group configuration changes"


def test_the_built_addon_uses_only_keys_splunk_defines():
    assert check_app(APP_DIR) == []


@pytest.mark.parametrize("version", check.VERSIONS)
def test_spec_lists_say_where_they_come_from(version):
    spec = check.load_spec("savedsearches.conf", version)
    assert "/spec_files/%s/savedsearches.conf.spec" % version in spec.source
    keys = spec.settings_for("TrailWatch - anything")
    for key in ("enableSched", "cron_schedule", "schedule_window", "allow_skew", "realtime_schedule",
                "alert.digest_mode", "alert.suppress.fields", "dispatch.index_earliest"):
        assert key in keys, key
    assert "is_scheduled" not in keys
    assert check.key_allowed("EVAL-user", check.load_spec("props.conf", version).settings_for("aws:cloudtrail"))


@pytest.fixture
def app_copy(tmp_path):
    app = tmp_path / "TA-trailwatch"
    shutil.copytree(APP_DIR, str(app), ignore=shutil.ignore_patterns("lib", "bin", "appserver"))
    return app


def _add_to_stanza(app, conf, stanza, line):
    path = app / "default" / conf
    text = path.read_text()
    head = "[%s]\n" % stanza
    assert head in text
    path.write_text(text.replace(head, head + line + "\n", 1))


@pytest.mark.parametrize("line, complaint", [
    ("is_scheduled = 1", "is_scheduled: not a key of savedsearches.conf.spec"),
    ("enableSched = true", "enableSched = 'true': must be 0 or 1"),
    ("cron_schedule = */10 * * * MON", "Splunk cron takes no names"),
    ("cron_schedule = 61 * * * *", "out of range"),
    ("dispatch.index_earliest = 15 minutes ago", "not a Splunk time modifier"),
    ("realtime_schedule = maybe", "must be a boolean"),
    ("counttype = number of rows", "must be one of"),
    ("action.notable.param.rule_titel = x", "not a setting Enterprise Security defines"),
    ("action.pagerduty = 1", "neither Splunk nor this add-on defines"),
    ("action.email.colour = red", "alert action 'email' has no setting 'colour'"),
    ("action.logevent.param.colour = red", "alert action 'logevent' has no setting 'param.colour'"),
])
def test_refuses_what_splunk_would_not_read(app_copy, line, complaint):
    _add_to_stanza(app_copy, "savedsearches.conf", A09, line)
    problems = check_app(str(app_copy))
    assert len(problems) == 1 and complaint in problems[0], problems
    assert "savedsearches.conf" in problems[0] and A09 in problems[0]


def test_refuses_unknown_keys_in_every_conf(app_copy):
    _add_to_stanza(app_copy, "props.conf", "aws:cloudtrail", "KV_MOD = json")
    (app_copy / "default" / "nonsense.conf").write_text("[x]\ny = 1\n")
    problems = check_app(str(app_copy))
    assert any("props.conf" in p and "KV_MOD" in p for p in problems), problems
    assert any("nonsense.conf" in p and "no .conf.spec" in p for p in problems), problems


def test_the_build_fails_on_an_unknown_key(app_copy):
    """python -m confcheck, as build.sh runs it: exit 1 and the key named on stderr."""
    import subprocess
    import sys
    _add_to_stanza(app_copy, "savedsearches.conf", A09, "is_scheduled = 1")
    proc = subprocess.run([sys.executable, "-m", "confcheck", str(app_copy)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools")))
    assert proc.returncode == 1 and "is_scheduled" in proc.stderr


def test_custom_confs_are_checked_against_the_addons_own_spec(app_copy):
    readme = (app_copy / "README" / "ta_trailwatch_settings.conf.spec").read_text()
    assert readme
    _add_to_stanza(app_copy, "ta_trailwatch_settings.conf", _first_stanza(app_copy, "ta_trailwatch_settings.conf"),
                   "no_such_setting = 1")
    problems = check_app(str(app_copy))
    assert any("no_such_setting" in p for p in problems), problems


def _first_stanza(app, conf):
    for line in (app / "default" / conf).read_text().splitlines():
        if line.startswith("["):
            return line.strip()[1:-1]
    raise AssertionError("no stanza in %s" % conf)


def test_es_key_list_names_its_sources():
    with open(os.path.join(check.SPECS, "es", "savedsearches.es.json")) as handle:
        doc = json.load(handle)
    assert all(group["sources"] for group in doc["sources"])


def test_the_addons_readme_cannot_add_keys_to_splunks_stanzas(app_copy):
    """UCC's README/commands.conf.spec has a [default] stanza; a key it declares there is still
    not a commands.conf key Splunk reads."""
    readme = app_copy / "README" / "commands.conf.spec"
    readme.write_text(readme.read_text() + "\n[default]\nnot_a_splunk_key = <string>\n")
    _add_to_stanza(app_copy, "commands.conf", "trailwatchundo", "not_a_splunk_key = 1")
    problems = check_app(str(app_copy))
    assert len(problems) == 1 and "not_a_splunk_key" in problems[0], problems
