"""Running the add-on's saved searches over the demo data with splreplay, in the order a
scheduler would need them: what learns over time first, at every scheduled time of the story
(the hourly activity summary, which collects into the summary index, and the baselines that
read it and fill their lookups in the replay's state folder: splreplay's scheduler-faithful
backtest), then the other support searches and the detections once, at the story's end."""
import io
import json
import os
import tempfile

from splreplay.backtest import Backtest, IndexDelay
from splreplay.errors import SearchRuntimeError
from splreplay.output import row_for_output

ACTIVITY_SUMMARY = "TrailWatch - Support - Activity summary"
# How long after its eventTime the backtest takes a record to be indexed.
INDEX_DELAY = "fixed=7m"


def is_support(name):
    return " - Support - " in name or " - Baseline - " in name


def learns_over_time(name):
    return name == ACTIVITY_SUMMARY or " - Baseline - " in name


def learn(replay, events, now, names):
    """Run ``names`` at each of their scheduled times from the first CloudTrail event to
    ``now`` (splreplay.backtest) -> the events they collected into summary indexes."""
    records = sorted((e for e in events if e.get("sourcetype") == "aws:cloudtrail"),
                     key=lambda e: e["_time"])
    if not records:
        return []
    out = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="trailwatch-demo-") as folder:
        path = os.path.join(folder, "cloudtrail.jsonl")
        with open(path, "w", encoding="utf-8") as handle:
            for event in records:
                handle.write(event["_raw"].replace("\n", " ") + "\n")
        backtest = Backtest(replay, names, records[0]["_time"], now, IndexDelay(INDEX_DELAY),
                            out)
        backtest.run([path])
    errors = [json.loads(line) for line in out.getvalue().splitlines()
              if '"type": "error"' in line]
    if errors:
        raise SearchRuntimeError("%s at %s: %s" % (errors[0]["search_name"],
                                                   errors[0]["run_time"], errors[0]["message"]))
    # every event the runs collected: the backtest holds them only while its own searches'
    # windows can reach them, and the detections read further back
    return backtest.collected


def run_searches(replay, events, now, failed=None):
    """-> [(search name, output row)] of the detections (support searches' rows are dropped).
    A search that fails while running raises, unless ``failed`` is a dict: then its error is
    recorded there under the search's name and the others still run."""
    names = replay.app.saved_search_names()
    learning = [n for n in names if learns_over_time(n)]
    try:
        events = events + learn(replay, events, now, learning)
        events.sort(key=lambda e: -e["_time"])
    except SearchRuntimeError as exc:
        if failed is None:
            raise
        failed["scheduled " + ", ".join(learning)] = str(exc)
    support = [n for n in names if is_support(n) and n not in learning]
    found = []
    for name in support + [n for n in names if not is_support(n)]:
        try:
            rows = replay.compile_saved(name, now).run(events)
        except SearchRuntimeError as exc:
            if failed is None:
                raise
            failed[name] = str(exc)
            continue
        if not is_support(name):
            found.extend((name, row_for_output(row, name)) for row in rows)
    return found


def event_ids_of(row):
    ids = row.get("event_ids") or []
    return [ids] if isinstance(ids, str) else list(ids)


def policies_alerting_on(found, records):
    """The policy ids whose alerts name at least one of these records' event ids."""
    wanted = {r["eventID"] for r in records}
    return {row["policy_id"] for _, row in found
            if row.get("policy_id") and wanted & set(event_ids_of(row))}
