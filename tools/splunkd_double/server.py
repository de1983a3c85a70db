"""A loopback splunkd test double: the REST endpoints add-on scripts call at run time.

Serves, on 127.0.0.1 and a free port (http, or https with a throwaway certificate):

==============================================  ==============================================
``POST /services/auth/login``                   session key for the configured user (XML/JSON;
                                                ``cookie=1`` also sets ``splunkd_<port>``)
``GET  /services/server/info``                  version 9.4.x, serverName, ...
``GET  /services/authentication/current-context``  the calling user: roles, capabilities
``/servicesNS/{o}/{a}/configs/conf-{file}[/{stanza}]``  list (count, offset, search, sort_key,
                                                sort_dir), get, create (POST name=), update
                                                (POST to stanza), delete, ``_reload``,
                                                ``{stanza}/disable|enable``
``/servicesNS/{o}/{a}/properties[/{file}[/{stanza}[/{key}]]]``  what ``service.confs`` uses
``/servicesNS/{o}/{a}/storage/passwords[/{realm}:{user}:]``  list/create/update/delete
``/servicesNS/{o}/{a}/storage/collections/config[/{name}]``  KV collections
``/servicesNS/{o}/{a}/storage/collections/data/{c}[/{key}|/batch_save|/batch_find]``  KV data
``POST /services/receivers/simple``             one event per request (raw body + metadata)
``/servicesNS/{o}/{a}/data/indexes[/{name}]``     list, get, create (what ``index.submit`` needs)
``POST /services/collector[/event|/raw]``       HEC, with ``Authorization: Splunk <hec_token>``
``/services/messages[/{name}]``                 bulletin messages (POST, GET, DELETE)
==============================================  ==============================================

Everything else answers ``501`` naming the method and path and is recorded in
``unimplemented``; a bug in the double answers ``500`` and is recorded in ``errors``.
All calls except login and HEC need ``Authorization: Splunk <key>`` (or ``Bearer <key>``,
``Basic`` user:password, or the login cookie), else 401 in splunkd's error shape.

Users have roles (``add_user``); roles have capabilities (built-in roles plus every served
``authorize.conf``); objects have permissions (``load_meta_file``). storage/passwords,
KV store data and receivers/simple answer 403 to a user splunkd would refuse: _authz.py
says what is enforced and which documentation it follows.

On start the double also serves, in app ``system``, the confs splunkd's own discovery reads
(``server.conf`` [general] serverName, [sslConfig] enableSplunkdSSL; ``web.conf`` [settings]
mgmtHostPort = 127.0.0.1:<port>).

Namespaces: data written in ``/servicesNS/<owner>/<app>/...`` belongs to ``<app>``
(``/services/...`` and app ``-`` write to ``system``); reads in an app see that app's data
over ``system``'s, reads with app ``-`` see every app's.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import ssl
import threading
import time
import traceback
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, unquote_plus, urlsplit
from xml.sax.saxutils import escape

from . import _kvquery
from ._authz import Authz, parse_access
from ._conffile import parse_conf, read_conf_dir
from ._render import JSON_TYPE, Entity, Feed, render_feed, render_messages

APP = "TA-trailwatch"
ENCRYPTED_TOKEN = "******"
# solnlib.credentials.CredentialManager splits a secret into 255-character parts stored as
# "<user>``splunk_cred_sep``<n>" and ends it with this marker entry.
CRED_SEP = "``splunk_cred_sep``"
CRED_END_MARK = (
    "``splunk_cred_sep``S``splunk_cred_sep``P``splunk_cred_sep``L``splunk_cred_sep``"
    "U``splunk_cred_sep``N``splunk_cred_sep``K``splunk_cred_sep``"
)
CRED_CHUNK = 255
# The add-on's encrypted fields (globalConfig.json): accounts and proxy.
UCC_ENCRYPTED_FIELDS = ("aws_secret_access_key", "external_id", "proxy_password")
CONF_ACTIONS = ("disable", "enable", "acl", "move", "_reload")


def ucc_realm(conf_file, app=APP):
    """The storage/passwords realm UCC uses for the encrypted fields of ``conf_file``."""
    return "__REST_CREDENTIAL__#%s#configs/conf-%s" % (app, conf_file)


def password_entity_name(realm, username):
    """storage/passwords names entities ``realm:username:`` with ':' escaped as '\\:'."""
    esc = lambda s: (s or "").replace(":", "\\:")  # noqa: E731
    return "%s:%s:" % (esc(realm), esc(username))


class RecordedRequest:
    """One request the double received (secrets included: it is a test double)."""

    __slots__ = ("method", "path", "query", "body", "headers", "status", "owner", "app")

    def __init__(self, method, path, query, body, headers, owner, app):
        self.method = method
        self.path = path  # decoded path, without the query string
        self.query = query  # {name: [values]}
        self.body = body
        self.headers = headers
        self.status = None
        self.owner = owner
        self.app = app

    def __repr__(self):
        return "<%s %s -> %s>" % (self.method, self.path, self.status)


class _HttpError(Exception):
    def __init__(self, status, message, msg_type="ERROR"):
        Exception.__init__(self, message)
        self.status = status
        self.message = message
        self.msg_type = msg_type


class _NotImplementedHere(Exception):
    pass


class _Response:
    def __init__(self, status, body=b"", content_type="text/plain; charset=UTF-8", headers=()):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers)


class _Ctx:
    """A parsed request."""

    def __init__(self, method, raw_path, query, body, headers, owner, app, segments):
        self.method = method
        self.raw_path = raw_path
        self.query = query
        self.body = body
        self.headers = headers
        self.owner = owner
        self.app = app
        self.segments = segments  # raw (still percent-encoded) path segments after the namespace
        self._form = None
        self.user = None
        self.body_is_form = True  # False for endpoints whose body is an event or JSON

    @property
    def form(self):
        if self._form is None:
            text = self.body.decode("utf-8", "replace") if self.body else ""
            is_form = self.body_is_form and self.method in ("POST", "PUT")
            self._form = parse_qs(text, keep_blank_values=True) if is_form else {}
        return self._form

    def param(self, name, default=None):
        """A parameter from the query string or (POST) the form body; last value wins."""
        for source in (self.form, self.query):
            if name in source and source[name]:
                return source[name][-1]
        return default

    @property
    def fmt(self):
        return "json" if (self.param("output_mode") or "").lower() == "json" else "xml"

    def fields(self, exclude=()):
        """Form fields of a POST, minus control arguments."""
        out = {}
        for key, values in self.form.items():
            if key in exclude or key == "output_mode" or not values:
                continue
            out[key] = values[-1]
        return out


def _decode_segments(raw_segments):
    """A name that may itself contain '/', decoded as splunkd does ('+' is a space)."""
    return unquote_plus("/".join(raw_segments))


class SplunkdDouble:
    """The loopback splunkd. Use as a context manager, or ``start()`` / ``stop()``.

    Test API (``app=None`` means the double's app, TA-trailwatch):

    * where: ``uri``, ``scheme``, ``host``, ``port``, ``cert_file`` (https); who:
      ``session_key``, ``new_session_key()``, ``revoke_session_key(key)``, ``users``,
      ``hec_token``;
    * traffic: ``requests`` (RecordedRequest: method, path, query, body, headers, status,
      owner, app), ``find_requests(method, path_regex)``, ``unimplemented`` (501s),
      ``errors`` (double bugs), ``assert_clean()``, ``fail(path_regex, status, message,
      method, times)`` / ``clear_faults()``;
    * confs: ``set_stanza``, ``create_conf``, ``delete_stanza``, ``conf``, ``stanza``,
      ``load_conf_dir``, ``add_ucc_stanza`` (UCC encrypted layout), ``ucc_stanza`` (decrypted);
    * credentials: ``add_password``, ``passwords``;
    * KV store: ``kv_create_collection``, ``kv_collections``, ``kv_records``, ``kv_insert``;
    * intake: ``events``, ``messages``, ``indexes`` / ``add_index``; ``server_info`` (dict).
    """

    def __init__(self, app=APP, username="admin", password="changeme", https=False,
                 server_name="splunkd-double", version="9.4.1", hec_token=None,
                 rest_root="ta_trailwatch"):
        self.app = app
        self.rest_root = rest_root
        self.username = username
        self.password = password
        self.https = https
        self.users = {username: password}
        self.authz = Authz()
        self.authz.user_roles[username] = ["admin"]
        self.hec_tokens = {hec_token or "00000000-0000-0000-0000-00000000hec0"}
        self.hec_token = next(iter(self.hec_tokens))
        self.server_info = {
            "build": "a1b2c3d4e5f6",
            "version": version,
            "serverName": server_name,
            "host": server_name,
            "host_fqdn": server_name + ".example.com",
            "guid": "5E3C7C55-2B4A-4C50-9A47-0D1F2F1D0B1E",
            "os_name": "Linux",
            "product_type": "enterprise",
            "mode": "normal",
            "kvStoreStatus": "ready",
            "isFree": False,
            "isTrial": False,
            "licenseState": "OK",
            "numberOfCores": 2,
            "cpu_arch": "x86_64",
            "server_roles": ["indexer", "license_master", "kv_store", "search_head"],
        }
        self._lock = threading.RLock()
        self._sessions = {}
        self._confs = {}  # app -> conf file -> {stanza: record}
        self._passwords = {}  # app -> {entity name: record}
        self._kv = {}  # app -> {collection: {"config": {...}, "records": {key: doc}}}
        self._messages = {}  # name -> record
        self._faults = []
        self._requests = []
        self._unimplemented = []
        self._errors = []
        self._events = []
        self.indexes = {"main", "_internal", "_audit", "summary", "history"}
        self._allow_unimplemented = False
        self.session_key = self.new_session_key(username)
        self._server = None
        self._thread = None
        self.cert_file = None
        self.key_file = None

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler, self)
        if self.https:
            from ._tls import self_signed_cert

            self.cert_file, self.key_file = self_signed_cert()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_file, self.key_file)
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name="splunkd-double", daemon=True,
        )
        self._thread.start()
        self.set_stanza("server", "general", {"serverName": self.server_info["serverName"]}, app="system")
        self.set_stanza("server", "sslConfig", {"enableSplunkdSSL": "1" if self.https else "0"},
                        app="system")
        self.set_stanza("web", "settings", {"mgmtHostPort": "127.0.0.1:%d" % self.port}, app="system")
        return self

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def scheme(self):
        return "https" if self.https else "http"

    @property
    def host(self):
        return "127.0.0.1"

    @property
    def port(self):
        if self._server is None:
            raise RuntimeError("the splunkd double is not started")
        return self._server.server_address[1]

    @property
    def uri(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    # ------------------------------------------------------------------ sessions
    def new_session_key(self, username=None):
        """A further valid session key (as a login would return)."""
        key = secrets.token_urlsafe(48)
        with self._lock:
            self._sessions[key] = username or self.username
        return key

    def add_user(self, username, roles, password="changeme"):
        """A further user with ``roles`` (list of role names); returns a session key."""
        with self._lock:
            self.users[username] = password
            self.authz.user_roles[username] = list(roles)
        return self.new_session_key(username)

    def capabilities_of(self, username):
        """The user's capabilities: its roles' and their imported roles', as served."""
        with self._lock:
            confs = [files["authorize"] for files in self._confs.values() if "authorize" in files]
            confs = [{name: rec["fields"] for name, rec in stanzas.items()} for stanzas in confs]
        return self.authz.capabilities_of(username, confs)

    def load_meta_file(self, path, app=None):
        """Object permissions from an app's metadata/default.meta."""
        with open(path, encoding="utf-8") as handle:
            stanzas = parse_conf(handle.read())
        with self._lock:
            self.authz.meta[self._app(app)] = {
                name: parse_access(fields.get("access", "")) for name, fields in stanzas.items()}

    def revoke_session_key(self, key):
        with self._lock:
            self._sessions.pop(key, None)

    # ------------------------------------------------------------------ recorded traffic
    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    @property
    def unimplemented(self):
        """Requests the double could not answer (501): a test should keep this empty."""
        with self._lock:
            return list(self._unimplemented)

    @property
    def errors(self):
        """Bugs in the double (500 with a traceback)."""
        with self._lock:
            return list(self._errors)

    def find_requests(self, method=None, path=None):
        """Recorded requests by method and a regular expression searched in the path."""
        pattern = re.compile(path) if path else None
        return [
            r for r in self.requests
            if (method is None or r.method == method) and (pattern is None or pattern.search(r.path))
        ]

    def allow_unimplemented(self):
        """Tell the ``splunkd`` fixture not to fail the test for 501 answers."""
        self._allow_unimplemented = True

    def assert_clean(self):
        problems = ["501 %s %s" % (r.method, r.path) for r in self.unimplemented]
        problems += ["500 %s" % e for e in self.errors]
        assert not problems, "splunkd double could not answer:\n" + "\n".join(problems)

    def fail(self, path, status=503, message="Service temporarily unavailable", method=None, times=1):
        """Answer the next ``times`` requests whose path matches ``path`` (a regular
        expression) with ``status`` and ``message`` (``times=None``: until cleared)."""
        with self._lock:
            self._faults.append({"pattern": re.compile(path), "status": status,
                                 "message": message, "method": method, "times": times})

    def clear_faults(self):
        with self._lock:
            self._faults = []

    # ------------------------------------------------------------------ configuration
    def _app(self, app):
        return self.app if app is None else app

    def create_conf(self, conf_file, app=None):
        """Make an (empty) conf file exist in ``app``."""
        with self._lock:
            self._confs.setdefault(self._app(app), {}).setdefault(conf_file, {})

    def set_stanza(self, conf_file, stanza, fields, app=None, replace=True):
        """Write a stanza as if it were in the app's conf file (values become strings)."""
        with self._lock:
            stanzas = self._confs.setdefault(self._app(app), {}).setdefault(conf_file, {})
            rec = stanzas.get(stanza)
            if rec is None or replace:
                rec = stanzas[stanza] = {"fields": {}, "owner": "nobody", "sharing": "app",
                                         "updated": time.time()}
            rec["fields"].update({k: _conf_value(v) for k, v in fields.items()})
            rec["updated"] = time.time()

    def delete_stanza(self, conf_file, stanza, app=None):
        with self._lock:
            self._confs.get(self._app(app), {}).get(conf_file, {}).pop(stanza, None)

    def conf(self, conf_file, app=None):
        """{stanza: fields} of ``conf_file`` in ``app`` (copies)."""
        with self._lock:
            stanzas = self._confs.get(self._app(app), {}).get(conf_file, {})
            return {name: dict(rec["fields"]) for name, rec in stanzas.items()}

    def stanza(self, conf_file, stanza, app=None):
        """Fields of one stanza (KeyError when absent)."""
        return self.conf(conf_file, app)[stanza]

    def load_conf_dir(self, path, app=None):
        """Serve every ``*.conf`` in ``path`` (such as a built add-on's default/) in ``app``;
        the collections of its ``collections.conf`` exist in the KV store, as splunkd creates
        them when it loads an app."""
        for conf_file, stanzas in read_conf_dir(path).items():
            self.create_conf(conf_file, app)
            for stanza, fields in stanzas.items():
                self.set_stanza(conf_file, stanza, fields, app=app)
                if conf_file == "collections":
                    self.kv_create_collection(stanza, app=app)
                    with self._lock:
                        self._kv[self._app(app)][stanza]["config"].update(fields)

    def add_ucc_stanza(self, conf_file, stanza, fields, encrypted=UCC_ENCRYPTED_FIELDS,
                       app=None, chunked=True):
        """Store a stanza the way UCC's REST handler does.

        The conf stanza keeps ``******`` for every non-empty encrypted field (an empty one stays
        empty); storage/passwords gets realm ``__REST_CREDENTIAL__#<app>#configs/conf-<file>``,
        username ``<stanza>`` and, as its password, the JSON object of the encrypted fields'
        clear values. ``chunked=True`` (what splunktaucclib 8 writes, through solnlib's
        CredentialManager) stores that JSON in 255-character parts named
        ``<stanza>``splunk_cred_sep``<n>`` followed by an end-marker entry; ``chunked=False``
        stores one entry named ``<stanza>`` (older add-ons). solnlib reads both.
        """
        app = self._app(app)
        realm = ucc_realm(conf_file, app)
        clear = {k: v for k, v in fields.items() if k in encrypted and v not in (None, "")}
        stored = {k: (ENCRYPTED_TOKEN if k in clear else v) for k, v in fields.items()}
        with self._lock:
            self._remove_ucc_credentials(app, realm, stanza)
            self.set_stanza(conf_file, stanza, stored, app=app)
            if not clear:
                return
            secret = json.dumps(clear)
            if not chunked:
                self.add_password(stanza, secret, realm=realm, app=app)
                return
            parts = [secret[i:i + CRED_CHUNK] for i in range(0, len(secret), CRED_CHUNK)]
            for index, part in enumerate(parts + [CRED_END_MARK], start=1):
                self.add_password(CRED_SEP.join([stanza, str(index)]), part, realm=realm, app=app)

    def _remove_ucc_credentials(self, app, realm, stanza):
        entries = self._passwords.get(app, {})
        for name in list(entries):
            content = entries[name]["content"]
            user = content["username"]
            if content["realm"] == realm and (user == stanza or user.startswith(stanza + CRED_SEP)):
                del entries[name]

    def ucc_stanza(self, conf_file, stanza, app=None):
        """A stanza with its encrypted fields decrypted, read back the way solnlib does."""
        app = self._app(app)
        fields = self.stanza(conf_file, stanza, app)
        realm = ucc_realm(conf_file, app)
        parts, single = {}, None
        for entry in self.passwords(app):
            if entry["realm"] != realm:
                continue
            user = entry["username"]
            if user == stanza:
                single = entry["clear_password"]
            elif user.startswith(stanza + CRED_SEP):
                parts[int(user[len(stanza + CRED_SEP):])] = entry["clear_password"]
        if parts:
            secret = ""
            for index in sorted(parts):
                if parts[index] == CRED_END_MARK:
                    break
                secret += parts[index]
        else:
            secret = single
        clear = json.loads(secret) if secret else {}
        return {k: (clear.get(k, v) if v == ENCRYPTED_TOKEN else v) for k, v in fields.items()}

    # ------------------------------------------------------------------ passwords
    def add_password(self, username, clear_password, realm=None, app=None):
        """Store a credential (replacing one with the same realm and username)."""
        name = password_entity_name(realm, username)
        with self._lock:
            self._passwords.setdefault(self._app(app), {})[name] = {
                "content": {"realm": realm or "", "username": username,
                            "clear_password": clear_password},
                "owner": "nobody", "sharing": "app", "updated": time.time(),
            }
        return name

    def passwords(self, app=None):
        """Credentials stored in ``app``: dicts of name, realm, username, clear_password."""
        with self._lock:
            return [dict(rec["content"], name=name)
                    for name, rec in self._passwords.get(self._app(app), {}).items()]

    # ------------------------------------------------------------------ KV store
    def kv_create_collection(self, name, fields=None, app=None):
        with self._lock:
            collections = self._kv.setdefault(self._app(app), {})
            if name not in collections:
                config = {"field." + k: v for k, v in (fields or {}).items()}
                collections[name] = {"config": config, "records": {}, "updated": time.time()}

    def kv_collections(self, app=None):
        with self._lock:
            return sorted(self._kv.get(self._app(app), {}))

    def kv_records(self, name, app=None):
        """The records of a collection (copies; KeyError when it does not exist)."""
        with self._lock:
            return [json.loads(json.dumps(d))
                    for d in self._kv[self._app(app)][name]["records"].values()]

    def kv_insert(self, name, record, app=None):
        self.kv_create_collection(name, app=app)
        with self._lock:
            doc = dict(record)
            doc.setdefault("_key", secrets.token_hex(12))
            doc.setdefault("_user", "nobody")
            self._kv[self._app(app)][name]["records"][doc["_key"]] = doc
            return doc["_key"]

    # ------------------------------------------------------------------ events, messages
    @property
    def events(self):
        """Events received (receivers/simple, HEC): dicts of raw, index, sourcetype, source,
        host, time, endpoint."""
        with self._lock:
            return list(self._events)

    @property
    def messages(self):
        """Bulletin messages by name: dicts of value, severity, capability, role."""
        with self._lock:
            return {name: dict(rec) for name, rec in self._messages.items()}

    # ================================================================== request handling
    def _handle(self, method, target, headers, body):
        split = urlsplit(target)
        raw_path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        raw_segments = [s for s in raw_path.split("/")]
        while raw_segments and raw_segments[-1] == "":
            raw_segments.pop()
        raw_segments = raw_segments[1:] if raw_segments and raw_segments[0] == "" else raw_segments
        owner = app = None
        rest = raw_segments
        if raw_segments[:1] == ["servicesNS"] and len(raw_segments) >= 3:
            owner, app = unquote(raw_segments[1]), unquote(raw_segments[2])
            rest = raw_segments[3:]
        elif raw_segments[:1] == ["services"]:
            rest = raw_segments[1:]
        else:
            rest = None
        record = RecordedRequest(method, unquote(raw_path), query, body, headers, owner, app)
        with self._lock:
            self._requests.append(record)
        ctx = _Ctx(method, raw_path, query, body, headers, owner, app, rest or [])
        try:
            response = self._route(ctx, rest)
        except _NotImplementedHere:
            response = self._unimplemented_response(record)
        except _HttpError as exc:
            response = self._error(ctx, exc.status, exc.message, exc.msg_type)
        except Exception:  # a bug in the double: say so loudly
            text = traceback.format_exc()
            with self._lock:
                self._errors.append("%s %s\n%s" % (method, record.path, text))
            response = self._error(ctx, 500, "splunkd double failed: " + text.splitlines()[-1])
        record.status = response.status
        return response

    def _unimplemented_response(self, record):
        with self._lock:
            self._unimplemented.append(record)
        text = "splunkd double does not implement %s %s" % (record.method, record.path)
        body, ctype = render_messages("xml", [("ERROR", text)])
        return _Response(501, body, ctype)

    def _error(self, ctx, status, message, msg_type="ERROR"):
        body, ctype = render_messages(ctx.fmt, [(msg_type, message)])
        return _Response(status, body, ctype)

    def _route(self, ctx, rest):
        if rest is None or not rest:
            raise _NotImplementedHere()
        head = unquote(rest[0])
        parts = [unquote(s) for s in rest]
        if head == "collector" or parts[:1] == ["receivers"] or parts[:3] == [
                "storage", "collections", "data"]:
            ctx.body_is_form = False
        if head == "collector":
            return self._ep_hec(ctx, [unquote(s) for s in rest[1:]])
        if [unquote(s) for s in rest[:2]] == ["auth", "login"] and len(rest) == 2:
            return self._ep_login(ctx)
        ctx.user = self._authenticate(ctx)
        if ctx.user is None:
            raise _HttpError(401, "call not properly authenticated", "WARN")
        self._check_faults(ctx)
        self._authorize(ctx, parts)
        if parts[:2] == ["server", "info"] and len(parts) <= 3:
            return self._ep_server_info(ctx)
        if parts[:2] == ["authentication", "current-context"] and len(parts) <= 3:
            return self._ep_current_context(ctx)
        if head == "configs" and len(parts) >= 2 and parts[1].startswith("conf-"):
            return self._ep_configs(ctx, parts[1][len("conf-"):], rest[2:])
        if head == "properties":
            return self._ep_properties(ctx, parts[1:])
        if parts[:2] == ["storage", "passwords"]:
            return self._ep_passwords(ctx, rest[2:])
        if parts[:3] == ["storage", "collections", "config"]:
            return self._ep_kv_config(ctx, rest[3:])
        if parts[:3] == ["storage", "collections", "data"] and len(parts) >= 4:
            return self._ep_kv_data(ctx, parts[3], rest[4:])
        if parts == ["receivers", "simple"]:
            return self._ep_receivers_simple(ctx)
        if parts[:2] == ["data", "indexes"]:
            return self._ep_indexes(ctx, rest[2:])
        if parts[:2] == ["data", "inputs"] and len(parts) in (3, 4):
            return self._ep_data_inputs(ctx, parts[2], parts[3] if len(parts) == 4 else None)
        if head == "messages":
            return self._ep_messages(ctx, rest[1:])
        if head.startswith(self.rest_root + "_") and len(parts) <= 2:
            return self._ep_ucc_rest(ctx, head, parts[1:])
        raise _NotImplementedHere()

    def _authorize(self, ctx, parts):
        """403 where splunkd refuses the user (see _authz.py for what and why)."""
        caps = self.capabilities_of(ctx.user)
        reading = ctx.method in ("GET", "HEAD")

        def need(capability):
            if capability not in caps and "admin_all_objects" not in caps:
                raise _HttpError(403, "You (user=%s) do not have permission to perform this "
                                 "operation (requires capability: %s)." % (ctx.user, capability))

        def access(app, stanza, kind):
            if not self.authz.may(ctx.user, caps, app, stanza, kind):
                acl = self.authz.access(app, stanza)
                raise _HttpError(403, "User '%s' with roles { %s } cannot %s: /nobody/%s/%s "
                                 "{ read : [ %s ], write : [ %s ] }" % (
                                     ctx.user, ", ".join(self.authz.roles_of(ctx.user)), kind,
                                     app, stanza, ", ".join(acl["read"]), ", ".join(acl["write"])))

        app = self._write_app(ctx.app) if ctx.app not in (None, "-") else self.app
        if parts[:2] == ["storage", "passwords"]:
            need("list_storage_passwords" if reading else "edit_storage_passwords")
            access(app, "passwords", "read" if reading else "write")
        elif parts[:3] == ["storage", "collections", "data"] and len(parts) >= 4:
            found = self._kv_find(ctx.app, parts[3])
            owner_app = found[0] if found is not None else app
            writing = not reading and not parts[4:] == ["batch_find"]
            access(owner_app, "collections/" + parts[3], "write" if writing else "read")
        elif parts == ["receivers", "simple"]:
            need("edit_tcp")

    def _ep_data_inputs(self, ctx, input_type, name):
        """Modular input stanzas (``data/inputs/<type>[/<name>]``), kept as ``<type>://<name>``
        stanzas of the app's inputs.conf: list, read, create, edit, delete."""
        app = self._app(ctx.app if ctx.app not in (None, "-") else None)
        title = input_type
        prefix = input_type + "://"
        with self._lock:
            stanzas = self._confs.setdefault(app, {}).setdefault("inputs", {})

            def entity(stanza_name):
                return Entity(stanza_name[len(prefix):], title,
                              dict(stanzas[stanza_name]["fields"]), owner="nobody", app=app)

            if name is None:
                if ctx.method == "GET":
                    entities = [entity(k) for k in sorted(stanzas) if k.startswith(prefix)]
                    return self._feed_response(ctx, 200, title, entities)
                if ctx.method == "POST":
                    new = ctx.param("name")
                    if not new:
                        raise _HttpError(400, "Missing argument: name")
                    if prefix + new in stanzas:
                        raise _HttpError(409, "An object with name=%s already exists" % new)
                    stanzas[prefix + new] = {"fields": ctx.fields(exclude=("name",)),
                                             "owner": "nobody", "sharing": "app",
                                             "updated": time.time()}
                    return self._feed_response(ctx, 201, title, [entity(prefix + new)])
                raise _NotImplementedHere()
            key = prefix + name
            if key not in stanzas:
                raise _HttpError(404, "Could not find object id=%s" % name)
            if ctx.method == "GET":
                return self._feed_response(ctx, 200, title, [entity(key)])
            if ctx.method == "POST":
                stanzas[key]["fields"].update(ctx.fields())
                stanzas[key]["updated"] = time.time()
                return self._feed_response(ctx, 200, title, [entity(key)])
            if ctx.method == "DELETE":
                del stanzas[key]
                return self._feed_response(ctx, 200, title, [])
        raise _NotImplementedHere()

    def _ep_ucc_rest(self, ctx, conf_file, names):
        """The add-on's own UCC REST endpoints (restmap.conf admin_external handlers), e.g.
        ``ta_trailwatch_settings/logging``, which UCC's generated scripts read. Read-only here:
        writes go through the real handler classes in tests. Encrypted fields come back as
        ``******`` unless ``--cred--=1`` asks for clear values, as splunktaucclib does."""
        if ctx.method != "GET":
            raise _NotImplementedHere()
        app = self._app(ctx.app if ctx.app not in (None, "-") else None)
        with self._lock:
            stanzas = dict(self._confs.get(app, {}).get(conf_file, {}))
        if not stanzas and conf_file not in self._confs.get(app, {}):
            raise _NotImplementedHere()
        if names and names[0] not in stanzas:
            raise _HttpError(404, "Could not find object id=%s" % names[0])
        clear = str(ctx.param("--cred--", "0")).lower() in ("1", "true")
        entities = []
        for name in ([names[0]] if names else sorted(stanzas)):
            content = self.ucc_stanza(conf_file, name, app) if clear else dict(
                self.stanza(conf_file, name, app))
            entities.append(Entity(name, conf_file, content, owner="nobody", app=app))
        return self._feed_response(ctx, 200, conf_file, entities)

    def _check_faults(self, ctx):
        path = unquote(ctx.raw_path)
        with self._lock:
            for fault in self._faults:
                if fault["method"] not in (None, ctx.method) or not fault["pattern"].search(path):
                    continue
                if fault["times"] is not None:
                    if fault["times"] <= 0:
                        continue
                    fault["times"] -= 1
                raise _HttpError(fault["status"], fault["message"])

    def _authenticate(self, ctx):
        auth = ctx.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        with self._lock:
            if scheme in ("Splunk", "Bearer") and value in self._sessions:
                return self._sessions[value]
            if scheme == "Basic":
                try:
                    user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
                except ValueError:
                    return None
                return user if user in self.users and self.users[user] == password else None
            cookie = ctx.headers.get("Cookie")
            if cookie:
                jar = SimpleCookie()
                try:
                    jar.load(cookie)
                except Exception:
                    return None
                for name, morsel in jar.items():
                    if name.startswith("splunkd_") and morsel.value in self._sessions:
                        return self._sessions[morsel.value]
        return None

    # ------------------------------------------------------------------ feeds
    def _feed(self, ctx, title, path, entities, links=()):
        """Filter (search), sort (sort_key, sort_dir) and page (count, offset) a listing."""
        search = ctx.param("search")
        if search:
            entities = [e for e in entities if _search_matches(e, search)]
        sort_key = ctx.param("sort_key", "name")
        descending = (ctx.param("sort_dir") or "asc").lower() == "desc"

        def key_of(entity):
            value = entity.name if sort_key in ("name", "title") else (
                entity.content.get(sort_key) if isinstance(entity.content, dict) else None)
            return str(value if value is not None else "").lower()

        entities = sorted(entities, key=key_of, reverse=descending)
        total = len(entities)
        offset = _int_param(ctx, "offset", 0)
        count = _int_param(ctx, "count", 30)
        page = entities[offset:] if count <= 0 else entities[offset:offset + count]
        feed = Feed(title, path, page, total=total, offset=offset,
                    per_page=count if count > 0 else total, links=links)
        body, ctype = render_feed(feed, ctx.fmt, self.uri, self.server_info)
        return body, ctype

    def _feed_response(self, ctx, status, title, entities, links=()):
        body, ctype = self._feed(ctx, title, unquote(ctx.raw_path), entities, links)
        return _Response(status, body, ctype)

    # ------------------------------------------------------------------ namespaces
    def _read_apps(self, app, store):
        if app in (None, "-"):
            return sorted(store)
        return [a for a in ("system", app) if a in store] if app != "system" else (
            ["system"] if "system" in store else [])

    @staticmethod
    def _write_app(app):
        return "system" if app in (None, "-") else app

    # ------------------------------------------------------------------ auth/login
    def _ep_login(self, ctx):
        if ctx.method != "POST":
            raise _NotImplementedHere()
        username = ctx.param("username")
        password = ctx.param("password")
        if username is None or password is None or self.users.get(username) != password:
            body, ctype = render_messages(ctx.fmt, [("WARN", "Login failed")])
            return _Response(401, body, ctype)
        key = self.new_session_key(username)
        headers = []
        if ctx.param("cookie") == "1":
            headers.append(("Set-Cookie", "splunkd_%d=%s; Path=/; HttpOnly; Max-Age=3600"
                            % (self.port, key)))
        if ctx.fmt == "json":
            body = json.dumps({"sessionKey": key, "message": "", "code": ""}).encode("utf-8")
            return _Response(200, body, JSON_TYPE, headers)
        body = ('<response>\n  <sessionKey>%s</sessionKey>\n  <messages>\n    <msg code=""></msg>\n'
                "  </messages>\n</response>\n" % key).encode("utf-8")
        return _Response(200, body, "text/xml; charset=UTF-8", headers)

    # ------------------------------------------------------------------ server info
    def _ep_server_info(self, ctx):
        if ctx.method != "GET":
            raise _NotImplementedHere()
        entity = Entity("server-info", "server/info", dict(self.server_info), owner="nobody",
                        app="system", sharing="system", links=("list",), namespaced=False,
                        author="system")
        return self._feed_response(ctx, 200, "server-info", [entity])

    def _ep_current_context(self, ctx):
        if ctx.method != "GET":
            raise _NotImplementedHere()
        content = {"username": ctx.user, "realname": ctx.user, "email": "",
                   "defaultApp": "launcher", "tz": "", "roles": self.authz.roles_of(ctx.user),
                   "capabilities": sorted(self.capabilities_of(ctx.user))}
        entity = Entity("context", "authentication/current-context", content, owner=ctx.user,
                        app="system", sharing="system", links=("list",), namespaced=False)
        return self._feed_response(ctx, 200, "current-context", [entity])

    # ------------------------------------------------------------------ configs/conf-*
    def _conf_visible(self, conf_file, app):
        """[(app, stanza name, record)] visible in ``app``; app layers beat system's."""
        with self._lock:
            apps = self._read_apps(app, self._confs)
            if app in (None, "-"):
                return [(a, n, r) for a in apps
                        for n, r in self._confs[a].get(conf_file, {}).items()]
            merged = {}
            for a in apps:
                for name, rec in self._confs[a].get(conf_file, {}).items():
                    merged[name] = (a, name, rec)
            return list(merged.values())

    def _conf_exists(self, conf_file, app):
        with self._lock:
            return any(conf_file in self._confs[a] for a in self._read_apps(app, self._confs))

    def _conf_find(self, conf_file, stanza, app):
        for found in self._conf_visible(conf_file, app):
            if found[1] == stanza:
                return found
        return None

    def _stanza_entity(self, conf_file, app, name, rec):
        content = dict(rec["fields"])
        content.setdefault("disabled", "0")
        content["eai:appName"] = app
        content["eai:userName"] = rec["owner"]
        return Entity(name, "configs/conf-" + conf_file, content, owner=rec["owner"], app=app,
                      sharing=rec["sharing"], links=("list", "edit", "remove", "move", "disable"),
                      updated=rec["updated"])

    def _ep_configs(self, ctx, conf_file, raw_name):
        title = "conf-" + conf_file
        links = [("create", "%s/configs/conf-%s/_new" % (_ns(ctx), conf_file)),
                 ("_reload", "%s/configs/conf-%s/_reload" % (_ns(ctx), conf_file))]
        name = _decode_segments(raw_name) if raw_name else None
        if name is None:
            if ctx.method == "GET":
                entities = [self._stanza_entity(conf_file, a, n, r)
                            for a, n, r in self._conf_visible(conf_file, ctx.app)]
                return self._feed_response(ctx, 200, title, entities, links)
            if ctx.method == "POST":
                return self._conf_create(ctx, conf_file, title, links)
            raise _NotImplementedHere()
        found = self._conf_find(conf_file, name, ctx.app)
        action = None
        if found is None and raw_name[-1] in CONF_ACTIONS:
            action = raw_name[-1]
            name = _decode_segments(raw_name[:-1]) if len(raw_name) > 1 else None
            found = self._conf_find(conf_file, name, ctx.app) if name else None
            if name is None and action == "_reload" and ctx.method in ("GET", "POST"):
                return self._feed_response(ctx, 200, title, [], links)
        if found is None:
            raise _HttpError(404, "Could not find object id=%s" % (name or raw_name[-1]))
        app, name, rec = found
        if action in ("disable", "enable") and ctx.method == "POST":
            with self._lock:
                rec = self._conf_writable(conf_file, ctx.app, app, name, rec)
                rec["fields"]["disabled"] = "1" if action == "disable" else "0"
                rec["updated"] = time.time()
            app = self._write_app(ctx.app) if ctx.app not in (None, "-") else app
            return self._feed_response(ctx, 200, title, [self._stanza_entity(conf_file, app, name, rec)])
        if action is not None:
            raise _NotImplementedHere()
        if ctx.method == "GET":
            return self._feed_response(ctx, 200, title, [self._stanza_entity(conf_file, app, name, rec)])
        if ctx.method == "POST":
            with self._lock:
                rec = self._conf_writable(conf_file, ctx.app, app, name, rec)
                rec["fields"].update(ctx.fields())
                rec["updated"] = time.time()
            if ctx.app not in (None, "-"):
                app = ctx.app
            return self._feed_response(ctx, 200, title, [self._stanza_entity(conf_file, app, name, rec)])
        if ctx.method == "DELETE":
            with self._lock:
                self._confs[app][conf_file].pop(name, None)
            return self._feed_response(ctx, 200, title, [], links)
        raise _NotImplementedHere()

    def _conf_writable(self, conf_file, req_app, app, name, rec):
        """The record to change: a stanza seen through ``system`` is copied into the app."""
        target = self._write_app(req_app) if req_app not in (None, "-") else app
        if target == app:
            return rec
        copy = {"fields": dict(rec["fields"]), "owner": rec["owner"], "sharing": rec["sharing"],
                "updated": time.time()}
        self._confs.setdefault(target, {}).setdefault(conf_file, {})[name] = copy
        return copy

    def _conf_create(self, ctx, conf_file, title, links):
        name = ctx.param("name")
        if not name:
            raise _HttpError(400, 'Missing argument "name"')
        app = self._write_app(ctx.app)
        with self._lock:
            stanzas = self._confs.setdefault(app, {}).setdefault(conf_file, {})
            if name in stanzas:
                raise _HttpError(409, "An object with name=%s already exists" % name)
            rec = stanzas[name] = {"fields": ctx.fields(exclude=("name",)),
                                   "owner": "nobody", "sharing": "app", "updated": time.time()}
        return self._feed_response(ctx, 201, title, [self._stanza_entity(conf_file, app, name, rec)], links)

    # ------------------------------------------------------------------ properties
    def _ep_properties(self, ctx, parts):
        app = ctx.app
        if not parts:
            if ctx.method == "GET":
                with self._lock:
                    files = sorted({f for a in self._read_apps(app, self._confs) for f in self._confs[a]})
                entities = [Entity(f, "properties", {}, app=self._write_app(app), links=("list",))
                            for f in files]
                return self._feed_response(ctx, 200, "properties", entities)
            if ctx.method == "POST":
                conf_file = ctx.param("__conf")
                if not conf_file:
                    raise _HttpError(400, 'Missing argument "__conf"')
                self.create_conf(conf_file, app=self._write_app(app))
                return self._feed_response(ctx, 201, "properties", [])
            raise _NotImplementedHere()
        conf_file = parts[0]
        if len(parts) == 1:
            if ctx.method == "GET":
                if not self._conf_exists(conf_file, app):
                    raise _HttpError(404, "Could not find object id=%s" % conf_file)
                entities = [Entity(n, "properties/" + conf_file, {}, app=a, links=("list",))
                            for a, n, _ in self._conf_visible(conf_file, app)]
                return self._feed_response(ctx, 200, conf_file, entities)
            if ctx.method == "POST":
                stanza = ctx.param("__stanza")
                if not stanza:
                    raise _HttpError(400, 'Missing argument "__stanza"')
                if self._conf_find(conf_file, stanza, app) is None:
                    self.set_stanza(conf_file, stanza, {}, app=self._write_app(app))
                return self._feed_response(ctx, 201, conf_file, [])
            raise _NotImplementedHere()
        stanza = parts[1]
        found = self._conf_find(conf_file, stanza, app)
        if len(parts) == 2:
            if ctx.method == "GET":
                if found is None:
                    raise _HttpError(404, "Could not find object id=%s" % stanza)
                owner_app, _, rec = found
                entities = [Entity(k, "properties/%s/%s" % (quote(conf_file, safe=""), quote(stanza, safe="")),
                                   v, app=owner_app, links=("list", "edit"))
                            for k, v in rec["fields"].items()]
                return self._feed_response(ctx, 200, stanza, entities)
            if ctx.method == "POST":
                self.set_stanza(conf_file, stanza, ctx.fields(), app=self._write_app(app), replace=False)
                return self._feed_response(ctx, 200, stanza, [])
            raise _NotImplementedHere()
        if len(parts) == 3 and ctx.method == "GET":
            if found is None or parts[2] not in found[2]["fields"]:
                raise _HttpError(404, "Could not find object id=%s" % parts[2])
            return _Response(200, found[2]["fields"][parts[2]].encode("utf-8"))
        raise _NotImplementedHere()

    # ------------------------------------------------------------------ storage/passwords
    def _password_entity(self, app, name, rec):
        content = dict(rec["content"])
        clear = content["clear_password"]
        content["encr_password"] = "$7$" + base64.b64encode(
            hashlib.sha256(("double:" + clear).encode("utf-8")).digest()).decode("ascii")
        content["password"] = "********"
        content["eai:appName"] = app
        content["eai:userName"] = rec["owner"]
        return Entity(name, "storage/passwords", content, owner=rec["owner"], app=app,
                      sharing=rec["sharing"], updated=rec["updated"])

    def _passwords_visible(self, app):
        with self._lock:
            apps = self._read_apps(app, self._passwords)
            if app in (None, "-"):
                return [(a, n, r) for a in apps for n, r in self._passwords[a].items()]
            merged = {}
            for a in apps:
                for name, rec in self._passwords[a].items():
                    merged[name] = (a, name, rec)
            return list(merged.values())

    def _ep_passwords(self, ctx, raw_name):
        title = "passwords"
        if not raw_name:
            if ctx.method == "GET":
                entities = [self._password_entity(a, n, r) for a, n, r in self._passwords_visible(ctx.app)]
                return self._feed_response(ctx, 200, title, entities)
            if ctx.method == "POST":
                username = ctx.param("name")
                password = ctx.param("password")
                if not username:
                    raise _HttpError(400, 'Missing argument "name"')
                if password is None:
                    raise _HttpError(400, 'Missing argument "password"')
                realm = ctx.param("realm") or ""
                app = self._write_app(ctx.app)
                name = password_entity_name(realm, username)
                with self._lock:
                    if name in self._passwords.get(app, {}):
                        raise _HttpError(409, "An object with name=%s already exists" % name)
                    self.add_password(username, password, realm=realm, app=app)
                    rec = self._passwords[app][name]
                return self._feed_response(ctx, 201, title, [self._password_entity(app, name, rec)])
            raise _NotImplementedHere()
        name = _decode_segments(raw_name)
        found = None
        for entry in self._passwords_visible(ctx.app):
            if entry[1] == name:
                found = entry
        if found is None:
            if ctx.method in ("GET", "POST", "DELETE"):
                raise _HttpError(404, "Could not find object id=%s" % name)
            raise _NotImplementedHere()
        app, name, rec = found
        if ctx.method == "GET":
            return self._feed_response(ctx, 200, title, [self._password_entity(app, name, rec)])
        if ctx.method == "POST":
            password = ctx.param("password")
            if password is None:
                raise _HttpError(400, 'Missing argument "password"')
            with self._lock:
                rec["content"]["clear_password"] = password
                rec["updated"] = time.time()
            return self._feed_response(ctx, 200, title, [self._password_entity(app, name, rec)])
        if ctx.method == "DELETE":
            with self._lock:
                self._passwords[app].pop(name, None)
            return self._feed_response(ctx, 200, title, [])
        raise _NotImplementedHere()

    # ------------------------------------------------------------------ KV store
    def _kv_visible(self, app):
        """[(app, collection name, collection)]; with app '-' the first app holding a name."""
        with self._lock:
            merged = {}
            for a in self._read_apps(app, self._kv):
                for name, coll in self._kv[a].items():
                    if app not in (None, "-") or name not in merged:
                        merged[name] = (a, name, coll)
            return list(merged.values())

    def _kv_find(self, app, name):
        for entry in self._kv_visible(app):
            if entry[1] == name:
                return entry
        return None

    def _kv_entity(self, app, name, coll):
        content = {"disabled": "0", "replicate": "0", "profilingEnabled": "false"}
        content.update(coll["config"])
        content["eai:appName"] = app
        content["eai:userName"] = "nobody"
        return Entity(name, "storage/collections/config", content, owner="nobody", app=app,
                      sharing="app", updated=coll["updated"])

    def _ep_kv_config(self, ctx, raw_name):
        title = "collections-conf"
        if not raw_name:
            if ctx.method == "GET":
                entities = [self._kv_entity(a, n, c) for a, n, c in self._kv_visible(ctx.app)]
                return self._feed_response(ctx, 200, title, entities)
            if ctx.method == "POST":
                name = ctx.param("name")
                if not name:
                    raise _HttpError(400, 'Missing argument "name"')
                app = self._write_app(ctx.app)
                with self._lock:
                    if name in self._kv.get(app, {}):
                        raise _HttpError(409, "An object with name=%s already exists" % name)
                    self.kv_create_collection(name, app=app)
                    coll = self._kv[app][name]
                    coll["config"].update(ctx.fields(exclude=("name",)))
                return self._feed_response(ctx, 201, title, [self._kv_entity(app, name, coll)])
            raise _NotImplementedHere()
        name = _decode_segments(raw_name)
        found = self._kv_find(ctx.app, name)
        if found is None:
            if ctx.method in ("GET", "POST", "DELETE"):
                raise _HttpError(404, "Could not find object id=%s" % name)
            raise _NotImplementedHere()
        app, name, coll = found
        if ctx.method == "GET":
            return self._feed_response(ctx, 200, title, [self._kv_entity(app, name, coll)])
        if ctx.method == "POST":
            with self._lock:
                coll["config"].update(ctx.fields())
                coll["updated"] = time.time()
            return self._feed_response(ctx, 200, title, [self._kv_entity(app, name, coll)])
        if ctx.method == "DELETE":
            with self._lock:
                self._kv[app].pop(name, None)
            return self._feed_response(ctx, 200, title, [])
        raise _NotImplementedHere()

    def _ep_kv_data(self, ctx, collection, raw_rest):
        found = self._kv_find(ctx.app, collection)
        if found is None:
            raise _HttpError(404, "Collection %s does not exist" % collection)
        records = found[2]["records"]
        try:
            if not raw_rest:
                return self._kv_collection_op(ctx, records)
            sub = unquote(raw_rest[0]) if len(raw_rest) == 1 else None
            if sub in ("batch_save", "batch_find") and ctx.method == "POST":
                return self._kv_batch(ctx, records, sub)
            return self._kv_record_op(ctx, records, _decode_segments(raw_rest))
        except _kvquery.QueryError as exc:
            raise _HttpError(400, str(exc))

    def _json_body(self, ctx):
        try:
            return json.loads(ctx.body.decode("utf-8") or "null")
        except ValueError as exc:
            raise _HttpError(400, "Invalid JSON in request body: %s" % exc)

    @staticmethod
    def _json(status, value):
        return _Response(status, json.dumps(value).encode("utf-8"), JSON_TYPE)

    def _kv_collection_op(self, ctx, records):
        if ctx.method == "GET":
            query = _kvquery.parse_query(ctx.param("query"))
            with self._lock:
                docs = [dict(d) for d in records.values()]
            found = _kvquery.run(docs, query, ctx.param("sort"), ctx.param("skip"),
                                 ctx.param("limit"), ctx.param("fields"))
            return self._json(200, found)
        if ctx.method == "POST":
            doc = self._json_body(ctx)
            if not isinstance(doc, dict):
                raise _HttpError(400, "Request body must be a JSON object")
            with self._lock:
                key = str(doc.get("_key") or secrets.token_hex(12))
                if key in records:
                    raise _HttpError(409, "A document with the same key already exists")
                records[key] = _kv_doc(doc, key)
            return self._json(201, {"_key": key})
        if ctx.method == "DELETE":
            query = _kvquery.parse_query(ctx.param("query"))
            with self._lock:
                for key in [k for k, d in records.items() if _kvquery.matches(d, query)]:
                    del records[key]
            return _Response(200, b"", JSON_TYPE)
        raise _NotImplementedHere()

    def _kv_record_op(self, ctx, records, key):
        if ctx.method == "GET":
            with self._lock:
                doc = records.get(key)
            if doc is None:
                raise _HttpError(404, "Could not find object.")
            return self._json(200, doc)
        if ctx.method == "POST":
            doc = self._json_body(ctx)
            if not isinstance(doc, dict):
                raise _HttpError(400, "Request body must be a JSON object")
            with self._lock:
                if key not in records:
                    raise _HttpError(404, "Could not find object.")
                records[key] = _kv_doc(doc, key)
            return self._json(200, {"_key": key})
        if ctx.method == "DELETE":
            with self._lock:
                if records.pop(key, None) is None:
                    raise _HttpError(404, "Could not find object.")
            return _Response(200, b"", JSON_TYPE)
        raise _NotImplementedHere()

    def _kv_batch(self, ctx, records, op):
        items = self._json_body(ctx)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _HttpError(400, "Request body must be a JSON array of objects")
        if op == "batch_save":
            keys = []
            with self._lock:
                for doc in items:
                    key = str(doc.get("_key") or secrets.token_hex(12))
                    records[key] = _kv_doc(doc, key)
                    keys.append(key)
            return self._json(200, keys)
        with self._lock:
            docs = [dict(d) for d in records.values()]
        results = [
            _kvquery.run(docs, item.get("query") or {}, item.get("sort"), item.get("skip"),
                         item.get("limit"), item.get("fields"))
            for item in items
        ]
        return self._json(200, results)

    # ------------------------------------------------------------------ indexes
    def add_index(self, name):
        with self._lock:
            self.indexes.add(name)

    def _index_entity(self, name):
        with self._lock:
            count = sum(1 for e in self._events if e["index"] == name)
        content = {"datatype": "event", "disabled": "0", "isInternal": name.startswith("_"),
                   "totalEventCount": str(count), "currentDBSizeMB": "1",
                   "maxTotalDataSizeMB": "500000", "frozenTimePeriodInSecs": "188697600",
                   "homePath": "$SPLUNK_DB/%s/db" % name, "coldPath": "$SPLUNK_DB/%s/colddb" % name,
                   "thawedPath": "$SPLUNK_DB/%s/thaweddb" % name, "defaultDatabase": "main"}
        return Entity(name, "data/indexes", content, owner="nobody", app="search", sharing="global")

    def _ep_indexes(self, ctx, raw_name):
        if not raw_name:
            if ctx.method == "GET":
                with self._lock:
                    names = sorted(self.indexes)
                return self._feed_response(ctx, 200, "indexes", [self._index_entity(n) for n in names])
            if ctx.method == "POST":
                name = ctx.param("name")
                if not name:
                    raise _HttpError(400, 'Missing argument "name"')
                with self._lock:
                    if name in self.indexes:
                        raise _HttpError(409, "An object with name=%s already exists" % name)
                    self.indexes.add(name)
                return self._feed_response(ctx, 201, "indexes", [self._index_entity(name)])
            raise _NotImplementedHere()
        name = _decode_segments(raw_name)
        if ctx.method == "GET" and len(raw_name) == 1:
            with self._lock:
                known = name in self.indexes
            if not known:
                raise _HttpError(404, "Could not find object id=%s" % name)
            return self._feed_response(ctx, 200, "indexes", [self._index_entity(name)])
        raise _NotImplementedHere()

    # ------------------------------------------------------------------ event intake
    def _store_event(self, raw, index, sourcetype, source, host, endpoint, event_time=None, fields=None):
        event = {"raw": raw, "index": index or "main", "sourcetype": sourcetype,
                 "source": source, "host": host or self.server_info["serverName"],
                 "time": event_time if event_time is not None else time.time(),
                 "endpoint": endpoint}
        if fields:
            event["fields"] = fields
        with self._lock:
            self._events.append(event)
        return event

    def _ep_receivers_simple(self, ctx):
        if ctx.method != "POST":
            raise _NotImplementedHere()
        raw = ctx.body.decode("utf-8", "replace")
        # Metadata travels in the query string; the body is the event, never form fields.
        meta = {k: (ctx.query[k][-1] if ctx.query.get(k) else None)
                for k in ("index", "sourcetype", "source", "host")}
        event = self._store_event(raw, meta["index"], meta["sourcetype"] or "http-simple",
                                  meta["source"] or "http-simple", meta["host"], "receivers/simple")
        nbytes = len(ctx.body)
        if ctx.fmt == "json":
            body = {"index": event["index"], "bytes": nbytes, "host": event["host"],
                    "source": event["source"], "sourcetype": event["sourcetype"]}
            return self._json(200, body)
        fields = "".join(
            "\t\t\t<field k='%s'>\n\t\t\t\t<value><text>%s</text></value>\n\t\t\t</field>\n" % (k, _xml_text(v))
            for k, v in (("_index", event["index"]), ("bytes", nbytes), ("host", event["host"]),
                         ("source", event["source"]), ("sourcetype", event["sourcetype"]))
        )
        body = "<response>\n\t<results>\n\t\t<result>\n%s\t\t</result>\n\t</results>\n</response>\n" % fields
        return _Response(200, body.encode("utf-8"), "text/xml; charset=UTF-8")

    def _ep_hec(self, ctx, parts):
        if ctx.method != "POST" or parts not in ([], ["event"], ["event", "1.0"], ["raw"], ["raw", "1.0"]):
            if ctx.method == "GET" and parts[:1] == ["health"]:
                return self._json(200, {"text": "HEC is healthy", "code": 17})
            raise _NotImplementedHere()
        auth = ctx.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if not token:
            return self._json(401, {"text": "Token is required", "code": 2})
        if scheme not in ("Splunk", "Bearer") or token.strip() not in self.hec_tokens:
            return self._json(403, {"text": "Invalid token", "code": 4})
        try:
            self._check_faults(ctx)
        except _HttpError as exc:
            return self._json(exc.status, {"text": exc.message, "code": 9})
        text = ctx.body.decode("utf-8", "replace")
        if parts[:1] == ["raw"]:
            q = {k: (ctx.query[k][-1] if ctx.query.get(k) else None)
                 for k in ("index", "sourcetype", "source", "host")}
            self._store_event(text, q["index"], q["sourcetype"], q["source"], q["host"], "collector/raw")
            return self._json(200, {"text": "Success", "code": 0})
        decoder = json.JSONDecoder()
        position, number, received = 0, 0, []
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text):
                break
            try:
                item, position = decoder.raw_decode(text, position)
            except ValueError:
                return self._json(400, {"text": "Invalid data format", "code": 6,
                                        "invalid-event-number": number})
            if not isinstance(item, dict) or "event" not in item:
                return self._json(400, {"text": "Event field is required", "code": 12,
                                        "invalid-event-number": number})
            if item["event"] in ("", None):
                return self._json(400, {"text": "Event field cannot be blank", "code": 13,
                                        "invalid-event-number": number})
            received.append(item)
            number += 1
        if not received:
            return self._json(400, {"text": "No data", "code": 5})
        for item in received:
            event = item["event"]
            raw = event if isinstance(event, str) else json.dumps(event)
            self._store_event(raw, item.get("index"), item.get("sourcetype"), item.get("source"),
                              item.get("host"), "collector", item.get("time"), item.get("fields"))
        return self._json(200, {"text": "Success", "code": 0})

    # ------------------------------------------------------------------ messages
    def _message_entity(self, name, rec):
        content = {name: rec["value"], "severity": rec["severity"],
                   "timeCreated_epochSecs": int(rec["created"]),
                   "timeCreated_iso": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(rec["created"])),
                   "server": self.server_info["serverName"], "help": "",
                   "capability": rec["capability"], "role": rec["role"]}
        return Entity(name, "messages", content, owner="nobody", app="system", sharing="system",
                      namespaced=False, updated=rec["created"])

    def _ep_messages(self, ctx, raw_name):
        if not raw_name:
            if ctx.method == "GET":
                with self._lock:
                    entities = [self._message_entity(n, r) for n, r in self._messages.items()]
                return self._feed_response(ctx, 200, "messages", entities)
            if ctx.method == "POST":
                name = ctx.param("name")
                value = ctx.param("value")
                if not name or value is None:
                    raise _HttpError(400, 'Missing argument "name" or "value"')
                severity = ctx.param("severity", "warn")
                if severity not in ("info", "warn", "error"):
                    raise _HttpError(400, "Invalid severity %s" % severity)
                rec = {"value": value, "severity": severity, "created": time.time(),
                       "capability": [c for c in ctx.form.get("capability", []) if c],
                       "role": [r for r in ctx.form.get("role", []) if r]}
                with self._lock:
                    self._messages[name] = rec
                return self._feed_response(ctx, 201, "messages", [self._message_entity(name, rec)])
            raise _NotImplementedHere()
        name = _decode_segments(raw_name)
        with self._lock:
            rec = self._messages.get(name)
        if rec is None:
            if ctx.method in ("GET", "DELETE"):
                raise _HttpError(404, "Could not find object id=%s" % name)
            raise _NotImplementedHere()
        if ctx.method == "GET":
            return self._feed_response(ctx, 200, "messages", [self._message_entity(name, rec)])
        if ctx.method == "DELETE":
            with self._lock:
                self._messages.pop(name, None)
            return self._feed_response(ctx, 200, "messages", [])
        raise _NotImplementedHere()


def _kv_doc(doc, key):
    stored = json.loads(json.dumps(doc))
    stored["_key"] = key
    stored.setdefault("_user", "nobody")
    return stored


def _conf_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _xml_text(value):
    return escape(str(value))


def _ns(ctx):
    if ctx.owner is None and ctx.app is None:
        return "/services"
    return "/servicesNS/%s/%s" % (quote(ctx.owner or "nobody", safe=""), quote(ctx.app or "system", safe=""))


def _int_param(ctx, name, default):
    value = ctx.param(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise _HttpError(400, "Argument %s must be an integer" % name) from None


def _search_terms(search):
    """Split a REST ``search`` filter into terms (whitespace-separated, quotes respected)."""
    terms, current, quoted, i = [], "", False, 0
    while i < len(search):
        ch = search[i]
        if ch == "\\" and i + 1 < len(search):
            current += search[i:i + 2]
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch.isspace() and not quoted:
            if current:
                terms.append(current)
            current = ""
        else:
            current += ch
        i += 1
    if current:
        terms.append(current)
    return terms


def _glob_contains(pattern, value):
    """splunkd's filter: case-insensitive substring match, ``*`` matching anything."""
    regex = ".*".join(re.escape(part) for part in pattern.lower().split("*"))
    return re.search(regex, value.lower()) is not None


def _flatten(entity):
    values = {"name": entity.name, "title": entity.name}
    if isinstance(entity.content, dict):
        for key, value in entity.content.items():
            values[key] = value
    for key, value in entity.acl.items():
        values["eai:acl." + key] = value
    return {k: ("" if v is None else (v if isinstance(v, str) else json.dumps(v)))
            for k, v in values.items()}


def _search_matches(entity, search):
    """``search`` as splunkd applies it to listings: every term must match; ``field=value``
    matches that field, a bare term any field (``\\=`` is a literal '=')."""
    values = _flatten(entity)
    for term in _search_terms(search):
        match = re.match(r"^((?:[^=\\]|\\.)+?)=(.*)$", term)
        if match:
            field = match.group(1).replace("\\=", "=")
            wanted = match.group(2).replace("\\=", "=")
            if field not in values or not _glob_contains(wanted, values[field]):
                return False
        else:
            wanted = term.replace("\\=", "=")
            if not any(_glob_contains(wanted, v) for v in values.values()):
                return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, double):
        self.double = double
        ThreadingHTTPServer.__init__(self, address, handler)

    def handle_error(self, request, client_address):
        # Clients closing keep-alive connections or failing TLS handshakes are not news.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Splunkd"
    sys_version = ""
    timeout = 30

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        BaseHTTPRequestHandler.setup(self)

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's signature)
        pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self):
        body = self._read_body()
        headers = {k: v for k, v in self.headers.items()}
        response = self.server.double._handle(self.command, self.path, headers, body)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _dispatch
