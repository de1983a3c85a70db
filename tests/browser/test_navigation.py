"""The app's navigation and workflow actions, read from the built add-on."""
import configparser
import os
import re
import sys
import xml.etree.ElementTree as ET

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from trailwatch_demo.dashboards import views  # noqa: E402
from splreplay.runner import Replay  # noqa: E402

from addon import APP_DIR  # noqa: E402

UI = os.path.join(APP_DIR, "default", "data", "ui")


def read_conf(name):
    conf = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    conf.optionxform = str
    with open(os.path.join(APP_DIR, "default", name), encoding="utf-8") as handle:
        conf.read_string(handle.read())
    return conf


def test_navigation_lists_every_dashboard_and_keeps_ucc_pages():
    nav = ET.parse(os.path.join(UI, "nav", "default.xml")).getroot()
    listed = [v.get("name") for v in nav.iter("view")]
    shipped = {name[:-4] for name in os.listdir(os.path.join(UI, "views"))}
    assert set(views(APP_DIR)) <= set(listed)
    for name in listed:
        assert name in shipped or name == "search", "nav lists a view the app lacks: " + name
    for page in ("inputs", "configuration", "dashboard"):
        assert page in listed and page in shipped
    defaults = [v.get("name") for v in nav.iter("view") if v.get("default") == "true"]
    assert defaults == ["trailwatch_overview"]
    labels = [c.get("label") for c in nav.iter("collection")]
    assert labels == ["Dashboards", "Detections", "Lookups", "Configuration"]
    detections = nav.find("collection[@label='Detections']/saved")
    assert detections is not None and detections.get("match") == "TrailWatch - "


def test_workflow_action_tokens_are_required_fields():
    """Settings and values are checked against workflow_actions.conf.spec by the build's
    confcheck; here: every $field$ a label, link or search uses is a field the action requires
    (Splunk offers the action only on events that have them) and the eventtypes exist."""
    conf = read_conf("workflow_actions.conf")
    eventtypes = read_conf("eventtypes.conf")
    assert len(conf.sections()) >= 5
    for name in conf.sections():
        stanza = conf[name]
        assert stanza["type"] in ("link", "search"), name
        required = {f.strip() for f in re.split(r"[,\s]+", stanza["fields"]) if f.strip()}
        text = " ".join(stanza.get(k, "") for k in ("label", "link.uri", "search.search_string"))
        for token in re.findall(r"\$([^$]+)\$", text):
            assert token in required, "%s uses $%s$ without requiring the field" % (name, token)
        for eventtype in re.split(r"[,\s]+", stanza.get("eventtypes", "")):
            assert not eventtype or eventtype in eventtypes.sections(), (name, eventtype)
        if stanza["type"] == "search":
            assert stanza["search.app"] == "TA-trailwatch", name


@pytest.mark.parametrize("stanza, field", [("trailwatch_cloudtrail_user_activity", "tw_user"),
                                           ("trailwatch_alert_user_activity", "user")])
def test_user_activity_actions_find_exactly_that_users_cloudtrail_events(stanza, field):
    """The search a click runs, with the clicked value substituted, over two users' events."""
    search = read_conf("workflow_actions.conf")[stanza]["search.search_string"]
    replay = Replay(APP_DIR, warn=lambda message: None)
    identity = {"type": "IAMUser", "accountId": "111111111111", "userName": "alice",
                "arn": "arn:aws:iam::111111111111:user/alice", "principalId": "AIDAALICE"}
    other = dict(identity, userName="bob", arn="arn:aws:iam::111111111111:user/bob")
    records = [{"eventVersion": "1.09", "eventTime": "2024-06-03T09:00:%02dZ" % n,
                "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
                "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.10",
                "eventID": "id-%d" % n, "recipientAccountId": "111111111111",
                "userIdentity": identity if n % 2 else other} for n in range(6)]
    events = replay.events_from_records(records)
    rows = replay.spl(search.replace("$%s$" % field, "alice"), events)
    assert sorted(r["eventID"] for r in rows) == ["id-1", "id-3", "id-5"]
