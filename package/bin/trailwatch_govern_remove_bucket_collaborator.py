"""Alert action "Remove S3 bucket collaborator": UCC generates bin/trailwatch_remove_bucket_collaborator.py (splunktaucclib's
ModularAlertBase), which calls process_event here; the logic is in trailwatch.govern."""
from trailwatch.govern.alert import process_alert


def process_event(helper, *args, **kwargs):
    return process_alert("trailwatch_remove_bucket_collaborator", helper)
