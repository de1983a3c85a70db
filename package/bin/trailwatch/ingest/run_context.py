"""What an input's collection code gets for one run: the AWS session, where to write events,
where to keep checkpoints, how to log and report.

The ingest modules depend on this small contract only; trailwatch.splunk.modinput builds it
from the input definition Splunk passes (and tests or benchmarks can build it directly).

Rules every input follows with it:
- events go through ``write(fn)``, which runs ``fn(writer)`` and flushes under one lock, so
  several threads (regions, buckets) share the single stdout stream safely;
- a checkpoint is saved only after the ``write`` that delivered its events has returned
  (the events are then in Splunk's hands);
- ``stop`` is set when Splunk asks the input to stop (SIGTERM): finish the current unit of
  work (a window, a message), save its checkpoint, return.

Python 3.9 to 3.13.
"""
import json
import threading
import time


class RunContext(object):
    def __init__(self, input_type, input_name, session, account_name, account_id, writer,
                 checkpoints, logger, index=None, host=None, ingested=None, stop=None,
                 clock=time.time):
        self.input_type = input_type
        self.input_name = input_name
        self.stanza = "%s://%s" % (input_type, input_name)
        self.session = session
        self.account_name = account_name
        self.account_id = account_id
        self.writer = writer
        self.checkpoints = checkpoints
        self.logger = logger
        self.index = index or None
        self.host = host or None
        self._ingested = ingested
        self.stop = stop if stop is not None else threading.Event()
        self.clock = clock
        self._write_lock = threading.Lock()

    def write(self, fn):
        """Run ``fn(writer)`` and flush, under the stream's lock; returns what fn returned."""
        with self._write_lock:
            result = fn(self.writer)
            self.writer.flush()
            return result

    def write_snapshot(self, events, snapshot_time, sourcetype):
        """Write snapshot events (posture, inventory) as compact JSON, one per object, with
        source ``<input type>:<account id>``, and report them as ingested."""
        source = "%s:%s" % (self.input_type, self.account_id)

        def write(writer):
            for event in events:
                writer.write_event(json.dumps(event, sort_keys=True, separators=(",", ":")),
                                   time=snapshot_time, source=source, sourcetype=sourcetype,
                                   index=self.index, host=self.host)
            return len(events)

        self.write(write)
        self.ingested(sourcetype, len(events), source)

    def ingested(self, sourcetype, count, source=None):
        """Report events handed to Splunk (for UCC's monitoring dashboard)."""
        if self._ingested is not None and count:
            self._ingested(sourcetype, count, source)


class MemoryCheckpoints(object):
    """Checkpoints in a dict: for benchmarks and unit tests (the input uses the KV store)."""

    def __init__(self):
        self.states = {}
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            return self.states.get(key)

    def save(self, key, state):
        with self._lock:
            self.states[key] = state

    def delete(self, key):
        with self._lock:
            self.states.pop(key, None)
