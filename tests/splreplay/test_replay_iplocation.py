"""iplocation against a small MMDB generated here (documentation ranges -> chosen cities)."""
import pytest

from replay_helpers import bare_app, ev
from splreplay.errors import InputError
from splreplay.mmdb import MMDBReader
from splreplay.mmdb_writer import city, write_mmdb
from splreplay.runner import Replay


@pytest.fixture
def geoip(tmp_path):
    return write_mmdb(str(tmp_path / "test-city.mmdb"), {
        "203.0.113.0/24": city("Berlin", "Germany", "DE", 52.52, 13.405, region="Berlin"),
        "198.51.100.0/25": city("Sydney", "Australia", "AU", -33.8688, 151.2093,
                                region="New South Wales", continent="Oceania"),
        "2001:db8:1::/48": city("Lisbon", "Portugal", "PT", 38.7223, -9.1393),
    })


def test_reader_finds_ipv4_and_ipv6(geoip):
    r = MMDBReader(geoip)
    assert r.get("203.0.113.77")["city"]["names"]["en"] == "Berlin"
    assert r.get("198.51.100.1")["country"]["iso_code"] == "AU"
    assert r.get("198.51.100.200") is None
    assert r.get("2001:db8:1::99")["city"]["names"]["en"] == "Lisbon"
    assert r.get("not an ip") is None
    assert r.meta["database_type"] == "GeoLite2-City"


def test_iplocation_command(geoip):
    r = Replay(bare_app(), geoip=geoip, warn=lambda m: None)
    events = r.events_from_records([
        ev("2024-01-01T00:00:01Z", ip="203.0.113.5"), ev("2024-01-01T00:00:02Z", ip="198.51.100.9"),
        ev("2024-01-01T00:00:03Z", ip="192.0.2.1"), ev("2024-01-01T00:00:04Z", ip="AWS Internal")])
    rows = r.spl("* | iplocation ip | table ip City Country Region lat lon", events)
    # Splunk writes every iplocation field, empty for what the database does not know
    # (the evaluator used to leave them out).
    empty = {"City": "", "Country": "", "Region": "", "lat": "", "lon": ""}
    assert rows == [
        dict(ip="AWS Internal", **empty),
        dict(ip="192.0.2.1", **empty),
        {"ip": "198.51.100.9", "City": "Sydney", "Country": "Australia",
         "Region": "New South Wales", "lat": -33.8688, "lon": 151.2093},
        {"ip": "203.0.113.5", "City": "Berlin", "Country": "Germany", "Region": "Berlin",
         "lat": 52.52, "lon": 13.405},
    ]
    rows = r.spl("* | iplocation prefix=src_ allfields=true ip | where src_City!=\"\" "
                 "| table src_Continent src_Timezone", events)
    assert rows[0] == {"src_Continent": "Oceania", "src_Timezone": "UTC"}


def test_fixture_baseline_search_with_geoip_and_state(geoip, tmp_path):
    import cloudtrail_samples
    from replay_helpers import FIXTURE_APP
    r = Replay(FIXTURE_APP, state_dir=str(tmp_path), geoip=geoip, warn=lambda m: None)
    events = r.events_from_records(cloudtrail_samples.scenario())
    r.compile_saved("TW Test - Build user country baseline", 0).run(events)
    rows = r.spl("| inputlookup tw_user_countries | table user country", [])
    assert {"user": "root", "country": "Germany"} in rows
    assert {"user": "alice", "country": "France"} in rows  # kept from the shipped lookup


def test_iplocation_without_a_database_locates_nothing_and_warns():
    warnings = []
    r = Replay(bare_app(), warn=warnings.append)
    rows = r.spl("| makeresults | eval ip=\"198.51.100.7\" | iplocation ip | table ip City Country",
                 [])
    assert rows == [{"ip": "198.51.100.7", "City": "", "Country": ""}]
    assert len(warnings) == 1 and "no --geoip database given" in warnings[0]


def test_not_an_mmdb(tmp_path):
    p = tmp_path / "x.mmdb"
    p.write_bytes(b"nothing here")
    with pytest.raises(InputError, match="not a MaxMind DB"):
        MMDBReader(str(p))
