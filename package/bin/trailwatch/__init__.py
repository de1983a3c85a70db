"""TrailWatch for AWS: the add-on's own code, importable and testable without Splunk.

Sub-packages: aws (sessions, validation), ingest (inputs), detect (search-command logic),
govern (alert actions), splunk (thin adapters over Splunk's interfaces).
"""

APP_NAME = "TA-trailwatch"
REST_ROOT = "ta_trailwatch"
ACCOUNT_CONF = "ta_trailwatch_account"
SETTINGS_CONF = "ta_trailwatch_settings"
