"""The splunkd test double, driven by the clients the add-on ships (splunklib 2.1.1, solnlib
8.2.0 from the built add-on's lib/), the way inputs, commands and actions call splunkd."""
import json
import os
import subprocess
import textwrap
import types
import urllib.request
from urllib.error import HTTPError as UrlHTTPError

import pytest
from solnlib import utils as solnlib_utils
from solnlib.bulletin_rest_client import BulletinRestClient
from solnlib.conf_manager import ConfManager
from solnlib.credentials import CredentialManager, CredentialNotExistException
from solnlib.modular_input.checkpointer import KVStoreCheckpointer
from solnlib.modular_input.event_writer import HECEventWriter
from solnlib.server_info import ServerInfo
from solnlib.soln_exceptions import ConfManagerException, ConfStanzaNotExistException
from splunklib import binding, client

from splunkd_double import CRED_END_MARK, CRED_SEP, SplunkdDouble, ucc_realm
from splunkd_double import fixtures as double_fixtures

splunkd = double_fixtures.splunkd
splunkd_https = double_fixtures.splunkd_https

# The built add-on, as tests/conftest.py puts it on sys.path. Not imported
# from conftest: another conftest module (tests/splreplay) may own that name.
APP_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "output", "TA-trailwatch")
APP_BIN = os.path.join(APP_DIR, "bin")
APP_LIB = os.path.join(APP_DIR, "lib")
APP = "TA-trailwatch"
ACCOUNT_CONF = "ta_trailwatch_account"
REALM = ucc_realm(ACCOUNT_CONF)


@pytest.fixture(autouse=True)
def no_solnlib_retry_sleep(monkeypatch):
    """solnlib retries failed calls after 1, 2 and 4 s; the waiting is not what is tested."""
    monkeypatch.setattr(solnlib_utils, "time", types.SimpleNamespace(sleep=lambda seconds: None))


def service(double, **kwargs):
    args = dict(host=double.host, port=double.port, scheme=double.scheme, app=APP, owner="nobody")
    args.update(kwargs)
    if "username" not in args and "token" not in args:
        args["token"] = double.session_key
    return client.Service(**args)


def conf_manager(double, conf_file=ACCOUNT_CONF, **kwargs):
    return ConfManager(double.session_key, APP, realm=ucc_realm(conf_file), scheme=double.scheme,
                       host=double.host, port=double.port, **kwargs)


def raw_request(double, method, path, headers=None, body=None):
    """(status, content type, body) of a plain urllib request, no client library involved."""
    req = urllib.request.Request(double.uri + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except UrlHTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


# ------------------------------------------------------------------------------ sessions
def test_requests_without_a_session_key_get_splunkds_401(splunkd):
    status, ctype, body = raw_request(splunkd, "GET", "/services/server/info")
    assert status == 401
    assert ctype.startswith("text/xml")
    assert b'<msg type="WARN">call not properly authenticated</msg>' in body

    status, ctype, body = raw_request(splunkd, "GET", "/services/server/info?output_mode=json",
                                      headers={"Authorization": "Splunk not-a-key"})
    assert status == 401
    assert json.loads(body) == {"messages": [{"type": "WARN", "text": "call not properly authenticated"}]}


def test_splunklib_reports_a_wrong_session_key_as_an_authentication_error(splunkd):
    with pytest.raises(binding.AuthenticationError) as caught:
        service(splunkd, token="expired-key").confs[ACCOUNT_CONF]
    assert caught.value.status == 401
    assert "call not properly authenticated" in caught.value.body.decode()


def test_revoked_session_key_stops_working(splunkd):
    key = splunkd.new_session_key()
    assert service(splunkd, token=key).info["version"].startswith("9.4.")
    splunkd.revoke_session_key(key)
    with pytest.raises(binding.AuthenticationError):
        _ = service(splunkd, token=key).info


def test_login_returns_a_session_key_and_cookie_for_the_configured_user(splunkd):
    svc = client.connect(host=splunkd.host, port=splunkd.port, scheme="http",
                         username="admin", password="changeme", app=APP, owner="nobody")
    # splunklib logs in with cookie=1, then authenticates with the splunkd_<port> cookie.
    assert svc.has_cookies()
    assert svc.info["serverName"] == "splunkd-double"
    login = splunkd.find_requests("POST", "/services/auth/login$")
    assert len(login) == 1 and login[0].status == 200

    with pytest.raises(binding.AuthenticationError, match="Login failed"):
        client.connect(host=splunkd.host, port=splunkd.port, scheme="http",
                       username="admin", password="wrong")


def test_login_answers_json_when_asked(splunkd):
    body = b"username=admin&password=changeme&output_mode=json"
    status, ctype, text = raw_request(splunkd, "POST", "/services/auth/login", body=body)
    assert status == 200 and ctype.startswith("application/json")
    key = json.loads(text)["sessionKey"]
    status, _, _ = raw_request(splunkd, "GET", "/services/server/info",
                               headers={"Authorization": "Splunk " + key})
    assert status == 200


def test_bearer_and_basic_authorization_are_accepted(splunkd):
    status, _, _ = raw_request(splunkd, "GET", "/services/server/info",
                               headers={"Authorization": "Bearer " + splunkd.session_key})
    assert status == 200
    basic = service(splunkd, username="admin", password="changeme", basic=True)
    assert basic.info["version"] == "9.4.1"
    bad = service(splunkd, username="admin", password="nope", basic=True)
    with pytest.raises(binding.HTTPError) as caught:
        _ = bad.info
    assert caught.value.status == 401


# ------------------------------------------------------------------------------ server info
def test_server_info_in_atom_and_json(splunkd):
    info = service(splunkd).info
    assert info["version"] == "9.4.1"
    assert info["serverName"] == "splunkd-double"
    assert info["server_roles"] == ["indexer", "license_master", "kv_store", "search_head"]
    assert service(splunkd).splunk_version == (9, 4, 1)

    body = json.loads(service(splunkd).get("/services/server/info", output_mode="json").body.read())
    content = body["entry"][0]["content"]
    assert body["entry"][0]["name"] == "server-info"
    assert content["version"] == "9.4.1" and content["isFree"] is False

    server = ServerInfo(splunkd.session_key, scheme="http", host=splunkd.host, port=splunkd.port)
    assert server.server_name == "splunkd-double"
    assert server.version == "9.4.1"


# ------------------------------------------------------------------------------ configuration
def test_conf_stanza_create_read_update_delete_with_splunklib(splunkd):
    splunkd.create_conf("trailwatch_test")
    conf = service(splunkd).confs["trailwatch_test"]
    created = conf.create("alpha")
    assert created.name == "alpha"
    created.submit({"key1": "v1", "key2": "two words"})
    assert splunkd.stanza("trailwatch_test", "alpha") == {"key1": "v1", "key2": "two words"}

    fetched = conf["alpha"]
    assert fetched["key2"] == "two words"
    assert fetched.access.app == APP and fetched.access.owner == "nobody"
    assert fetched.content["eai:appName"] == APP

    fetched.update(key1="changed")
    fetched.refresh()
    assert fetched["key1"] == "changed"
    fetched.disable()
    assert splunkd.stanza("trailwatch_test", "alpha")["disabled"] == "1"
    assert conf["alpha"]["disabled"] == "1"
    fetched.enable()
    assert conf["alpha"]["disabled"] == "0"

    with pytest.raises(binding.HTTPError) as caught:
        conf.create("alpha")
    assert caught.value.status == 409

    conf.delete("alpha")
    assert "alpha" not in splunkd.conf("trailwatch_test")
    with pytest.raises(KeyError):
        conf["alpha"]
    with pytest.raises(KeyError):
        conf.delete("alpha")


def test_conf_listing_pages_sorts_and_filters(splunkd):
    for name in ("delta", "alpha", "Charlie", "bravo"):
        splunkd.set_stanza("trailwatch_test", name, {"colour": "red" if name in ("alpha", "delta") else "blue"})
    conf = service(splunkd).confs["trailwatch_test"]
    assert [s.name for s in conf.list()] == ["alpha", "bravo", "Charlie", "delta"]
    assert [s.name for s in conf.list(count=2, offset=1)] == ["bravo", "Charlie"]
    assert [s.name for s in conf.list(sort_dir="desc", count=1)] == ["delta"]
    assert [s.name for s in conf.list(search="colour=RED")] == ["alpha", "delta"]
    assert [s.name for s in conf.list(search="name=*rav*")] == ["bravo"]
    assert [s.name for s in conf.list(search="eai:acl.app=%s colour=blue" % APP)] == ["bravo", "Charlie"]
    assert conf.list(search="colour=green") == []
    # splunkd pages by 30 when no count is given.
    for i in range(35):
        splunkd.set_stanza("paged", "s%02d" % i, {})
    text = service(splunkd).get("configs/conf-paged").body.read().decode()
    assert text.count("<entry>") == 30
    assert "<opensearch:totalResults>35</opensearch:totalResults>" in text


def test_stanza_names_with_reserved_characters_round_trip(splunkd):
    splunkd.create_conf("props")
    conf = service(splunkd).confs["props"]
    for name in ("source::/var/log/a b.log", "with+plus", "q?x=1#frag"):
        conf.create(name).submit({"k": name})
        assert conf[name]["k"] == name
        assert conf.list(name=name)[0].name == name
        conf[name].update(k="updated")
        assert splunkd.stanza("props", name) == {"k": "updated"}
        conf.delete(name)
    assert splunkd.conf("props") == {}


def test_conf_json_output_has_splunks_entry_shape(splunkd):
    splunkd.set_stanza("trailwatch_test", "alpha", {"k": "v", "empty": ""})
    body = json.loads(service(splunkd).get("configs/conf-trailwatch_test/alpha",
                                           output_mode="json").body.read())
    entry = body["entry"][0]
    assert entry["name"] == "alpha"
    assert entry["acl"]["app"] == APP and entry["acl"]["sharing"] == "app"
    assert entry["content"]["k"] == "v" and entry["content"]["empty"] == ""
    assert entry["content"]["disabled"] is False
    assert entry["links"]["alternate"] == "/servicesNS/nobody/%s/configs/conf-trailwatch_test/alpha" % APP
    assert body["paging"] == {"total": 1, "perPage": 30, "offset": 0}


def test_missing_conf_file_and_stanza_are_404s_that_solnlib_understands(splunkd):
    with pytest.raises(ConfManagerException):
        conf_manager(splunkd).get_conf("no_such_conf")
    splunkd.create_conf(ACCOUNT_CONF)
    conf = conf_manager(splunkd).get_conf(ACCOUNT_CONF)
    with pytest.raises(ConfStanzaNotExistException):
        conf.get("absent")
    assert conf.get_all() == {}
    assert not conf.stanza_exist("absent")
    conf.reload()  # GET configs/conf-<file>/_reload
    assert splunkd.find_requests("GET", "conf-%s/_reload$" % ACCOUNT_CONF)[0].status == 200


def test_properties_endpoints_serve_files_stanzas_and_keys(splunkd):
    splunkd.set_stanza("trailwatch_test", "alpha", {"k": "v"})
    svc = service(splunkd)
    assert "trailwatch_test" in svc.confs
    assert "nothing_here" not in svc.confs
    assert svc.get("properties/trailwatch_test/alpha/k").body.read() == b"v"
    created = svc.confs.create("brand_new")
    assert created.name == "brand_new"
    assert "brand_new" in splunkd._confs[APP]
    svc.post("properties/brand_new", __stanza="s1")
    svc.post("properties/brand_new/s1", key="value")
    assert splunkd.stanza("brand_new", "s1") == {"key": "value"}


def test_stanzas_of_other_apps_stay_in_their_namespace(splunkd):
    splunkd.set_stanza("shared", "mine", {"k": "1"})
    splunkd.set_stanza("shared", "theirs", {"k": "2"}, app="other_app")
    splunkd.set_stanza("shared", "everyone", {"k": "3"}, app="system")
    ours = service(splunkd).confs["shared"]
    assert sorted(s.name for s in ours.list()) == ["everyone", "mine"]
    everything = service(splunkd, app="-").get("configs/conf-shared").body.read().decode()
    assert all("<title>%s</title>" % n in everything for n in ("mine", "theirs", "everyone"))
    # splunklib addresses an entity in its own namespace (eai:acl): this writes system's.
    ours["everyone"].update(k="via entity")
    assert splunkd.stanza("shared", "everyone", app="system") == {"k": "via entity"}
    assert "everyone" not in splunkd.conf("shared")
    # Posting in the app's namespace writes the app's own copy, which then wins in the app.
    service(splunkd).post("configs/conf-shared/everyone", k="app value")
    assert splunkd.stanza("shared", "everyone") == {"k": "app value"}
    assert splunkd.stanza("shared", "everyone", app="system") == {"k": "via entity"}
    assert ours["everyone"]["k"] == "app value"
    assert ours["everyone"].access.app == APP


def test_load_conf_dir_serves_the_built_add_ons_defaults(splunkd):
    splunkd.load_conf_dir(os.path.join(APP_DIR, "default"))
    settings = conf_manager(splunkd, "ta_trailwatch_settings").get_conf("ta_trailwatch_settings")
    assert settings.get("logging")["loglevel"] == "INFO"
    assert settings.get("proxy")["proxy_type"] == "http"


# ------------------------------------------------------------------------------ credentials
def ucc_account(secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", external_id="ext-id-123"):
    return {
        "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key": secret,
        "role_arn": "",
        "external_id": external_id,
        "partition": "aws",
        "region": "us-east-1",
    }


@pytest.mark.parametrize("chunked", [True, False], ids=["ucc8-chunked", "single-entry"])
def test_ucc_stanza_is_decrypted_by_solnlib_conf_manager(splunkd, chunked):
    long_secret = "S" * 300  # longer than one 255-character credential part
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "prod", ucc_account(secret=long_secret), chunked=chunked)
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "dev", ucc_account(external_id=""), chunked=chunked)

    stored = splunkd.stanza(ACCOUNT_CONF, "prod")
    assert stored["aws_secret_access_key"] == "******" and stored["external_id"] == "******"
    assert stored["aws_access_key_id"] == "AKIAIOSFODNN7EXAMPLE"
    users = sorted(p["username"] for p in splunkd.passwords() if p["realm"] == REALM)
    if chunked:
        assert users == sorted(["dev" + CRED_SEP + "1", "dev" + CRED_SEP + "2",
                                "prod" + CRED_SEP + "1", "prod" + CRED_SEP + "2", "prod" + CRED_SEP + "3"])
    else:
        assert users == ["dev", "prod"]

    conf = conf_manager(splunkd).get_conf(ACCOUNT_CONF)
    prod = conf.get("prod")
    assert prod["aws_secret_access_key"] == long_secret
    assert prod["external_id"] == "ext-id-123"
    assert prod["aws_access_key_id"] == "AKIAIOSFODNN7EXAMPLE"
    dev = conf.get("dev")
    assert dev["external_id"] is None  # an empty encrypted field is stored empty, not masked
    assert set(conf.get_all()) == {"dev", "prod"}
    assert splunkd.ucc_stanza(ACCOUNT_CONF, "prod")["aws_secret_access_key"] == long_secret


def test_conf_manager_update_writes_what_add_ucc_stanza_writes(splunkd):
    splunkd.create_conf(ACCOUNT_CONF)
    conf = conf_manager(splunkd).get_conf(ACCOUNT_CONF)
    conf.update("written", ucc_account(), ["aws_secret_access_key", "external_id"])
    by_solnlib = (splunkd.conf(ACCOUNT_CONF)["written"],
                  sorted((p["username"], p["clear_password"]) for p in splunkd.passwords()))
    assert splunkd.ucc_stanza(ACCOUNT_CONF, "written") == ucc_account()

    conf.delete("written")
    assert splunkd.conf(ACCOUNT_CONF) == {} and splunkd.passwords() == []
    splunkd.add_ucc_stanza(ACCOUNT_CONF, "written", ucc_account())
    by_helper = (splunkd.conf(ACCOUNT_CONF)["written"],
                 sorted((p["username"], p["clear_password"]) for p in splunkd.passwords()))
    assert by_helper == by_solnlib
    assert by_helper[1][-1] == ("written" + CRED_SEP + "2", CRED_END_MARK)


def test_credential_manager_set_get_update_delete(splunkd):
    manager = CredentialManager(splunkd.session_key, APP, realm="trailwatch_realm",
                                scheme="http", host=splunkd.host, port=splunkd.port)
    manager.set_password("bob", "first")
    assert manager.get_password("bob") == "first"
    manager.set_password("bob", "second:with:colons")  # 409 on create, then an update
    assert manager.get_password("bob") == "second:with:colons"
    assert splunkd.find_requests("POST", "storage/passwords/?$")[0].status == 201
    assert any(r.status == 409 for r in splunkd.find_requests("POST", "storage/passwords/?$"))
    manager.delete_password("bob")
    with pytest.raises(CredentialNotExistException):
        manager.get_password("bob")


def test_password_listing_filters_by_realm_and_escapes_colons(splunkd):
    splunkd.add_password("user:1", "p1", realm="realm:a")
    splunkd.add_password("user2", "p2", realm="other")
    svc = service(splunkd)
    names = [p.name for p in svc.storage_passwords.list(search="realm=realm:a")]
    assert names == ["realm\\:a:user\\:1:"]
    entry = svc.storage_passwords["realm\\:a:user\\:1:"]
    assert entry.clear_password == "p1" and entry.realm == "realm:a" and entry.username == "user:1"
    assert entry.encrypted_password.startswith("$7$") and "p1" not in entry.encrypted_password
    svc.storage_passwords.delete("user2", "other")
    assert [p["username"] for p in splunkd.passwords()] == ["user:1"]


# ------------------------------------------------------------------------------ KV store
def test_kvstore_checkpointer_round_trip(splunkd):
    checkpoint = KVStoreCheckpointer("trailwatch checkpoints", splunkd.session_key, APP,
                                     scheme="http", host=splunkd.host, port=splunkd.port)
    # solnlib creates the collection (name sanitised) with a "state" field.
    assert splunkd.kv_collections() == ["trailwatch_checkpoints"]
    assert checkpoint.get("prod/us-east-1") is None
    checkpoint.update("prod/us-east-1", {"next_token": "abc", "since": 1700000000})
    assert checkpoint.get("prod/us-east-1") == {"next_token": "abc", "since": 1700000000}
    checkpoint.batch_update([{"_key": "a", "state": [1, 2]}, {"_key": "b", "state": "x"}])
    assert checkpoint.get("a") == [1, 2] and checkpoint.get("b") == "x"
    checkpoint.update("a", 3)
    assert checkpoint.get("a") == 3
    checkpoint.delete("a")
    checkpoint.delete("a")  # deleting a missing checkpoint is not an error
    assert checkpoint.get("a") is None
    records = {r["_key"]: r for r in splunkd.kv_records("trailwatch_checkpoints")}
    assert set(records) == {"prod/us-east-1", "b"}
    assert json.loads(records["b"]["state"]) == "x" and records["b"]["_user"] == "nobody"

    # A second checkpointer finds the existing collection instead of creating it again.
    KVStoreCheckpointer("trailwatch checkpoints", splunkd.session_key, APP,
                        scheme="http", host=splunkd.host, port=splunkd.port)
    assert len(splunkd.find_requests("POST", "storage/collections/config/?$")) == 1
    config = service(splunkd).kvstore["trailwatch_checkpoints"]
    assert config.content["field.state"] == "string"


def test_splunklib_kvstore_queries(splunkd):
    svc = service(splunkd)
    svc.kvstore.create("events_seen", fields={"n": "number"})
    data = svc.kvstore["events_seen"].data
    keys = [data.insert({"name": name, "n": n, "tags": tags})["_key"]
            for name, n, tags in (("a", 1, ["x"]), ("b", 5, []), ("c", 10, ["x", "y"]), ("d", 7, ["y"]))]
    assert len(set(keys)) == 4
    names = lambda docs: [d["name"] for d in docs]  # noqa: E731
    assert names(data.query(query={"n": {"$gt": 4}}, sort="n:-1")) == ["c", "d", "b"]
    assert names(data.query(query={"$or": [{"name": "a"}, {"n": {"$gte": 10}}]}, sort="name")) == ["a", "c"]
    assert names(data.query(query={"$and": [{"n": {"$lt": 8}}, {"tags": "y"}]})) == ["d"]
    assert names(data.query(query={"name": {"$in": ["b", "d"]}}, sort="name")) == ["b", "d"]
    assert names(data.query(sort="n", skip=1, limit=2)) == ["b", "d"]
    assert data.query(query={"name": "a"}, fields="name")[0] == {"name": "a", "_key": keys[0]}
    assert data.query_by_id(keys[1])["n"] == 5
    assert data.update(keys[1], {"name": "b", "n": 6}) == {"_key": keys[1]}
    assert data.query_by_id(keys[1]) == {"name": "b", "n": 6, "_key": keys[1], "_user": "nobody"}
    assert [names(r) for r in data.batch_find({"query": {"n": 1}}, {"query": {"n": {"$gt": 6}}, "sort": "n"})] == [["a"], ["d", "c"]]
    data.delete(json.dumps({"n": {"$gte": 7}}))
    assert sorted(names(data.query())) == ["a", "b"]
    data.delete_by_id(keys[0])
    with pytest.raises(binding.HTTPError) as caught:
        data.query_by_id(keys[0])
    assert caught.value.status == 404
    with pytest.raises(binding.HTTPError) as caught:
        data.update("no-such-key", {"n": 1})
    assert caught.value.status == 404
    with pytest.raises(binding.HTTPError) as caught:
        data.query(query={"n": {"$where": "1"}})
    assert caught.value.status == 400
    data.delete()
    assert data.query() == []
    svc.kvstore.delete("events_seen")
    assert splunkd.kv_collections() == []


# ------------------------------------------------------------------------------ events, bulletins
def test_receivers_simple_stores_the_raw_body_with_its_metadata(splunkd):
    svc = service(splunkd)
    event = '{"action": "make_bucket_private", "outcome": "success"}'
    response = svc.post("/services/receivers/simple", body=event, index="trailwatch",
                        sourcetype="trailwatch:action", source="trailwatch_alert", host="sh1")
    assert b"<field k='_index'>" in response.body.read()
    assert svc.post("/services/receivers/simple", body="a=b&c=d", output_mode="json").status == 200
    first, second = splunkd.events
    assert first["raw"] == event
    assert (first["index"], first["sourcetype"], first["source"], first["host"]) == (
        "trailwatch", "trailwatch:action", "trailwatch_alert", "sh1")
    assert first["endpoint"] == "receivers/simple"
    assert second["raw"] == "a=b&c=d" and second["index"] == "main"


def test_index_submit_goes_through_receivers_simple(splunkd):
    svc = service(splunkd)
    assert "main" in [i.name for i in svc.indexes.list()]
    with pytest.raises(KeyError):
        svc.indexes["trailwatch"]
    svc.indexes.create("trailwatch")
    svc.indexes["trailwatch"].submit("audit event", sourcetype="trailwatch:action", source="tw")
    (event,) = splunkd.events
    assert (event["raw"], event["index"], event["sourcetype"]) == ("audit event", "trailwatch", "trailwatch:action")
    assert svc.indexes["trailwatch"]["totalEventCount"] == "1"


def test_system_confs_tell_where_splunkd_listens(splunkd, splunkd_https):
    for double, ssl_flag in ((splunkd, "0"), (splunkd_https, "1")):
        confs = service(double).confs
        assert confs["web"]["settings"]["mgmtHostPort"] == "127.0.0.1:%d" % double.port
        assert confs["server"]["sslConfig"]["enableSplunkdSSL"] == ssl_flag
        assert confs["server"]["general"]["serverName"] == "splunkd-double"


def test_hec_event_writer_and_token_checks(splunkd):
    writer = HECEventWriter.create_from_token_with_session_key(
        splunkd.uri, splunkd.session_key, splunkd.uri, splunkd.hec_token)
    writer.write_events([
        writer.create_event({"eventName": "ConsoleLogin"}, time=1700000000.5, index="aws",
                            sourcetype="aws:cloudtrail", source="lookup_events", host="aws"),
        writer.create_event("second"),
    ])
    first, second = splunkd.events
    assert json.loads(first["raw"]) == {"eventName": "ConsoleLogin"}
    assert (first["index"], first["sourcetype"], first["time"]) == ("aws", "aws:cloudtrail", 1700000000.5)
    assert second["raw"] == "second" and second["endpoint"] == "collector"

    status, _, body = raw_request(splunkd, "POST", "/services/collector/event",
                                  headers={"Authorization": "Splunk wrong"}, body=b'{"event": "x"}')
    assert (status, json.loads(body)["code"]) == (403, 4)
    status, _, body = raw_request(splunkd, "POST", "/services/collector/event",
                                  headers={"Authorization": "Splunk " + splunkd.hec_token},
                                  body=b'{"time": 1}')
    assert (status, json.loads(body)["code"]) == (400, 12)


def test_bulletin_messages_are_recorded(splunkd):
    bulletin = BulletinRestClient("trailwatch_account_prod", splunkd.session_key, APP,
                                  scheme="http", host=splunkd.host, port=splunkd.port)
    bulletin.create_message("TrailWatch: account prod cannot sign in to AWS.",
                            severity=BulletinRestClient.Severity.ERROR, roles=["admin"])
    assert splunkd.messages["trailwatch_account_prod"]["value"].startswith("TrailWatch: account prod")
    assert splunkd.messages["trailwatch_account_prod"]["severity"] == "error"
    assert splunkd.messages["trailwatch_account_prod"]["role"] == ["admin"]
    entry = bulletin.get_message()["entry"][0]
    assert entry["content"]["trailwatch_account_prod"].startswith("TrailWatch:")
    assert [m.value for m in service(splunkd).messages.list()] == [
        "TrailWatch: account prod cannot sign in to AWS."]
    bulletin.delete_message()
    assert splunkd.messages == {}


# ------------------------------------------------------------------------------ test API
def test_unimplemented_endpoints_answer_501_and_are_recorded(splunkd):
    splunkd.allow_unimplemented()
    with pytest.raises(binding.HTTPError) as caught:
        service(splunkd).get("saved/searches", count=5)
    assert caught.value.status == 501
    assert "does not implement GET /servicesNS/nobody/TA-trailwatch/saved/searches" in str(caught.value)
    status, _, _ = raw_request(splunkd, "PUT", "/servicesNS/nobody/%s/configs/conf-x" % APP,
                               headers={"Authorization": "Splunk " + splunkd.session_key})
    assert status == 501
    recorded = splunkd.unimplemented
    assert [(r.method, r.path) for r in recorded] == [
        ("GET", "/servicesNS/nobody/TA-trailwatch/saved/searches"),
        ("PUT", "/servicesNS/nobody/TA-trailwatch/configs/conf-x"),
    ]
    assert recorded[0].query["count"] == ["5"]
    with pytest.raises(AssertionError, match="501 GET /servicesNS/nobody/TA-trailwatch/saved/searches"):
        splunkd.assert_clean()


def test_every_request_is_logged_with_method_path_and_query(splunkd):
    service(splunkd).get("configs/conf-anything", search="x=1")
    (request,) = splunkd.requests
    assert request.method == "GET"
    assert request.path == "/servicesNS/nobody/TA-trailwatch/configs/conf-anything"
    assert request.query == {"search": ["x=1"]}
    assert request.status == 200 and request.app == APP and request.owner == "nobody"


def test_injected_faults_answer_once_then_recover(splunkd):
    splunkd.kv_create_collection("ck")
    splunkd.fail("storage/collections/data/ck", status=503,
                 message="KV Store is initializing. Please try again later.")
    data = service(splunkd).kvstore["ck"].data
    with pytest.raises(binding.HTTPError) as caught:
        data.query()
    assert caught.value.status == 503 and "KV Store is initializing" in str(caught.value)
    assert data.query() == []


def test_fixture_teardown_fails_a_test_that_hit_unimplemented_endpoints():
    # What the splunkd fixture runs after each test, outside pytest's fixture machinery.
    from splunkd_double import fixtures

    gen = fixtures._serve(https=False)
    double = next(gen)
    raw_request(double, "GET", "/services/search/jobs",
                headers={"Authorization": "Splunk " + double.session_key})
    with pytest.raises(AssertionError, match="501 GET /services/search/jobs"):
        next(gen)


# ------------------------------------------------------------------------------ https
def test_https_with_splunklib_and_solnlib(splunkd_https):
    assert splunkd_https.uri.startswith("https://127.0.0.1:")
    assert os.path.exists(splunkd_https.cert_file)
    svc = client.connect(host=splunkd_https.host, port=splunkd_https.port, scheme="https",
                         username="admin", password="changeme")
    assert svc.info["version"] == "9.4.1"
    splunkd_https.add_ucc_stanza(ACCOUNT_CONF, "prod", ucc_account())
    conf = conf_manager(splunkd_https).get_conf(ACCOUNT_CONF)
    assert conf.get("prod")["aws_secret_access_key"] == ucc_account()["aws_secret_access_key"]
    # The certificate is usable for verification by clients that want it.
    verified = ConfManager(splunkd_https.session_key, APP, realm=REALM, scheme="https",
                           host=splunkd_https.host, port=splunkd_https.port,
                           verify=splunkd_https.cert_file)
    assert verified.get_conf(ACCOUNT_CONF).get("prod")["region"] == "us-east-1"


# ------------------------------------------------------------------------------ Splunk's Pythons
SUBPROCESS_CLIENT = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from solnlib.conf_manager import ConfManager
    from solnlib.modular_input.checkpointer import KVStoreCheckpointer
    scheme, host, port, key, realm = sys.argv[3:8]
    try:
        import requests  # noqa: F401
        transport = "requests"
    except ImportError:
        transport = "splunklib"
    conf = ConfManager(key, "TA-trailwatch", realm=realm, scheme=scheme, host=host, port=int(port)).get_conf(
        "ta_trailwatch_account")
    ck = KVStoreCheckpointer("tw_ck", key, "TA-trailwatch", scheme=scheme, host=host, port=int(port))
    ck.update("k", {"n": 1})
    print(json.dumps({"secret": conf.get("prod")["aws_secret_access_key"], "ck": ck.get("k"),
                      "transport": transport, "python": sys.version_info[:2]}))
    """
)


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_double_serves_solnlib_on_splunks_pythons(splunk_python, https):
    """On Splunk's own interpreters (no `requests`), solnlib falls back to splunklib's http
    handler, which sends Connection: close; the double serves both transports."""
    with SplunkdDouble(https=https) as double:
        double.add_ucc_stanza(ACCOUNT_CONF, "prod", ucc_account())
        result = subprocess.run(
            [splunk_python, "-c", SUBPROCESS_CLIENT, APP_LIB, APP_BIN, double.scheme, double.host,
             str(double.port), double.session_key, REALM],
            capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        out = json.loads(result.stdout.strip().splitlines()[-1])
        assert out["secret"] == ucc_account()["aws_secret_access_key"]
        assert out["ck"] == {"n": 1}
        double.assert_clean()


def test_ucc_rest_endpoint_masks_unless_cred_requested(splunkd):  # noqa: F811
    """UCC's generated scripts read <restRoot>_<conf>/<stanza> (e.g. the logging level)."""
    import json as _json
    import urllib.request

    splunkd.add_ucc_stanza("ta_trailwatch_settings", "proxy",
                           {"proxy_enabled": "1", "proxy_password": "UccRest-Pass-1"},
                           encrypted=("proxy_password",))
    splunkd.set_stanza("ta_trailwatch_settings", "logging", {"loglevel": "DEBUG"})

    def get(path):
        request = urllib.request.Request(
            splunkd.uri + "/servicesNS/nobody/TA-trailwatch/" + path,
            headers={"Authorization": "Splunk " + splunkd.session_key})
        with urllib.request.urlopen(request) as response:
            return _json.loads(response.read())["entry"]

    assert get("ta_trailwatch_settings/logging?output_mode=json")[0]["content"]["loglevel"] == "DEBUG"
    masked = get("ta_trailwatch_settings/proxy?output_mode=json")[0]["content"]
    assert masked["proxy_password"] == "******"
    clear = get("ta_trailwatch_settings/proxy?output_mode=json&--cred--=1")[0]["content"]
    assert clear["proxy_password"] == "UccRest-Pass-1"
    assert [e["name"] for e in get("ta_trailwatch_settings?output_mode=json")] == ["logging", "proxy"]


def test_data_inputs_create_list_edit_delete(splunkd):  # noqa: F811
    import json as _json
    import urllib.parse
    import urllib.request

    def call(method, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(
            splunkd.uri + "/servicesNS/nobody/TA-trailwatch/data/inputs/" + path
            + "?output_mode=json", data=data, method=method,
            headers={"Authorization": "Splunk " + splunkd.session_key})
        with urllib.request.urlopen(request) as response:
            return response.status, _json.loads(response.read())

    status, _ = call("POST", "aws_s3_posture", {"name": "prod", "account": "prod",
                                                 "interval": "3600"})
    assert status == 201
    assert splunkd.stanza("inputs", "aws_s3_posture://prod") == {"account": "prod",
                                                                  "interval": "3600"}
    call("POST", "aws_s3_posture/prod", {"interval": "600"})
    _, listing = call("GET", "aws_s3_posture")
    assert [(e["name"], e["content"]["interval"]) for e in listing["entry"]] == [("prod", "600")]
    call("DELETE", "aws_s3_posture/prod")
    assert "aws_s3_posture://prod" not in splunkd.conf("inputs")
    with pytest.raises(UrlHTTPError) as err:
        call("GET", "aws_s3_posture/prod")
    assert err.value.code == 404
