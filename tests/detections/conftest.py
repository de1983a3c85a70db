"""Detection tests: the saved searches of the built add-on replayed over labelled CloudTrail
cases with splreplay, exactly as `./build.sh replay` runs it.

Each detection's folder under detections/ has `cases/*.json`: a CloudTrail log file
(`{"Records": [...]}`) plus a `case` key replay ignores, holding what the search must output
and, where needed, the time of the run, setup runs (baselines) and lookups; the folder may add
`lookups/*.csv` (rows an admin put in the lists of those names, loaded into the KV store
collections of the replay state) and `geoip.json` (the format: detection_cases.py).
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
def folder_geoip(tmp_path_factory):
    """The test GeoIP database of each policy folder, written once: policy_id -> path."""
    cache = {}

    def database(policy_id):
        if policy_id not in cache:
            path = str(tmp_path_factory.mktemp("geoip-" + policy_id) / "city.mmdb")
            cache[policy_id] = detection_cases.write_geoip(
                path, detection_cases.folder_places(policy_id))
        return cache[policy_id]
    return database


@pytest.fixture(scope="session")
def policy_runs(folder_geoip, tmp_path_factory):
    """Replays each policy's batched cases once (lazily) and keeps the rows: {policy_id: rows}."""
    cache = {}

    def run(policy_id):
        if policy_id not in cache:
            work = str(tmp_path_factory.mktemp("replay-" + policy_id))
            cache[policy_id] = detection_cases.run_policy(policy_id, folder_geoip(policy_id), work)
        return cache[policy_id]
    return run
