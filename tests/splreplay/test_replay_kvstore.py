"""KV store lookups in splreplay (tools/splreplay/kvstore.py): lookup, inputlookup and
outputlookup on collections kept in the --state folder, and the loopback KV store REST
endpoint Python commands read."""
import json
import urllib.error
import urllib.request

import pytest
from replay_helpers import bare_app

from splreplay.kvstore import SESSION_KEY, KvStore, seed_lookups, serve
from splreplay.runner import Replay

TRANSFORMS = (
    "[owners]\nexternal_type = kvstore\ncollection = owners_c\nfields_list = _key, pattern, owner\n"
    "match_type = WILDCARD(pattern)\nmax_matches = 1\n\n"
    "[notes]\nexternal_type = kvstore\ncollection = notes_c\nfields_list = user, note\n\n"
    "[loose]\nexternal_type = kvstore\ncollection = loose_c\nfields_list = who, n\n"
    "case_sensitive_match = false\n")


def replay(state):
    return Replay(bare_app(transforms=TRANSFORMS), state_dir=str(state), warn=lambda m: None)


def test_outputlookup_replaces_and_appends_and_inputlookup_reads_back(tmp_path):
    r = replay(tmp_path)
    r.spl('| makeresults count=2 | streamstats count AS n | eval user="u" . n, note=if(n=1, '
          'split("a b", " "), "c") | table user note | outputlookup notes', [])
    docs = json.loads((tmp_path / "kvstore" / "notes_c.json").read_text())
    assert [d["user"] for d in docs] == ["u1", "u2"] and all(d["_key"] for d in docs)
    assert r.spl("| inputlookup notes", []) == [{"user": "u1", "note": ["a", "b"]},
                                                 {"user": "u2", "note": "c"}]
    r.spl('| makeresults | eval user="u3", note="d" | table user note | outputlookup append=true notes', [])
    assert [x["user"] for x in r.spl("| inputlookup notes", [])] == ["u1", "u2", "u3"]
    r.spl('| makeresults | eval user="only" | table user | outputlookup notes', [])
    assert r.spl("| inputlookup notes", []) == [{"user": "only"}]
    # a new run (a new search) sees what the last one wrote: the state outlives the run
    assert replay(tmp_path).spl("| inputlookup notes", []) == [{"user": "only"}]


def test_rows_keep_their_key_and_lookup_matches_wildcards_case_sensitively(tmp_path):
    KvStore(str(tmp_path)).write("owners_c", [{"pattern": "prod-*", "owner": "platform"},
                                              {"pattern": "*-logs", "owner": "security"}], append=False)
    r = replay(tmp_path)
    rows = r.spl("| inputlookup owners", [])
    assert [x["owner"] for x in rows] == ["platform", "security"] and all("_key" in x for x in rows)
    events = r.events_from_records([{"eventTime": "2024-01-01T00:00:00Z", "b": b}
                                    for b in ("prod-db", "app-logs", "PROD-db")])
    got = r.spl("* | lookup owners pattern AS b OUTPUT owner | table b owner", events)
    assert {x["b"]: x.get("owner") for x in got} == {"prod-db": "platform", "app-logs": "security",
                                                      "PROD-db": None}
    # rows written back with their _key replace those documents, not add to them
    r.spl('| inputlookup owners | eval owner=upper(owner) | outputlookup append=true owners', [])
    assert sorted(x["owner"] for x in r.spl("| inputlookup owners", [])) == ["PLATFORM", "SECURITY"]


def test_case_insensitive_kv_lookup_matches_only_rows_stored_in_lower_case(tmp_path):
    """transforms.conf.spec: case_sensitive_match = false on a KV store lookup is honoured only
    when the stored data is in lower case; the input may be in any case."""
    KvStore(str(tmp_path)).write("loose_c", [{"who": "alice", "n": "1"}, {"who": "Bob", "n": "2"}],
                                 append=False)
    r = replay(tmp_path)
    events = r.events_from_records([{"eventTime": "2024-01-01T00:00:00Z", "u": u}
                                    for u in ("ALICE", "alice", "Bob", "bob")])
    got = r.spl("* | lookup loose who AS u OUTPUT n | table u n", events)
    assert {x["u"]: x.get("n") for x in got} == {"ALICE": "1", "alice": "1", "Bob": None, "bob": None}


def test_seed_lookups_fills_collections_and_leaves_csv_files(tmp_path):
    app = bare_app(transforms=TRANSFORMS)
    seed_lookups(app, str(tmp_path), {"owners.csv": "pattern,owner\nx-*,me\n",
                                      "plain.csv": "a,b\n1,2\n"})
    assert [d["owner"] for d in KvStore(str(tmp_path)).documents("owners_c")] == ["me"]
    assert (tmp_path / "lookups" / "plain.csv").read_text() == "a,b\n1,2\n"
    assert not (tmp_path / "lookups" / "owners.csv").exists()


def test_rest_endpoint_serves_collections_to_commands(tmp_path):
    store = KvStore(str(tmp_path))
    store.write("c", [{"n": str(i)} for i in range(5)], append=False)
    server = serve(store)
    try:
        def get(path, key=SESSION_KEY):
            req = urllib.request.Request(server.uri + path, headers={"Authorization": "Splunk " + key})
            with urllib.request.urlopen(req, timeout=10) as answer:
                return json.loads(answer.read())
        base = "/servicesNS/nobody/TA-trailwatch/storage/collections/data/c"
        assert [d["n"] for d in get(base + "?output_mode=json")] == ["0", "1", "2", "3", "4"]
        assert [d["n"] for d in get(base + "?skip=3&limit=10")] == ["3", "4"]
        assert get("/servicesNS/nobody/TA-trailwatch/storage/collections/data/none") == []
        with pytest.raises(urllib.error.HTTPError) as denied:
            get(base, key="wrong")
        assert denied.value.code == 401
        with pytest.raises(urllib.error.HTTPError) as unmodelled:
            get(base + '?query={"n":"1"}')
        assert unmodelled.value.code == 501
    finally:
        server.close()
