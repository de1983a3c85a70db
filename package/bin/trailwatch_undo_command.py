"""Search command `| trailwatchundo action_id=...`: UCC generates bin/trailwatchundo.py (a
splunklib GeneratingCommand, protocol v2, run on the search head only), which calls
generate here; the logic is in trailwatch.govern."""
from trailwatch.govern.undo_command import undo_rows


def generate(command):
    return undo_rows(command)
