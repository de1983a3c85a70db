"""Upgrading from the previous release keeps every admin row and everything the add-on learned.

The previous release (splunk_apps.PREVIOUS_RELEASE) is built from git history with its own
build.sh and installed in a fake $SPLUNK_HOME/etc/apps; an admin fills every list it has and
the baseline and support searches learn (the replay evaluator runs them; in that release
outputlookup writes the app's lookups/, as Splunk's does). This release's package is then
installed over it with Splunk's install semantics, the migration searches of docs/upgrade.md
run, and every row must be where this release reads it, and the detections must use it.
The same check reports the rows lost when a package ships the tuned files
(test_a_release_that_ships_the_tuned_files_loses_them).
"""
import collections
import csv
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for extra in (HERE, os.path.join(TESTS, "detections_anomaly")):
    if extra not in sys.path:
        sys.path.insert(0, extra)

from addon import ROOT  # noqa: E402
from anomaly_replay import ACCOUNT, record  # noqa: E402
from splunk_apps import PREVIOUS_RELEASE, build_release, current_package, install  # noqa: E402
from splreplay.conf import load_conf  # noqa: E402
from splreplay.mmdb_writer import city, write_mmdb  # noqa: E402
from splreplay.runner import Replay  # noqa: E402
from twcontent.model import load_all, with_summaries  # noqa: E402
from splunkd_double import SplunkdDouble  # noqa: E402

PARIS, SYDNEY = "203.0.113.10", "198.51.100.10"
PLACES = {"203.0.113.0/26": city("Paris", "France", "FR", 48.8566, 2.3522),
          "198.51.100.0/25": city("Sydney", "Australia", "AU", -33.8688, 151.2093, continent="Oceania")}
DAY = 86400
NOW = 1709712000  # 2024-03-06T08:00:00Z
RISKY_IP = "198.51.100.7"
COLLECTOR_ARN = "arn:aws:sts::%s:assumed-role/TrailWatchReader/trailwatch-input" % ACCOUNT

# What an admin put in every list the previous release had, as rows of its lookups/*.csv.
ADMIN_ROWS = {
    "trailwatch_allowlist": [
        {"policy_id": "B05", "user": "trent", "target": "*", "aws_account_id": "*",
         "reason": "rehired contractor"}],
    "trailwatch_terminated_users": [
        {"iam_user": "mallory", "terminated_at": "2024-03-01T00:00:00Z", "source": "HR", "note": "left"},
        {"iam_user": "trent", "terminated_at": "2024-03-01T00:00:00Z", "source": "HR", "note": "left"},
        {"email": "Frank@Example.com", "terminated_at": "2024-03-01T00:00:00Z", "source": "HR",
         "note": "left"},
        {"access_key_id": "AKIAOLDKEY0000000001", "terminated_at": "2024-03-01T00:00:00Z",
         "source": "manual", "note": "key of a leaver"}],
    "trailwatch_ip_ranges": [
        {"range": "198.51.100.0/24", "category": "risky", "list": "pentest", "provider": "Example",
         "description": "red team egress"}],
    "trailwatch_protected_principals": [
        {"aws_account_id": ACCOUNT, "principal": "arn:aws:iam::%s:user/payments" % ACCOUNT,
         "reason": "payment service account"}],
    "trailwatch_protected_buckets": [
        {"aws_account_id": ACCOUNT, "bucket_name": "payments-archive", "protection": "protected",
         "reason": "payment records"}],
    "trailwatch_collector_identities": [
        {"principal_arn": "arn:aws:sts::%s:assumed-role/TrailWatchReader/*" % ACCOUNT,
         "reason": "TrailWatch collector"}],
    "trailwatch_trail_buckets": [
        {"bucket_name": "org-trail-archive", "aws_account_id": ACCOUNT, "reason": "organisation trail"}],
    "trailwatch_public_route_tables": [
        {"route_table_id": "rtb-0123456789abcdef0", "aws_account_id": ACCOUNT, "reason": "public subnets"}],
}
# What the previous release's searches learned (outputlookup targets), checked for rows.
LEARNED = ("trailwatch_baseline_user_activity", "trailwatch_baseline_user_countries",
           "trailwatch_baseline_user_actions", "trailwatch_baseline_account_instance_types",
           "trailwatch_baseline_hourly_counts", "trailwatch_baseline_hourly_profile",
           "trailwatch_baseline_account_regions", "trailwatch_baseline_accounts")
TABLES = tuple(ADMIN_ROWS) + LEARNED + ("trailwatch_s3_posture_latest",)
BASELINES = ("User activity", "User countries", "User admin actions", "Account instance types",
             "Hourly counts", "Account regions")


def login(t, user="alice", ip=PARIS, identity=None):
    """A successful console sign-in."""
    return record(t, "ConsoleLogin", "signin.amazonaws.com", user=user, ip=ip, identity=identity,
                  resp={"ConsoleLogin": "Success"},
                  extra={"eventType": "AwsConsoleSignIn", "readOnly": False,
                         "additionalEventData": {"MFAUsed": "Yes"}})


def sso_identity(person):
    """An IAM Identity Center session whose session name is ``person``."""
    role = "AWSReservedSSO_Admin_0123456789abcdef"
    return {"type": "AssumedRole", "principalId": "AROAEXAMPLE:" + person, "accountId": ACCOUNT,
            "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT, role, person),
            "accessKeyId": "ASIA" + "Z" * 16,
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                               "arn": "arn:aws:iam::%s:role/aws-reserved/sso.amazonaws.com/%s"
                                      % (ACCOUNT, role)}}}


def history():
    """Twenty days of ordinary activity: alice signs in from Paris, launches an instance in
    us-east-1 and changes an IAM policy every day."""
    out = []
    for day in range(20, 0, -1):
        t = NOW - day * DAY
        out.append(login(t, "alice", PARIS))
        out.append(record(t + 60, "RunInstances", "ec2.amazonaws.com", req={"instanceType": "t3.micro"},
                          resp={"instancesSet": {"items": [{"instanceId": "i-%08d" % day,
                                                            "instanceType": "t3.micro"}]}}))
        out.append(record(t + 120, "PutUserPolicy", "iam.amazonaws.com",
                          req={"userName": "bob", "policyName": "p"}))
    return out


def table_rows(app_dir, state_dir, name):
    """The rows of a list or table where the installed release reads it: its KV store lookup
    (this release) or lookups/<name>.csv (the previous one)."""
    settings = load_conf(app_dir, "transforms").get(name) or {}
    query = "| inputlookup %s" % (name if settings.get("collection") else name + ".csv")
    rows = Replay(app_dir, state_dir=state_dir, warn=lambda m: None).spl(query, [])
    return [{k: v for k, v in row.items() if k != "_key"} for row in rows]


# The migration stores the identity columns of the terminated users in lower case (the KV
# store lookup matches them in any case only then).
LOWERED = {"trailwatch_terminated_users": ("iam_user", "sso_user", "email", "access_key_id")}


def as_migrated(name, row):
    return {k: (v.lower() if k in LOWERED.get(name, ()) and isinstance(v, str) else v)
            for k, v in row.items()}


def lost_rows(before, app_dir, state_dir, migrated=False):
    """{table: [rows of ``before`` no longer where ``app_dir`` reads them]} (``migrated``:
    as the migration searches store them)."""
    lost = {}
    for name, rows in before.items():
        if migrated:
            rows = [as_migrated(name, r) for r in rows]
        try:
            now = collections.Counter(_frozen(r) for r in table_rows(app_dir, state_dir, name))
        except Exception as exc:  # a table the release cannot read at all: every row is lost
            now, rows = collections.Counter(), rows + [{"error": str(exc)}]
        missing = [r for r in rows if now[_frozen(r)] < 1]
        if missing:
            lost[name] = missing
    return lost


def _frozen(row):
    return tuple(sorted((k, str(v)) for k, v in row.items() if v not in (None, "")))


def tune_and_learn(app_dir, geoip):
    """The admin's rows appended to the previous release's lookups/*.csv, a local/ setting,
    and what its baseline searches learn over history(); returns every table's rows."""
    for name, rows in ADMIN_ROWS.items():
        path = os.path.join(app_dir, "lookups", name + ".csv")
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        with open(path, "a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, header).writerows(rows)
    os.makedirs(os.path.join(app_dir, "local"), exist_ok=True)
    with open(os.path.join(app_dir, "local", "macros.conf"), "w") as handle:
        handle.write("[trailwatch_b_learning_days]\ndefinition = 7\n")
    # In the previous release outputlookup writes the app's own lookups/: the state folder
    # is the app folder.
    # The previous release's savedsearches.conf carries a key the spec lacks (is_scheduled,
    # which Splunk ignores with a warning and today's evaluator refuses): run its SPL as is.
    replay = Replay(app_dir, state_dir=app_dir, geoip=geoip, warn=lambda m: None)
    events = replay.events_from_records(history())
    searches = load_conf(app_dir, "savedsearches")
    for name in BASELINES:
        name = "TrailWatch - Baseline - " + name
        replay.compile(searches.get(name)["search"], name, NOW - 3600).run(events)
    before = {name: table_rows(app_dir, app_dir, name) for name in TABLES}
    for name in ADMIN_ROWS:
        assert [r for r in ADMIN_ROWS[name] if _frozen(r) not in map(_frozen, before[name])] == []
    for name in LEARNED:
        assert before[name], "the previous release learned nothing in %s" % name
    return before


def migration_searches():
    """The searches docs/upgrade.md tells admins to run after the upgrade."""
    with open(os.path.join(ROOT, "docs", "upgrade.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = re.search(r"```spl\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def previous_package(tmp_path_factory):
    return build_release(PREVIOUS_RELEASE, str(tmp_path_factory.mktemp("previous-release")))


@pytest.fixture
def geoip(tmp_path):
    return write_mmdb(str(tmp_path / "city.mmdb"), PLACES)


@pytest.fixture
def splunk_home(tmp_path):
    apps = tmp_path / "etc" / "apps"
    apps.mkdir(parents=True)
    kvstore = tmp_path / "var" / "lib" / "splunk" / "kvstore"  # outlives app installs
    kvstore.mkdir(parents=True)
    return str(apps), str(kvstore)


def test_upgrade_keeps_every_row_and_the_detections_use_them(previous_package, splunk_home, geoip):
    apps, kvstore = splunk_home
    app = install(previous_package, apps)
    assert os.path.isfile(os.path.join(app, "lookups", "trailwatch_allowlist.csv"))  # the old layout
    before = tune_and_learn(app, geoip)

    install(current_package(), apps)
    assert os.path.isfile(os.path.join(app, "local", "macros.conf"))  # local/ stays
    replay = Replay(app, state_dir=kvstore, geoip=geoip, warn=lambda m: None)
    searches = migration_searches()
    migrated = {re.search(r"outputlookup append=true (\w+)$", s).group(1) for s in searches}
    assert migrated == set(TABLES)  # a migration search for every list and table
    for search in searches:
        replay.spl(search, [])
    assert lost_rows(before, app, kvstore, migrated=True) == {}

    # Another upgrade (here: the same package again) leaves the KV store alone.
    install(current_package(), apps)
    assert lost_rows(before, app, kvstore, migrated=True) == {}

    replay = Replay(app, state_dir=kvstore, geoip=geoip, warn=lambda m: None)

    def run(search, records, now=NOW):
        # the summary searches it reads run first, over the same records
        return replay.run_saved(with_summaries([search], load_all()),
                                replay.events_from_records(records), now)

    # terminated users and the allowlist (B05)
    t = NOW - 600
    rows = run("TrailWatch - Activity performed by terminated user", [
        record(t, "PutObject", "s3.amazonaws.com", user="mallory", req={"bucketName": "b"}),
        record(t, "PutObject", "s3.amazonaws.com", user="trent", req={"bucketName": "b"}),
        login(t, identity=sso_identity("Frank@Example.com")),
        record(t, "ListBuckets", "s3.amazonaws.com", user="ci", extra={"userIdentity": {
            "type": "IAMUser", "userName": "ci", "accountId": ACCOUNT, "principalId": "AIDACI",
            "arn": "arn:aws:iam::%s:user/ci" % ACCOUNT, "accessKeyId": "AKIAOLDKEY0000000001"}})])
    assert sorted(r["user"] for r in rows) == ["Frank@Example.com", "ci", "mallory"], rows
    # the admin's IP ranges, read by trailwatchipclass through the KV store REST API (A05)
    rows = run("TrailWatch - Logon from a risky IP address", [login(t, "alice", RISKY_IP)])
    assert [r["src_ip"] for r in rows] == [RISKY_IP], rows
    # the collector identity, through the automatic lookup of [aws:cloudtrail]
    own = record(t, "ListBuckets", "s3.amazonaws.com", identity={
        "type": "AssumedRole", "arn": COLLECTOR_ARN, "accountId": ACCOUNT, "principalId": "AROAX:x"})
    marked = replay.spl("`trailwatch_cloudtrail` | table tw_collector_reason",
                        replay.events_from_records([own]))
    assert marked[0].get("tw_collector_reason") == "TrailWatch collector"
    # the learned account regions (B11): us-east-1 is known, ap-southeast-2 is new
    launch = lambda region: record(t, "RunInstances", "ec2.amazonaws.com", region=region,  # noqa: E731
                                   req={"instanceType": "t3.micro", "minCount": 1, "maxCount": 1},
                                   resp={"instancesSet": {"items": [{"instanceId": "i-0b11"}]}})
    assert run("TrailWatch - Unusual region for cloud resource", [launch("us-east-1")]) == []
    rows = run("TrailWatch - Unusual region for cloud resource", [launch("ap-southeast-2")])
    assert [r["policy_id"] for r in rows] == ["B11"]
    # the learned countries and learning period (B02): Paris is known, Sydney is not
    assert run("TrailWatch - Activity from infrequent country", [login(t, "alice", PARIS)]) == []
    rows = run("TrailWatch - Activity from infrequent country", [login(t, "alice", SYDNEY)])
    assert [r["src_country"] for r in rows] == ["Australia"], rows
    # B04's last sign-ins (docs/upgrade.md): a collection the previous release did not have
    # starts empty, and B04 still pairs the sign-ins of its own window
    assert replay.spl("| inputlookup trailwatch_b04_last_signins", []) == []
    rows = run("TrailWatch - Impossible travel", [login(t - 3600, "alice", PARIS),
                                                  login(t, "alice", SYDNEY)])
    assert [(r["from_ip"], r["to_ip"]) for r in rows] == [(PARIS, SYDNEY)], rows
    # the protected lists, as the governance actions read them through splunkd's REST API
    assert_protections(app, replay.app.lookups.kvstore)


def assert_protections(app, store):
    from trailwatch.govern.alert import load_protections

    double = SplunkdDouble()
    double.start()
    try:
        double.load_conf_dir(os.path.join(app, "default"))
        for collection in ("trailwatch_protected_principals", "trailwatch_protected_buckets"):
            for doc in store.documents(collection):
                double.kv_insert(collection, doc)
        protections = load_protections(double.session_key, double.uri)
    finally:
        double.stop()
    double.assert_clean()
    assert protections.principal_entry(["arn:aws:iam::%s:user/payments" % ACCOUNT], ACCOUNT)["reason"] \
        == "payment service account"
    assert protections.bucket_entry("payments-archive", ACCOUNT)["reason"] == "payment records"
    # the shipped default rows still apply beside the admin's
    assert protections.principal_entry(["arn:aws:iam::%s:role/BreakGlassAdmin" % ACCOUNT], ACCOUNT)


def test_a_release_that_ships_the_tuned_files_loses_them(previous_package, splunk_home, geoip):
    """The previous release shipped every list as a lookups/ file: installing it again over a
    tuned installation (any upgrade of that layout) puts the shipped rows back, and the check
    the upgrade test relies on reports every admin and learned row as lost."""
    apps, _kvstore = splunk_home
    app = install(previous_package, apps)
    before = tune_and_learn(app, geoip)
    install(previous_package, apps)
    lost = lost_rows(before, app, app)
    assert set(lost) == set(ADMIN_ROWS) | set(LEARNED), sorted(lost)
    assert lost["trailwatch_allowlist"] == ADMIN_ROWS["trailwatch_allowlist"]
