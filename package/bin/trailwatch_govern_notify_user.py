"""Alert action "Notify AWS user": UCC generates bin/trailwatch_notify_user.py (splunktaucclib's
ModularAlertBase), which calls process_event here; the logic is in trailwatch.govern."""
from trailwatch.govern.alert import process_alert


def process_event(helper, *args, **kwargs):
    return process_alert("trailwatch_notify_user", helper)
