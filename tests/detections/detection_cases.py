"""Running the detections over their labelled cases, and judging the results.

A case file is a CloudTrail log file with one more key, `case`, which replay ignores:

    {"case": {"about": "...", "expect": [ {field: value, ...}, ... ]}, "Records": [...]}

`expect` lists the alerts (result rows) the case's records must produce, nothing else: an
empty list labels a negative case. A row belongs to the case whose records' eventIDs it
lists in `event_ids`; one row may not mix records of two cases. In an expected alert:
- `field: "text"` the row's field has exactly this single value;
- `field: ["a", "b"]` the row's field has exactly these values (any order);
- `field: null` the row has no such field;
- `_description_has: [...]` each text appears in the description;
- `_reason_has: [...]` each text appears in one of the reason values.
"""
import glob
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
APP_DIR = os.path.join(ROOT, "output", "TA-trailwatch")
TOOLS = os.path.join(ROOT, "tools")

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
from twcontent.model import load_all  # noqa: E402

CONTENT = load_all()
BY_NAME = {d.name: d for d in CONTENT}
# policy id -> (folder under detections/, saved search), for the activity and file policies
# (A01-A10, C01) whose cases are CloudTrail log files replayed together
POLICIES = {d.policy_id: (d.folder, d.name) for d in CONTENT
            if d.kind == "detection" and d.policy_id[0] in "AC"}

# Support searches keeping the lookups these detections read.
SUPPORT = ("TrailWatch - Support - Latest S3 posture", "TrailWatch - Support - Trail buckets",
           "TrailWatch - Support - Public route tables")
# Shared macros and lookups of this suite (besides the trailwatch_<id>_* macros).
SHARED_MACROS = ("trailwatch_cloudtrail", "trailwatch_s3_posture", "trailwatch_success",
                 "trailwatch_not_noise", "trailwatch_activity", "trailwatch_dedup_events",
                 "trailwatch_src_country", "trailwatch_alert_stats", "trailwatch_alert_fields",
                 "trailwatch_allowlist", "trailwatch_alert_table")
LOOKUPS = ("trailwatch_collector_identities", "trailwatch_allowlist", "trailwatch_trail_buckets",
           "trailwatch_privileged_policies", "trailwatch_public_route_tables",
           "trailwatch_s3_posture_latest", "trailwatch_protected_buckets")

# Alert fields every result must carry (docs/detections.md, "Alert fields"); src_ip, src_country,
# event_names and user_arn are left out: not every alert has them (posture snapshots, failed
# sign-ins, private or AWS Internal addresses).
REQUIRED_FIELDS = ("policy_id", "policy", "severity", "description", "user", "user_type",
                   "aws_account_id", "region", "count", "first_seen", "last_seen",
                   "mitre_attack_id", "risk_object", "risk_object_type", "risk_score")
SEVERITIES = ("informational", "low", "medium", "high", "critical")


def policy_dir(policy_id):
    return POLICIES[policy_id][0]


def load_cases(policy_id):
    """[(name, case dict, records)] of a policy, sorted by file name."""
    out = []
    for path in sorted(glob.glob(os.path.join(policy_dir(policy_id), "cases", "*.json"))):
        with open(path) as handle:
            doc = json.load(handle)
        name = os.path.splitext(os.path.basename(path))[0]
        out.append((name, doc["case"], doc["Records"]))
    return out


def write_geoip(path):
    sys.path.insert(0, os.path.join(TESTS, "splreplay"))
    try:
        from mmdb_writer import city, write_mmdb
    finally:
        sys.path.pop(0)
    return write_mmdb(path, {
        "203.0.113.0/24": city("Berlin", "Germany", "DE", 52.52, 13.40),
        "198.51.100.0/24": city("Sao Paulo", "Brazil", "BR", -23.55, -46.63, continent="South America"),
        "192.0.2.0/24": city("Seattle", "United States", "US", 47.61, -122.33, continent="North America"),
        "2001:db8::/32": city("Tokyo", "Japan", "JP", 35.68, 139.69, continent="Asia"),
    })


def app_with_lookups(policy_id, work):
    """The built add-on, with the policy folder's lookups/ replacing the shipped ones."""
    overrides = sorted(glob.glob(os.path.join(policy_dir(policy_id), "lookups", "*.csv")))
    if not overrides:
        return APP_DIR
    app = os.path.join(work, "app")
    os.makedirs(app)
    for name in os.listdir(APP_DIR):
        if name != "lookups":
            os.symlink(os.path.join(APP_DIR, name), os.path.join(app, name))
    shutil.copytree(os.path.join(APP_DIR, "lookups"), os.path.join(app, "lookups"))
    for path in overrides:
        shutil.copy(path, os.path.join(app, "lookups", os.path.basename(path)))
    return app


def replay(events, searches=(), geoip=None, app=APP_DIR, state=None, spl=None):
    """Runs splreplay as `./build.sh replay` does; -> result rows (dicts)."""
    cmd = [sys.executable, "-m", "splreplay", "--app", app, "--events", events]
    for name in searches:
        cmd += ["--search", name]
    if spl:
        cmd += ["--spl", spl]
    if geoip:
        cmd += ["--geoip", geoip]
    if state:
        cmd += ["--state", state]
    env = dict(os.environ, PYTHONPATH=TOOLS)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        raise AssertionError("splreplay exited %d:\n%s" % (proc.returncode, proc.stderr))
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def run_policy(policy_id, geoip, work):
    app = app_with_lookups(policy_id, work)
    return replay(os.path.join(policy_dir(policy_id), "cases"), [POLICIES[policy_id][1]],
                  geoip=geoip, app=app, state=os.path.join(work, "state"))


def values(v):
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def event_ids(records):
    return {r["eventID"] for r in records}


def rows_of_case(rows, records):
    ids = event_ids(records)
    return [r for r in rows if ids & set(values(r.get("event_ids")))]


def mismatches(expected, row):
    """What in the row differs from one expected alert ([] when it matches)."""
    problems = []
    for key, want in expected.items():
        if key == "_description_has":
            for text in want:
                if text not in (row.get("description") or ""):
                    problems.append("description lacks %r: %r" % (text, row.get("description")))
        elif key == "_reason_has":
            for text in want:
                if not any(text in r for r in values(row.get("reason"))):
                    problems.append("reason lacks %r: %r" % (text, row.get("reason")))
        elif want is None:
            if row.get(key) is not None:
                problems.append("%s should be absent, is %r" % (key, row.get(key)))
        elif isinstance(want, list):
            if sorted(values(row.get(key))) != sorted(want):
                problems.append("%s = %r, expected %r" % (key, row.get(key), want))
        elif row.get(key) != want:
            problems.append("%s = %r, expected %r" % (key, row.get(key), want))
    return problems


def contract_problems(row):
    problems = ["missing %s" % f for f in REQUIRED_FIELDS if row.get(f) in (None, "", [])]
    if row.get("severity") not in SEVERITIES:
        problems.append("severity %r is not one of %s" % (row.get("severity"), SEVERITIES))
    if isinstance(row.get("description"), list):
        problems.append("description is multivalue")
    return problems
