"""Alert action "Require AWS user to sign in again": UCC generates bin/trailwatch_revoke_sessions.py (splunktaucclib's
ModularAlertBase), which calls process_event here; the logic is in trailwatch.govern."""
from trailwatch.govern.alert import process_alert


def process_event(helper, *args, **kwargs):
    return process_alert("trailwatch_revoke_sessions", helper)
