"""Running the add-on's saved searches over the demo data with splreplay, in the order a
scheduler would need them: support and baseline searches first (they fill the lookups the
detections read, in the replay's state folder), then the detections."""
from splreplay.errors import SearchRuntimeError
from splreplay.output import row_for_output


def is_support(name):
    return " - Support - " in name or " - Baseline - " in name


def run_searches(replay, events, now, failed=None):
    """-> [(search name, output row)] of the detections (support searches' rows are dropped).
    A search that fails while running raises, unless ``failed`` is a dict: then its error is
    recorded there under the search's name and the others still run."""
    names = replay.app.saved_search_names()
    support = [n for n in names if is_support(n)]
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
