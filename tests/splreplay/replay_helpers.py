"""Small helpers for splreplay conformance tests."""
import os
import tempfile

from splreplay.runner import Replay

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tools")
FIXTURE_APP = os.path.join(HERE, "fixtures", "app")


def bare_app(tmp=None, **confs):
    """A throwaway app folder with the given .conf contents (name -> text) and lookups."""
    d = tmp or tempfile.mkdtemp(prefix="splreplay-app-")
    os.makedirs(os.path.join(d, "default"), exist_ok=True)
    os.makedirs(os.path.join(d, "lookups"), exist_ok=True)
    lookups = confs.pop("lookups", {})
    confs.setdefault("props", "[aws:cloudtrail]\nKV_MODE = json\n")
    for name, text in confs.items():
        with open(os.path.join(d, "default", name + ".conf"), "w") as handle:
            handle.write(text)
    for name, text in lookups.items():
        with open(os.path.join(d, "lookups", name), "w") as handle:
            handle.write(text)
    return d


def rows_of(replay, query, records, now=None):
    events = replay.events_from_records(records)
    return replay.spl(query, events, now=now)


def ev(t="2024-01-01T00:00:00Z", **fields):
    """A minimal record (eventTime plus the given JSON fields)."""
    rec = {"eventTime": t}
    rec.update(fields)
    return rec


def run(query, records, now=None, **confs):
    r = Replay(bare_app(**confs), warn=lambda m: None)
    return rows_of(r, query, records, now)
