"""Detection tests: the saved searches of the built add-on replayed over labelled CloudTrail
cases with splreplay, exactly as `./build.sh replay` runs it.

Each policy has a folder `<id>_<name>/` with `cases/*.json`: a CloudTrail log file
(`{"Records": [...]}`) plus a `case` key replay ignores, holding what the search must output
(see detection_cases.py). An optional `lookups/` folder replaces the add-on's lookups of the
same name for that policy's run (e.g. the admin's risky IP ranges for A05).
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import detection_cases  # noqa: E402


@pytest.fixture(scope="session")
def geoip(tmp_path_factory):
    """A small GeoIP2-City-shaped database: documentation ranges -> chosen countries."""
    return detection_cases.write_geoip(str(tmp_path_factory.mktemp("geoip") / "city.mmdb"))


@pytest.fixture(scope="session")
def policy_runs(geoip, tmp_path_factory):
    """Replays each policy's cases once (lazily) and keeps the rows: {policy_id: rows}."""
    cache = {}

    def run(policy_id):
        if policy_id not in cache:
            work = str(tmp_path_factory.mktemp("replay-" + policy_id))
            cache[policy_id] = detection_cases.run_policy(policy_id, geoip, work)
        return cache[policy_id]
    return run
