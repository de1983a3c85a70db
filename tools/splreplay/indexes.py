"""Summary indexes: the events ``collect`` writes, as later searches read them back.

- ``collect index=<name> source=<text>`` turns each result row into one event of that index
  (Search Reference, "collect"): ``_time`` from the row's ``_time``, ``sourcetype=stash``
  unless given, every field whose name does not start with ``_`` written as ``name="value"``
  and extracted again at search time as text (the ``stash`` source type's key=value
  extraction). ``host`` is the search head. Such an event carries ``index``, so only a search
  naming that index (``index=<name>``) reads it.
- With ``--state DIR`` the events are kept in ``DIR/indexes/<name>.jsonl`` and read by every
  later run with that state (an index outlives the search that wrote it); without it, in
  memory for this run. The backtest keeps them with its other events instead (with
  ``_indextime`` = the run that collected them), so dispatch windows apply to them too.
"""
import json
import os

HOST = "splreplay"


class IndexStore:
    def __init__(self, state_dir=None):
        self.dir = os.path.join(state_dir, "indexes") if state_dir else None
        self._memory = []
        self.sink = None  # the backtest's: called with the new events instead of keeping them
        # names of the summary indexes written so far (lower case)
        self.names = set()
        if self.dir and os.path.isdir(self.dir):
            self.names.update(n[:-len(".jsonl")].lower() for n in os.listdir(self.dir)
                              if n.endswith(".jsonl"))

    def add(self, events):
        if not events:
            return
        self.names.update(ev["index"].lower() for ev in events)
        if self.sink is not None:
            self.sink(events)
            return
        if self.dir is None:
            self._memory.extend(events)
            return
        os.makedirs(self.dir, exist_ok=True)
        by_index = {}
        for ev in events:
            by_index.setdefault(ev["index"], []).append(ev)
        for name, evs in by_index.items():
            with open(os.path.join(self.dir, name + ".jsonl"), "a", encoding="utf-8") as out:
                for ev in evs:
                    out.write(json.dumps(ev, ensure_ascii=False, sort_keys=True) + "\n")

    def events(self):
        """Every kept event (any index), in the order written."""
        out = list(self._memory)
        if self.dir and os.path.isdir(self.dir):
            for name in sorted(os.listdir(self.dir)):
                if not name.endswith(".jsonl"):
                    continue
                with open(os.path.join(self.dir, name), encoding="utf-8") as handle:
                    out.extend(json.loads(line) for line in handle if line.strip())
        return out


def with_stored(events, store):
    """``events`` plus the summary events kept in ``store``, newest first (as a search returns
    them)."""
    stored = store.events()
    if not stored:
        return events
    merged = list(events) + stored
    merged.sort(key=lambda e: -float(e["_time"]))
    return merged
