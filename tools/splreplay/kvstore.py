"""KV store collections as the replay's KV store lookups and Python commands see them.

A minimal model of Splunk's App Key Value Store, enough for ``external_type = kvstore``
lookups (transforms.conf) and for commands that read a collection through splunkd's REST API:

- a collection is a list of JSON documents, each with a ``_key``; it lives in
  ``--state DIR/kvstore/<collection>.json`` (kept across runs, like the KV store across
  searches and app upgrades) or, without ``--state``, in memory for this run;
- ``lookup`` / ``inputlookup`` see the fields of the definition's ``fields_list`` (all fields
  when it has none), ``_key`` only when listed; values are text, a JSON list is a multivalue
  field;
- ``outputlookup``: ``append=false`` replaces the collection's documents, ``append=true``
  adds them; a row that carries a ``_key`` replaces the document with that key (Splunk's
  ``key_field`` default for KV store lookups). Search reference, outputlookup:
  https://help.splunk.com/en/splunk-enterprise/spl-search-reference/10.0/search-commands/outputlookup
- matching (lookups.py): ``case_sensitive_match = false`` is honoured "only when the data in
  the KV Store lookup table is entirely in lower case. The input data can be in any case."
  (transforms.conf.spec, Splunk 9.4 and 10.0): the input is lower-cased, the stored value is
  compared as stored, so a stored upper-case letter never matches;
- ``serve``: a loopback HTTP server, started for each Python command run, answering
  ``GET /servicesNS/<owner>/<app>/storage/collections/data/<collection>`` (``skip``, ``limit``)
  with the documents as JSON, as splunkd's KV store REST API does; Python search commands get
  its address as ``splunkd_uri``. Anything else answers 501 naming the request.
Not modelled: field types and ``enforceTypes``, accelerations, queries (``query=``), per-user
namespaces, replication.
"""
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .values import render

SESSION_KEY = "splreplay-kvstore"


class KvStore:
    """Collections by name, in ``state_dir/kvstore/`` or in memory."""

    def __init__(self, state_dir=None):
        self.dir = os.path.join(state_dir, "kvstore") if state_dir else None
        self.memory = {}

    def _path(self, collection):
        return os.path.join(self.dir, collection + ".json")

    def documents(self, collection):
        if collection in self.memory:
            return [dict(d) for d in self.memory[collection]]
        if self.dir and os.path.isfile(self._path(collection)):
            with open(self._path(collection), encoding="utf-8") as handle:
                return json.load(handle)
        return []

    def save(self, collection, documents):
        docs = []
        for doc in documents:
            doc = dict(doc)
            doc["_key"] = str(doc.get("_key") or uuid.uuid4().hex)
            docs.append(doc)
        if not self.dir:
            self.memory[collection] = docs
            return
        os.makedirs(self.dir, exist_ok=True)
        tmp = self._path(collection) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(docs, handle, indent=1, sort_keys=True)
        os.replace(tmp, self._path(collection))

    def write(self, collection, rows, append):
        """outputlookup: rows (dicts of values) replace or join the collection's documents."""
        kept = self.documents(collection) if append else []
        position = {d["_key"]: i for i, d in enumerate(kept)}
        for row in rows:
            doc = {k: _stored(v) for k, v in row.items() if v is not None}
            key = doc.get("_key")
            if key in position:
                kept[position[key]] = doc
            else:
                if key:
                    position[key] = len(kept)
                kept.append(doc)
        self.save(collection, kept)

    def rows(self, collection, fields):
        """Lookup rows: ``fields`` (None: every field) of each document, values as text."""
        out = []
        for doc in self.documents(collection):
            row = {}
            for name, value in doc.items():
                if fields is not None and name not in fields:
                    continue
                value = _row_value(value)
                if value is not None:
                    row[name] = value
            out.append(row)
        return out


def _stored(value):
    if isinstance(value, list):
        return [render(v) for v in value]
    return render(value)


def _row_value(value):
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, list):
        texts = [_text(v) for v in value if v is not None]
        return texts if len(texts) > 1 else (texts[0] if texts else None)
    return _text(value)


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else render(value)


def serve(store):
    """A loopback splunkd answering KV store data reads: ``.uri``, then ``.close()``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the replay's stderr is for diagnostics
            pass

        def _answer(self, status, body):
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _unmodelled(self):
            return self._answer(501, {"messages": [{"type": "ERROR", "text":
                                "splreplay's KV store does not model GET %s" % self.path}]})

        def do_GET(self):  # noqa: N802 (BaseHTTPRequestHandler's naming)
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if self.headers.get("Authorization") not in ("Splunk " + SESSION_KEY,
                                                          "Bearer " + SESSION_KEY):
                return self._answer(401, {"messages": [{
                    "type": "ERROR", "text": "call not properly authenticated"}]})
            if (len(parts) == 7 and parts[0] == "servicesNS"  # one app: any app name
                    and parts[3:6] == ["storage", "collections", "data"]):
                return self._data(parts[6], parse_qs(url.query))
            return self._unmodelled()

        def _data(self, collection, query):
            if set(query) - {"skip", "limit", "output_mode"}:
                return self._unmodelled()
            docs = store.documents(collection)
            skip = int((query.get("skip") or ["0"])[0] or 0)
            limit = int((query.get("limit") or ["0"])[0] or 0)
            return self._answer(200, docs[skip:skip + limit] if limit else docs[skip:])

        do_POST = do_DELETE = _unmodelled  # noqa: N815

    return _Server(Handler)


class _Server:
    def __init__(self, handler):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # a short poll interval: shutdown() waits for the serving loop's next poll
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        self.uri = "http://127.0.0.1:%d" % self._server.server_address[1]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def seed_lookups(app_dir, state_dir, files):
    """Puts tables given as CSV text ({"<lookup>.csv": text}) where the app reads them: the
    rows of a KV store lookup into its collection in ``state_dir`` (as an admin's edits would
    be), any other file into ``state_dir/lookups/``. For tests and tuning runs."""
    from .conf import load_conf
    from .lookups import read_csv

    transforms = load_conf(app_dir, "transforms")
    for name, text in files.items():
        stanza = name[:-len(".csv")] if name.endswith(".csv") else name
        settings = transforms.get(stanza) if stanza in transforms else None
        path = os.path.join(state_dir, "lookups", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        if settings is not None and settings.get("collection"):
            _header, rows = read_csv(path)
            os.remove(path)
            KvStore(state_dir).write(settings["collection"], rows, append=True)
