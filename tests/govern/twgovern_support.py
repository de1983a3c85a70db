"""Running the built governance alert actions and the undo command the way Splunk does.

- `GovernSplunkd`, `run_alert`, `run_undo`: tools/splunk_runner/alert_action.py (shared
  with the demo), here on the Splunk interpreter `default_python` picks;
- For "Notify AWS user": splunkd's `admin/alert_actions/email` endpoint (Splunk's e-mail
  settings, `alert_actions.conf [email]`) on the double, and the one search the action runs
  through splunkd (`POST search/jobs`: inputlookup of its outbox piped to sendemail), which
  sendemail_double.py models, delivering to the test's SMTP relay; `moto_data` reads what
  moto recorded (SES messages, SNS publications) through its `/moto-api/data.json`.
"""
import base64
import json
import os
import subprocess
import sys
import urllib.request
from urllib.parse import unquote

import sendemail_double
from splunk_runner import alert_action
from splunk_runner.alert_action import (  # noqa: F401
    COLLECTION,
    KEY_ID,
    RUNTIME,
    SECRET,
    AddonSplunkd,
    script_env,
    write_results,
)
from splunkd_double import APP  # noqa: F401
from splunkd_double._render import Entity
from splunkd_double.server import _HttpError, _NotImplementedHere, _Response

from addon import APP_BIN, APP_DIR, ROOT, splunk_pythons  # noqa: E402,F401
ACCOUNT_ID = "123456789012"
# Targets the admin protected in the installed copy's lookups (conftest.installed_app).
PROTECTED_BUCKET = "tw-protected-data"
WEBSITE_BUCKET = "tw-public-website"
PROTECTED_USER = "svc-payments"
ADMIN_PATH = "/tw-admins/"
PATH_PROTECTED_USER = "tw-path-admin"


def interpreters():
    """(version, path) of the Splunk interpreters present (3.9 first)."""
    return splunk_pythons()


_CHOSEN = []


def default_python():
    """The interpreter that runs the alert scripts: Splunk 9.x's Python (3.9) when it is
    installed and imports what UCC's alert wrapper needs from the add-on's lib/ alone
    (`requests` for splunktaucclib's alert base: bundled since package/lib/requirements.txt
    pins it); else this test interpreter. Tests that must cover both Splunk interpreters
    (3.9 and 3.13) pass `python=` explicitly (see test_on_splunk_pythons.py)."""
    if not _CHOSEN:
        chosen = sys.executable
        for _version, exe in interpreters():
            if exe and subprocess.run(
                    [exe, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import requests",
                     os.path.join(APP_DIR, "lib")], capture_output=True).returncode == 0:
                chosen = exe
                break
        _CHOSEN.append(chosen)
    return _CHOSEN[0]


class GovernSplunkd(AddonSplunkd):
    """The add-on's splunkd double (splunk_runner.alert_action.AddonSplunkd) plus what
    "Notify AWS user" needs: Splunk's e-mail settings and the one search it runs."""

    def __init__(self, app_dir=APP_DIR, **kwargs):
        AddonSplunkd.__init__(self, app_dir, **kwargs)
        self.searches = []  # {"user", "search"} of every POST search/jobs

    # Splunk's own defaults for [email] (etc/system/default/alert_actions.conf).
    EMAIL_DEFAULTS = {"mailserver": "localhost", "from": "splunk", "use_ssl": "0", "use_tls": "0",
                      "auth_username": "", "auth_password": "", "allowedDomainList": ""}
    email_settings_status = 200  # set to 403 to model a user who may not read them

    def set_email_settings(self, **fields):
        """Splunk's e-mail settings (Settings > Server settings > Email settings), as
        splunkd keeps them in system/local/alert_actions.conf [email]: `auth_password` is
        stored encrypted (see encrypt_password)."""
        content = dict(self.EMAIL_DEFAULTS)
        content.update({k: str(v) for k, v in fields.items()})
        self.set_stanza("alert_actions", "email", content, app="system")

    def _ep_alert_actions_email(self, ctx):
        """GET admin/alert_actions/email, as splunkd answers it since 8.1.1: the [email]
        settings, and the stored (encrypted) password as `clear_password`."""
        if ctx.method != "GET":
            raise _HttpError(405, "only GET is modelled")
        if self.email_settings_status != 200:
            raise _HttpError(self.email_settings_status, "You (user=admin) do not have permission "
                             "to perform this operation (requires capability: admin_all_objects).")
        stored = self._email_settings()
        content = {k: v for k, v in stored.items() if k != "auth_password"}
        content["clear_password"] = stored.get("auth_password", "")
        entity = Entity("email", "admin/alert_actions", content, owner="nobody", app="system")
        return self._feed_response(ctx, 200, "alert_actions", [entity])

    def _email_settings(self):
        try:
            return dict(self.stanza("alert_actions", "email", "system"))
        except KeyError:
            return dict(self.EMAIL_DEFAULTS)

    def _route(self, ctx, rest):
        parts = [unquote(s) for s in (rest or [])]
        if parts == ["search", "jobs"] and ctx.method == "POST":
            ctx.user = self._authenticate(ctx)
            if ctx.user is None:
                raise _HttpError(401, "call not properly authenticated", "WARN")
            if ctx.param("exec_mode") != "oneshot":
                raise _NotImplementedHere()
            try:
                status, body = sendemail_double.oneshot(self, ctx, self._email_settings())
            except sendemail_double.SearchNotModelled:
                raise _NotImplementedHere()
            except sendemail_double.SearchFailed as exc:
                raise _HttpError(400, str(exc))
            return _Response(status, json.dumps(body).encode("utf-8"), "application/json; charset=UTF-8")
        if parts == ["admin", "alert_actions", "email"]:
            ctx.user = self._authenticate(ctx)
            if ctx.user is None:
                raise _HttpError(401, "call not properly authenticated", "WARN")
            return self._ep_alert_actions_email(ctx)
        return AddonSplunkd._route(self, ctx, rest)


def run_alert(app_dir, action, rows, configuration, splunkd, moto_url, tmp_path, python=None,
              **kwargs):
    """splunk_runner.alert_action.run_alert on the default Splunk interpreter."""
    return alert_action.run_alert(app_dir, action, rows, configuration, splunkd, moto_url,
                                  tmp_path, python=python or default_python(), **kwargs)


def modalert_log(tmp_path, action):
    path = tmp_path / "splunk_home" / "var" / "log" / "splunk" / ("%s_modalert.log" % action)
    return path.read_text() if path.exists() else ""


def run_undo(app_dir, args, splunkd, moto_url, tmp_path, python=None, **kwargs):
    """splunk_runner.alert_action.run_undo on the default Splunk interpreter."""
    return alert_action.run_undo(app_dir, args, splunkd, moto_url, tmp_path,
                                 python=python or default_python(), **kwargs)


# --------------------------------------------------------------------------- notify helpers
def encrypt_password(clear):
    """The test stand-in for splunkd's `$7$` encryption of `auth_password` (real values are
    AES-GCM with splunk.secret); only splunkd (sendemail_double.decrypt) reverses it."""
    return "$7$" + base64.b64encode(clear.encode("utf-8")).decode("ascii")


def moto_data(moto_url):
    """moto's recorded state (its /moto-api/data.json): SES messages, SNS publications."""
    with urllib.request.urlopen(moto_url + "/moto-api/data.json", timeout=30) as answer:
        return json.loads(answer.read().decode("utf-8"))


def ses_messages(moto_url, recipient):
    return [m for m in moto_data(moto_url)["ses"]["Message"]
            if recipient in (m.get("destinations") or {}).get("ToAddresses", [])]


def sns_publications(moto_url, topic_arn):
    for topic in moto_data(moto_url)["sns"]["Topic"]:
        if topic["arn"] == topic_arn:
            return [{"message_id": n[0], "message": n[1], "subject": n[2], "attributes": n[3]}
                    for n in topic["sent_notifications"]]
    return []
