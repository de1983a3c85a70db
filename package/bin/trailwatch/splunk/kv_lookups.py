"""The add-on's KV store lookups, read by its Python code through splunkd's REST API.

What admins edit (IP ranges, protected principals and buckets, ...) lives in KV store
collections (collections.conf) so that installing a new version never overwrites it. The
search commands and alert actions read those collections with the session splunkd gave them
(``storage/collections/data/<collection>`` in the add-on's namespace, owner ``nobody``), page
by page; shipped read-only defaults stay in ``lookups/`` and are read beside them.

Runs on the Python of Splunk 9.4 (3.9) through Splunk 10 (3.13).
"""
import json
from urllib.parse import quote, urlsplit

from splunklib import binding

import trailwatch

IP_RANGES = "trailwatch_ip_ranges"
PROTECTED_PRINCIPALS = "trailwatch_protected_principals"
PROTECTED_BUCKETS = "trailwatch_protected_buckets"
# Rows per request: below the KV store's default max_rows_per_query (limits.conf [kvstore]).
PAGE = 10000


class KvLookupError(Exception):
    """A collection could not be read; the message names it and what to check."""


def read_collection(session_key, server_uri, collection, page=PAGE):
    """Every document of ``collection`` (dicts without ``_key``/``_user``), in stored order."""
    if not session_key or not server_uri:
        raise KvLookupError("cannot read the KV store collection %s: no splunkd session "
                            "(run from Splunk)" % collection)
    # Not config.parse_server_uri: search commands stay free of solnlib (slow to import).
    address = urlsplit(server_uri)
    try:
        if address.scheme not in ("http", "https") or not address.hostname:
            raise ValueError(server_uri)
        ctx = binding.Context(token=session_key, scheme=address.scheme, host=address.hostname,
                              port=address.port or 8089, owner="nobody", app=trailwatch.APP_NAME)
    except ValueError:
        raise KvLookupError("cannot read the KV store collection %s: %r is not a splunkd "
                            "address" % (collection, server_uri))
    path = "storage/collections/data/%s" % quote(collection, safe="")
    rows = []
    while True:
        try:
            response = ctx.get(path, output_mode="json", skip=str(len(rows)), limit=str(page))
            docs = json.loads(response.body.read().decode("utf-8"))
        except binding.HTTPError as exc:
            raise KvLookupError("cannot read the KV store collection %s (HTTP %s): check that "
                                "the KV store runs and that the add-on is installed whole"
                                % (collection, exc.status))
        except (OSError, ValueError) as exc:
            raise KvLookupError("cannot read the KV store collection %s: %s"
                                % (collection, exc.__class__.__name__))
        rows.extend({k: v for k, v in doc.items() if k not in ("_key", "_user")} for doc in docs)
        if len(docs) < page:
            return rows
