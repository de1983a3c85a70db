"""Input checkpoints in Splunk's KV store (collection ``trailwatch_input_checkpoints``,
declared in default/collections.conf), through solnlib's KVStoreCheckpointer.

Every checkpoint of an input lives under the key prefix ``<input type>__<input name>__``, so
deleting an input can delete exactly its checkpoints (trailwatch_input_rh), and re-creating
an input of the same name starts afresh, on purpose.

Input names may hold ``_`` (``prod``, ``prod_``, ``prod__eu`` are three inputs), so one
input's prefix can begin another's: ``aws_cloudtrail_sqs__prod__`` begins
``aws_cloudtrail_sqs__prod__eu__``.  What follows the prefix tells them apart: a checkpoint
name is stored without a leading ``_`` and without ``__``, while after ``prod``'s prefix the
keys of ``prod__eu`` go on ``eu__...`` and those of ``prod_`` go on ``_...``.

Python 3.9 to 3.13.
"""
import json
import re
import threading

from solnlib.modular_input.checkpointer import KVStoreCheckpointer
from solnlib.splunk_rest_client import SplunkRestClient

import trailwatch
from trailwatch.splunk import config

COLLECTION = "trailwatch_input_checkpoints"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_UNDERSCORES = re.compile(r"__+")
# What follows an input's prefix in its own keys (a checkpoint name as _key writes it).
_OWN_NAME = r"(?:[^_]+_)*[^_]*$"


class CheckpointError(Exception):
    """The KV store cannot be used; the message says what is wrong."""


def key_prefix(input_type, input_name):
    return "%s__%s__" % (_UNSAFE.sub("_", input_type), _UNSAFE.sub("_", input_name))


def checkpoint_key_name(name):
    """A checkpoint name as it is stored after the input's prefix: no leading ``_``, no
    ``__`` (see the module's docstring)."""
    return _UNDERSCORES.sub("_", _UNSAFE.sub("_", name)).lstrip("_")


def _checkpointer(session_key, server_uri):
    scheme, host, port = config.parse_server_uri(server_uri)
    try:
        return KVStoreCheckpointer(COLLECTION, session_key, trailwatch.APP_NAME, owner="nobody",
                                   scheme=scheme, host=host, port=port)
    except Exception as exc:  # noqa: BLE001 - HTTPError 503 while the KV store starts, ...
        raise CheckpointError(
            "The KV store of splunkd at %s cannot be used for checkpoints (collection %s): %s. "
            "Check that the KV store is enabled and running (splunk show kvstore-status)."
            % (server_uri, COLLECTION, _reason(exc))) from None


def _reason(exc):
    status = getattr(exc, "status", None)
    if status:
        return "HTTP %s %s" % (status, getattr(exc, "reason", ""))
    return type(exc).__name__


class KvCheckpoints(object):
    """get/save/delete of one input's checkpoints; thread-safe."""

    def __init__(self, session_key, server_uri, input_type, input_name, checkpointer=None):
        self.prefix = key_prefix(input_type, input_name)
        self._store = checkpointer or _checkpointer(session_key, server_uri)
        self._lock = threading.Lock()

    def _key(self, name):
        return self.prefix + checkpoint_key_name(name)

    def get(self, name):
        with self._lock:
            return self._store.get(self._key(name))

    def save(self, name, state):
        with self._lock:
            self._store.update(self._key(name), state)

    def delete(self, name):
        with self._lock:
            self._store.delete(self._key(name))



def clear_input(session_key, server_uri, input_type, input_name):
    """Delete every checkpoint of one input (when the input is deleted)."""
    scheme, host, port = config.parse_server_uri(server_uri)
    client = SplunkRestClient(session_key, trailwatch.APP_NAME, owner="nobody", scheme=scheme,
                              host=host, port=port)
    prefix = key_prefix(input_type, input_name)
    try:
        collection = client.kvstore[COLLECTION]
    except KeyError:
        return  # no checkpoint was ever written
    collection.data.delete(query=json.dumps(
        {"_key": {"$regex": "^" + re.escape(prefix) + _OWN_NAME}}))
