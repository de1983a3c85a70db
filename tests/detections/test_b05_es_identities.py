"""B05 with Splunk Enterprise Security: identities whose Assets & Identities end date has passed
count as terminated, once the admin points `trailwatch_b05_identity_end_dates` at ES's lookup;
without ES (the shipped macro) nothing changes."""
import json
import os
import sys

from detection_cases import APP_DIR, contract_problems, replay, values

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "commands"))
from command_protocol import overlay_app  # noqa: E402

B05 = "TrailWatch - Activity performed by terminated user"
ACCOUNT = "111122223333"
# identity_lookup_expanded as ES builds it: identity is multivalue (here one value), endDate an
# epoch; mallory left on 2024-03-01T17:00:00Z, oscar leaves on 2024-03-20.
IDENTITIES = ("identity,email,first,last,startDate,endDate\n"
              "mallory,mallory@example.com,Mallory,M,1640995200,1709312400\n"
              "oscar,oscar@example.com,Oscar,O,1640995200,1710892800\n"
              "erin,erin@example.com,Erin,E,1640995200,03/02/2024 00:00\n")


def _call(event_id, user, when="2024-03-10T09:00:00Z"):
    return {"eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDA" + user.upper().ljust(16, "X"),
                             "arn": "arn:aws:iam::%s:user/%s" % (ACCOUNT, user), "accountId": ACCOUNT,
                             "accessKeyId": "AKIA" + user.upper().ljust(16, "Q"), "userName": user},
            "eventTime": when, "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
            "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.7", "userAgent": "aws-cli/2.15.0",
            "requestParameters": {"maxResults": 100}, "responseElements": None,
            "requestID": "req-" + event_id, "eventID": event_id, "readOnly": True,
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
            "eventCategory": "Management"}


def _app(tmp_path, es):
    app = overlay_app(tmp_path / "app", {"identity_lookup_expanded.csv": IDENTITIES})
    if es:
        local = os.path.join(app, "local")
        os.makedirs(local)
        with open(os.path.join(local, "macros.conf"), "w") as handle:
            handle.write("[trailwatch_b05_identity_end_dates]\n"
                         "definition = `trailwatch_b05_identity_end_dates_es`\n")
        with open(os.path.join(local, "transforms.conf"), "w") as handle:
            handle.write("[identity_lookup_expanded]\nfilename = identity_lookup_expanded.csv\n")
    return app


def _run(tmp_path, es):
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": [
        _call("e-mallory", "mallory"), _call("e-oscar", "oscar"), _call("e-erin", "erin"),
        _call("e-alice", "alice")]}))
    return replay(str(events), [B05], app=_app(tmp_path, es), state=str(tmp_path / "state"))


def test_es_end_dates_count_as_terminated(tmp_path):
    rows = _run(tmp_path, es=True)
    by_user = {r["user"]: r for r in rows}
    # mallory (epoch end date) and erin (ES's date format) left before the calls; oscar has not
    # left yet; alice is not an ES identity
    assert sorted(by_user) == ["erin", "mallory"]
    row = by_user["mallory"]
    assert not contract_problems(row)
    assert any("Enterprise Security identity end date" in r for r in values(row["reason"])), row
    assert row["severity"] == "high"  # a read-only call; writes are critical


def test_without_es_the_shipped_macro_changes_nothing(tmp_path):
    assert _run(tmp_path, es=False) == []


def test_the_shipped_macro_needs_no_es_lookup():
    with open(os.path.join(APP_DIR, "default", "macros.conf")) as handle:
        text = handle.read()
    shipped = text.split("[trailwatch_b05_identity_end_dates]\n", 1)[1].split("\n", 1)[0]
    assert shipped == "definition = eval term_es=null()"
    assert not os.path.exists(os.path.join(APP_DIR, "lookups", "identity_lookup_expanded.csv"))
