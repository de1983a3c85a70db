"""Response bodies in splunkd's shapes: Atom feeds (the default) and JSON (output_mode=json).

The shapes follow Splunk's REST API reference ("Atom Feed responses", "JSON responses") and
what splunklib's parser (splunklib.data / client._parse_atom_entry) expects of them:

* a feed's ``<entry>`` has ``<title>`` (the entity name), ``<link rel="alternate">`` (its
  namespaced path, which splunklib turns into the entity's own path), and
  ``<content type="text/xml"><s:dict>`` holding the fields plus ``eai:acl`` (the entity's
  namespace: owner, app, sharing, which splunklib uses for later requests on the entity);
* ``<opensearch:totalResults>`` of 0 means "no entries" to splunklib;
* in JSON, ``acl`` sits next to ``content`` and booleans are real booleans;
* errors are ``<response><messages><msg type="ERROR">text</msg></messages></response>``,
  whose ``msg`` text splunklib puts into ``HTTPError``'s message.
"""
from __future__ import annotations

import json
import time
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

ATOM_NS = "http://www.w3.org/2005/Atom"
REST_NS = "http://dev.splunk.com/ns/rest"
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"
XML_TYPE = "text/xml; charset=UTF-8"
JSON_TYPE = "application/json; charset=UTF-8"


def iso_time(epoch=None):
    epoch = time.time() if epoch is None else epoch
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(epoch))


def ns_prefix(owner, app):
    """The path prefix of a namespace: /servicesNS/<owner>/<app> or /services."""
    if owner is None and app is None:
        return "/services"
    return "/servicesNS/%s/%s" % (quote(owner or "nobody", safe=""), quote(app or "system", safe=""))


class Entity:
    """One REST entity as rendered in a feed."""

    def __init__(self, name, collection, content, owner="nobody", app="system", sharing="app",
                 acl=None, links=("list", "edit", "remove"), updated=None, namespaced=True,
                 author=None):
        self.name = name
        self.collection = collection.strip("/")  # e.g. "configs/conf-props"
        self.content = content
        self.owner = owner
        self.app = app
        self.sharing = sharing
        self.acl = acl if acl is not None else default_acl(app, owner, sharing)
        self.link_rels = links
        self.updated = updated
        self.namespaced = namespaced
        self.author = author or owner

    def href(self):
        prefix = ns_prefix(self.owner, self.app) if self.namespaced else "/services"
        return "%s/%s/%s" % (prefix, self.collection, quote(self.name, safe=""))

    def links(self):
        href = self.href()
        found = [("alternate", href)]
        for rel in self.link_rels:
            found.append((rel, href if rel in ("list", "edit", "remove") else href + "/" + rel))
        return found


def default_acl(app, owner="nobody", sharing="app"):
    return {
        "app": app,
        "can_change_perms": True,
        "can_list": True,
        "can_share_app": True,
        "can_share_global": True,
        "can_share_user": False,
        "can_write": True,
        "modifiable": True,
        "owner": owner,
        "perms": {"read": ["*"], "write": ["admin", "sc_admin"]},
        "removable": False,
        "sharing": sharing,
    }


def _xml_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return _xml_dict(value)
    if isinstance(value, (list, tuple)):
        return "<s:list>%s</s:list>" % "".join(
            "<s:item>%s</s:item>" % _xml_value(item) for item in value
        )
    return escape(str(value))


def _xml_dict(mapping, indent=None):
    """An ``<s:dict>``; top-level dicts (indent given) are laid out one key a line."""
    if indent is None:
        return "<s:dict>%s</s:dict>" % "".join(
            "<s:key name=%s>%s</s:key>" % (quoteattr(str(k)), _xml_value(v))
            for k, v in mapping.items()
        )
    pad = "  " * indent
    keys = "".join(
        "%s  <s:key name=%s>%s</s:key>\n" % (pad, quoteattr(str(k)), _xml_value(v))
        for k, v in mapping.items()
    )
    return "%s<s:dict>\n%s%s</s:dict>" % (pad, keys, pad)


def _json_value(value):
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _jsonable_content(content):
    out = {}
    for key, value in content.items():
        if key == "disabled" and value in ("0", "1", 0, 1, True, False):
            value = value in ("1", 1, True)
        out[key] = _json_value(value)
    return out


class Feed:
    """A feed of entities at ``path`` (absolute), already filtered and paged."""

    def __init__(self, title, path, entities, total=None, offset=0, per_page=30,
                 links=(), messages=()):
        self.title = title
        self.path = path
        self.entities = entities
        self.total = len(entities) if total is None else total
        self.offset = offset
        self.per_page = per_page
        self.links = links  # (rel, href) pairs of the collection
        self.messages = messages


def render_feed(feed, fmt, base_url, server):
    if fmt == "json":
        return _render_feed_json(feed, base_url, server), JSON_TYPE
    return _render_feed_xml(feed, base_url, server), XML_TYPE


def _render_feed_xml(feed, base_url, server):
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<!--This is to override browser formatting; see server.conf[httpServer] to disable. '
        '. . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . . .-->\n',
        '<?xml-stylesheet type="text/xml" href="/static/atom.xsl"?>\n',
        '<feed xmlns="%s" xmlns:s="%s" xmlns:opensearch="%s">\n' % (ATOM_NS, REST_NS, OPENSEARCH_NS),
        "  <title>%s</title>\n" % escape(feed.title),
        "  <id>%s</id>\n" % escape(base_url + feed.path),
        "  <updated>%s</updated>\n" % iso_time(),
        '  <generator build=%s version=%s/>\n' % (quoteattr(server["build"]), quoteattr(server["version"])),
        "  <author>\n    <name>Splunk</name>\n  </author>\n",
    ]
    for rel, href in feed.links:
        out.append("  <link href=%s rel=%s/>\n" % (quoteattr(href), quoteattr(rel)))
    out.append("  <opensearch:totalResults>%d</opensearch:totalResults>\n" % feed.total)
    out.append("  <opensearch:itemsPerPage>%d</opensearch:itemsPerPage>\n" % feed.per_page)
    out.append("  <opensearch:startIndex>%d</opensearch:startIndex>\n" % feed.offset)
    if feed.messages:
        out.append("  <s:messages>\n")
        for kind, text in feed.messages:
            out.append("    <s:msg type=%s>%s</s:msg>\n" % (quoteattr(kind), escape(text)))
        out.append("  </s:messages>\n")
    else:
        out.append("  <s:messages/>\n")
    for entity in feed.entities:
        out.append(_render_entry_xml(entity, base_url))
    out.append("</feed>\n")
    return "".join(out).encode("utf-8")


def _render_entry_xml(entity, base_url):
    out = ["  <entry>\n", "    <title>%s</title>\n" % escape(entity.name)]
    out.append("    <id>%s</id>\n" % escape(base_url + entity.href()))
    out.append("    <updated>%s</updated>\n" % iso_time(entity.updated))
    for rel, href in entity.links():
        out.append("    <link href=%s rel=%s/>\n" % (quoteattr(href), quoteattr(rel)))
    out.append("    <author>\n      <name>%s</name>\n    </author>\n" % escape(entity.author))
    if isinstance(entity.content, str):
        out.append('    <content type="text">%s</content>\n' % escape(entity.content))
    else:
        content = dict(entity.content)
        content["eai:acl"] = entity.acl
        out.append('    <content type="text/xml">\n%s\n    </content>\n' % _xml_dict(content, 3))
    out.append("  </entry>\n")
    return "".join(out)


def _render_feed_json(feed, base_url, server):
    entries = []
    for entity in feed.entities:
        links = dict(entity.links())
        entry = {
            "name": entity.name,
            "id": base_url + entity.href(),
            "updated": iso_time(entity.updated),
            "links": links,
            "author": entity.author,
            "acl": _json_value(entity.acl),
        }
        if isinstance(entity.content, str):
            entry["content"] = entity.content
        else:
            content = _jsonable_content(entity.content)
            content.setdefault("eai:acl", None)
            entry["content"] = content
        entries.append(entry)
    body = {
        "links": dict(feed.links),
        "origin": base_url + feed.path,
        "updated": iso_time(),
        "generator": {"build": server["build"], "version": server["version"]},
        "entry": entries,
        "paging": {"total": feed.total, "perPage": feed.per_page, "offset": feed.offset},
        "messages": [{"type": kind, "text": text} for kind, text in feed.messages],
    }
    return json.dumps(body).encode("utf-8")


def render_messages(fmt, messages, extra_xml="", extra_json=None):
    """splunkd's bare ``<response>`` document (errors, login, receivers)."""
    if fmt == "json":
        body = dict(extra_json or {})
        body["messages"] = [{"type": kind, "text": text} for kind, text in messages]
        return json.dumps(body).encode("utf-8"), JSON_TYPE
    msgs = "".join(
        "    <msg type=%s>%s</msg>\n" % (quoteattr(kind), escape(text)) for kind, text in messages
    )
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<response>\n%s  <messages>\n%s  </messages>\n</response>\n' % (
        extra_xml, msgs)
    return body.encode("utf-8"), XML_TYPE
