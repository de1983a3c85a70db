"""splreplay tests: put tools/ on sys.path and provide replay fixtures."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tools")
FIXTURE_APP = os.path.join(HERE, "fixtures", "app")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
if HERE not in sys.path:
    sys.path.append(HERE)  # for cloudtrail_samples / replay_helpers; after everyone else's

from splreplay.runner import Replay  # noqa: E402

import cloudtrail_samples  # noqa: E402


@pytest.fixture
def replay(tmp_path):
    """A Replay over the fixture app, with a fresh --state folder."""
    warnings = []
    r = Replay(FIXTURE_APP, state_dir=str(tmp_path / "state"), warn=warnings.append)
    r.warnings = warnings
    return r


@pytest.fixture
def scenario_events(replay):
    return replay.events_from_records(cloudtrail_samples.scenario())
