"""Where governance records and audit events go in Splunk, over splunkd's REST API.

- Action records (snapshot, plan, status) live in the KV store collection
  `trailwatch_governance_actions` (package/default/collections.conf), keyed by action_id.
  A record is written before an action's first AWS write, so even a crash part-way leaves
  the snapshot behind for undo. Every record is sealed (seal.py) when saved and checked when
  read: get() refuses a record whose seal is wrong, find() leaves such records out.
- Audit events go to splunkd's `receivers/simple` endpoint with sourcetype
  `trailwatch:action`. That works the same on a search head and a heavy forwarder, in
  Splunk Cloud, for alert actions and for the undo search command alike, and returns only
  when splunkd has accepted the event; ES's file-spool mechanism (stash files under
  $SPLUNK_HOME/var/spool) would bind us to the local file system and to the
  stash_common_action_model sourcetype. The events carry ES's adaptive-response fields
  (orig_sid, orig_rid, orig_action_name, action_status) so ES correlates them with notables.
"""
import json
from urllib.parse import quote

from splunklib import binding

import trailwatch
from trailwatch.govern.audit import SOURCETYPE, to_raw
from trailwatch.govern.core import GovernError
from trailwatch.govern.seal import CredentialStoreKey, RecordSeal
from trailwatch.splunk.config import parse_server_uri

COLLECTION = "trailwatch_governance_actions"
# Nested values are kept as JSON text so the records read well with | inputlookup.
_JSON_FIELDS = ("target", "snapshot", "wanted", "plan", "after")


def _context(session_key, server_uri):
    scheme, host, port = parse_server_uri(server_uri)
    return binding.Context(token=session_key, scheme=scheme, host=host, port=port,
                           owner="nobody", app=trailwatch.APP_NAME)


class KvActionStore(object):
    """Action records in the KV store: get(action_id) -> dict or None; put(record) upserts."""

    def __init__(self, session_key, server_uri, collection=COLLECTION, seal=None):
        self._ctx = _context(session_key, server_uri)
        self.collection = collection
        self.seal = seal or RecordSeal(CredentialStoreKey(self._ctx))

    def _path(self, suffix=""):
        return "storage/collections/data/%s%s" % (quote(self.collection, safe=""), suffix)

    def get(self, action_id):
        try:
            response = self._ctx.get(self._path("/" + quote(str(action_id), safe="")),
                                     output_mode="json")
        except binding.HTTPError as exc:
            if exc.status == 404:
                return None
            raise GovernError("Cannot read governance record %s from the KV store (HTTP %s)."
                              % (action_id, exc.status), "KVStoreError")
        doc = json.loads(response.body.read().decode("utf-8"))
        self.seal.check(doc)
        return _decode(doc)

    def find(self, query, limit=50):
        """Records matching a KV store query (a dict, MongoDB-style), newest first."""
        try:
            response = self._ctx.get(self._path(), output_mode="json", query=json.dumps(query),
                                     sort="created:-1", limit=str(limit))
        except binding.HTTPError as exc:
            raise GovernError("Cannot query governance records in the KV store collection %s "
                              "(HTTP %s)." % (self.collection, exc.status), "KVStoreError")
        docs = json.loads(response.body.read().decode("utf-8"))
        return [_decode(doc) for doc in docs if self.seal.is_valid(doc)]

    def put(self, record):
        doc = self.seal.sealed(_encode(record))
        try:
            self._ctx.post(self._path("/batch_save"), body=json.dumps([doc]),
                           headers=[("Content-Type", "application/json")])
        except binding.HTTPError as exc:
            raise GovernError("Cannot save governance record %s to the KV store collection %s "
                              "(HTTP %s); nothing was changed in AWS." % (
                                  record.get("_key"), self.collection, exc.status),
                              "KVStoreError")


def _encode(record):
    doc = dict(record)
    for field in _JSON_FIELDS:
        if field in doc:
            doc[field] = json.dumps(doc[field], sort_keys=True)
    return doc


def _decode(doc):
    record = dict(doc)
    for field in _JSON_FIELDS:
        if isinstance(record.get(field), str) and record[field]:
            record[field] = json.loads(record[field])
    return record


class ReceiverAuditSink(object):
    """Writes audit events through splunkd's receivers/simple endpoint."""

    def __init__(self, session_key, server_uri, index=None, host=None):
        self._ctx = _context(session_key, server_uri)
        self.index = (index or "").strip() or None
        self.host = host

    def __call__(self, event):
        query = {"sourcetype": SOURCETYPE, "source": "trailwatch:%s" % event.get("action", "governance")}
        if self.index:
            query["index"] = self.index
        if self.host:
            query["host"] = self.host
        self._ctx.post("/services/receivers/simple", body=to_raw(event), **query)


class MemoryStore(object):
    """In-memory action records (unit tests, dry runs without splunkd), stored encoded and
    sealed as the KV store keeps them."""

    def __init__(self, seal=None):
        self.records = {}
        self.seal = seal or RecordSeal(lambda: b"memory-store-key")

    def get(self, action_id):
        found = self.records.get(action_id)
        if found is None:
            return None
        self.seal.check(found)
        return _decode(found)

    def put(self, record):
        self.records[record["_key"]] = self.seal.sealed(_encode(record))

    def find(self, query, limit=50):
        """The KV store queries the actions use: field equality."""
        found = [_decode(r) for r in self.records.values()
                 if _matches(_decode(r), query) and self.seal.is_valid(r)]
        found.sort(key=lambda r: r.get("created") or "", reverse=True)
        return found[:limit]


def _matches(record, query):
    for field, wanted in query.items():
        if isinstance(wanted, dict) or field.startswith("$"):
            raise ValueError("MemoryStore.find supports field equality only")
        if record.get(field) != wanted:
            return False
    return True
