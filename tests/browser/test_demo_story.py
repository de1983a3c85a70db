"""The demo story's attack, step by step, is caught by the add-on's own detections (run by
splreplay in the scheduler's order: support and baseline searches, then detections), and its
two weeks of ordinary work are not mistaken for the attack."""
import collections
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import demo_events  # noqa: E402
from splreplay.runner import Replay  # noqa: E402
from trailwatch_demo import story as demo_story  # noqa: E402

from addon import APP_DIR  # noqa: E402

# Which policies must alert on the records of each step (an alert names its events by id).
EXPECTED = {
    "password_spraying": {"A01"},
    "new_admin_access_key": {"A04", "B07"},
    "cloudtrail_stopped": {"A02"},
    "bucket_made_public": {"A08", "C01"},
    "instances_in_new_region": {"B10", "B11"},
    "mass_deletion": {"B09"},
}


@pytest.fixture(scope="module")
def detected(tmp_path_factory):
    replay = Replay(APP_DIR, state_dir=str(tmp_path_factory.mktemp("story-state")),
                    warn=lambda message: None)
    story = demo_story.build()
    events = demo_events.cloudtrail_events(replay, story)
    now = max(e["_time"] for e in events) + 1800
    events += demo_events.posture_events(story, now - 1200)
    events.sort(key=lambda e: -e["_time"])
    return story, demo_events.run_searches(replay, events, now)


def alerting_policies(found, records):
    ids = {r["eventID"] for r in records}
    hits = collections.Counter()
    for _, row in found:
        event_ids = row.get("event_ids") or []
        if isinstance(event_ids, str):
            event_ids = [event_ids]
        if ids & set(event_ids):
            hits[row["policy_id"]] += 1
    return set(hits)


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_each_step_of_the_attack_is_detected(step, detected):
    story, found = detected
    assert EXPECTED[step] <= alerting_policies(found, story["steps"][step])


def test_the_attack_is_the_only_high_or_critical_finding(detected):
    story, found = detected
    attack_ids = {r["eventID"] for records in story["steps"].values() for r in records}
    for name, row in found:
        if row.get("severity") in ("high", "critical"):
            event_ids = row.get("event_ids") or []
            event_ids = [event_ids] if isinstance(event_ids, str) else event_ids
            assert set(event_ids) & attack_ids or row.get("policy_id") == "C01", (name, row)
