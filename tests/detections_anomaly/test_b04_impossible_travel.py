"""B04 Impossible travel: replay cases (baselines are not needed; travel pairs logins)."""
import pytest

from anomaly_replay import (BERLIN, CORP_VPN, LYON, NEW_YORK, PARIS, SYDNEY, TOR, Scenario,
                            epoch, login, record)

SEARCH = "TrailWatch - Impossible travel"
T0 = epoch("2024-03-05T08:00:00Z")
NOW = T0 + 86400

POSITIVE = {
    "paris_then_new_york_in_2h": [login(T0, ip=PARIS), login(T0 + 7200, ip=NEW_YORK)],
    "sydney_then_berlin_in_5h": [login(T0, "bob", SYDNEY), login(T0 + 5 * 3600, "bob", BERLIN)],
    "federation_then_console": [
        record(T0, "AssumeRoleWithSAML", "sts.amazonaws.com", ip=NEW_YORK, resp={"credentials": {"accessKeyId": "ASIAX"}}),
        login(T0 + 1800, ip=PARIS)],
    "three_logins_last_hop_impossible": [login(T0, ip=PARIS), login(T0 + 3 * 3600, ip=LYON),
                                         login(T0 + 4 * 3600, ip=SYDNEY)],
}
NEGATIVE = {
    "same_ip_twice": [login(T0, ip=NEW_YORK), login(T0 + 60, ip=NEW_YORK)],
    "possible_paris_to_lyon_in_1h": [login(T0, ip=PARIS), login(T0 + 3600, ip=LYON)],
    "slow_paris_to_new_york_in_10h": [login(T0, ip=PARIS), login(T0 + 10 * 3600, ip=NEW_YORK)],
    "through_corporate_vpn": [login(T0, ip=PARIS), login(T0 + 1800, ip=CORP_VPN)],
    "through_tor_relay": [login(T0, ip=NEW_YORK), login(T0 + 600, ip=TOR)],
    "failed_login_far_away": [login(T0, ip=PARIS), login(T0 + 600, ip=SYDNEY, ok=False)],
    "different_users": [login(T0, "carol", PARIS), login(T0 + 600, "dave", SYDNEY)],
    "aws_internal_source": [login(T0, ip=PARIS), login(T0 + 600, ip="AWS Internal")],
}


@pytest.mark.parametrize("case", sorted(POSITIVE))
def test_alerts(tmp_path, case):
    rows = Scenario(tmp_path).run(SEARCH, POSITIVE[case], NOW)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["policy_id"] == "B04" and row["policy"] == "Impossible travel"
    assert row["from_ip"] != row["to_ip"] and float(row["speed_kmh"]) > 900
    assert row["severity"] in ("medium", "high") and row["description"]


@pytest.mark.parametrize("case", sorted(NEGATIVE))
def test_quiet(tmp_path, case):
    assert Scenario(tmp_path).run(SEARCH, NEGATIVE[case], NOW) == []


def test_alert_fields_name_both_ends(tmp_path):
    rows = Scenario(tmp_path).run(SEARCH, POSITIVE["paris_then_new_york_in_2h"], NOW)
    row = rows[0]
    assert (row["from_city"], row["from_country"], row["to_city"], row["to_country"]) == (
        "Paris", "France", "New York", "United States")
    assert row["user"] == "alice" and row["aws_account_id"] == "111122223333"
    assert row["first_seen"].startswith("2024-03-05T08:00:00") and row["severity"] == "high"
    assert "Paris, France (203.0.113.10) and then from New York" in row["description"]
