"""TrailWatch for AWS: the add-on's own code, importable and testable without Splunk.

Sub-packages: aws (sessions, account validation), ingest (inputs), detect (search-command
logic), govern (alert actions), splunk (thin adapters over Splunk's interfaces).
"""
import os

APP_NAME = "TA-trailwatch"
REST_ROOT = "ta_trailwatch"
ACCOUNT_CONF = "ta_trailwatch_account"
SETTINGS_CONF = "ta_trailwatch_settings"


def _read_version():
    # ucc-gen writes the add-on's version to <app>/VERSION; this file is <app>/bin/trailwatch/.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "VERSION")
    try:
        with open(path) as handle:
            return handle.readline().strip() or "dev"
    except OSError:
        return "dev"


__version__ = _read_version()
