"""Alert action "Make S3 bucket private": UCC generates bin/trailwatch_make_bucket_private.py (splunktaucclib's
ModularAlertBase), which calls process_event here; the logic is in trailwatch.govern."""
from trailwatch.govern.alert import process_alert


def process_event(helper, *args, **kwargs):
    return process_alert("trailwatch_make_bucket_private", helper)
