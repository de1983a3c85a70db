"""Running the detections over their labelled cases, and judging the results.

Every detection (A, B and C policies) keeps its cases beside its source, in
detections/<folder>/cases/*.json. A case file is a CloudTrail log file with one more key,
`case`, which replay ignores:

    {"case": {"about": "...", "expect": [ {field: value, ...}, ... ]}, "Records": [...]}

`about` says what the case shows. `expect` lists the alerts (result rows) the case's records
must produce, nothing else: an empty list labels a near-miss that must stay quiet. Positive
cases are named p*, near-misses n*. In an expected alert:
- `field: "text"` the row's field has exactly this single value;
- `field: ["a", "b"]` the row's field has exactly these values (any order);
- `field: null` the row has no such field;
- `_description_has: [...]` each text appears in the description;
- `_reason_has: [...]` each text appears in one of the reason values.
Every expected alert names at least its `severity` and `user`.

Optional keys of `case`, for detections that need time, history or their own lists:
- `now`: the ISO 8601 time of the detection's run (splreplay --now; without it, the latest
  event time);
- `setup`: steps run first, in order, all sharing one --state folder with the detection's run,
  each `{"search": "<saved search name>" or [names...], "now": "<ISO 8601>", "Records": [...]}`
  (for instance the baseline searches over a month of history, at the end of that month);
- `lookups`: `{"<file>.csv": "<CSV text>"}`, lookups that replace the add-on's ones of that
  name for this case.

A folder may also hold:
- `lookups/*.csv`: lookups that replace the add-on's ones for all its cases (e.g. the admin's
  IP ranges); a case's own `lookups` go on top;
- `geoip.json`: `{"<CIDR>": {"city", "country", "iso", "lat", "lon", "continent"}}`, the
  GeoIP database iplocation reads for its cases (`continent` optional, default Europe;
  without the file, DEFAULT_PLACES below).

Cases without `now`, `setup` or `lookups` are replayed together, one splreplay run per
policy: a row belongs to the case whose records' eventIDs it lists in `event_ids`, one row may
not mix records of two cases, and every row must belong to a case. A case with any of them
runs on its own: a fresh --state folder, each setup step, then the detection over the case's
records; every row of that run is the case's. Both run splreplay's command line exactly as
`./build.sh replay` does.
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
from twcontent.model import load_all, with_summaries  # noqa: E402
from splreplay.errors import InputError  # noqa: E402
from splreplay.runner import parse_now  # noqa: E402

CONTENT = load_all()
BY_NAME = {d.name: d for d in CONTENT}
# policy id -> (folder under detections/, saved search), for every detection (A, B and C)
DETECTIONS = {d.policy_id: (d.folder, d.name) for d in CONTENT if d.kind == "detection"}
# the same for the activity and file policies (A01-A10, C01), searched by index time
POLICIES = {pid: v for pid, v in DETECTIONS.items() if pid[0] in "AC"}
# keys of a case and of one of its setup steps; a case with a SOLO_KEYS key runs on its own
CASE_KEYS = ("about", "expect", "now", "setup", "lookups")
SOLO_KEYS = ("now", "setup", "lookups")
STEP_KEYS = ("search", "now", "Records")
# the test GeoIP database of a folder without geoip.json: documentation ranges -> places
DEFAULT_PLACES = {
    "203.0.113.0/24": {"city": "Berlin", "country": "Germany", "iso": "DE", "lat": 52.52, "lon": 13.40},
    "198.51.100.0/24": {"city": "Sao Paulo", "country": "Brazil", "iso": "BR", "lat": -23.55,
                        "lon": -46.63, "continent": "South America"},
    "192.0.2.0/24": {"city": "Seattle", "country": "United States", "iso": "US", "lat": 47.61,
                     "lon": -122.33, "continent": "North America"},
    "2001:db8::/32": {"city": "Tokyo", "country": "Japan", "iso": "JP", "lat": 35.68,
                      "lon": 139.69, "continent": "Asia"},
}

# Support searches keeping the lookups these detections read.
SUPPORT = ("TrailWatch - Support - Latest S3 posture", "TrailWatch - Support - Trail buckets",
           "TrailWatch - Support - Public route tables")
# Shared macros and lookups of this suite (besides the trailwatch_<id>_* macros).
SHARED_MACROS = ("trailwatch_cloudtrail", "trailwatch_s3_posture", "trailwatch_success",
                 "trailwatch_not_noise", "trailwatch_activity", "trailwatch_dedup_events",
                 "trailwatch_src_country", "trailwatch_alert_stats", "trailwatch_alert_fields",
                 "trailwatch_allowlist", "trailwatch_alert_table")
LOOKUPS = ("trailwatch_collector_identities", "trailwatch_allowlist", "trailwatch_trail_buckets",
           "trailwatch_trail_buckets_default", "trailwatch_privileged_policies",
           "trailwatch_public_route_tables", "trailwatch_s3_posture_latest",
           "trailwatch_protected_buckets")

# Alert fields every result must carry (docs/detections.md, "Alert fields"); src_ip, src_country,
# event_names and user_arn are left out: not every alert has them (posture snapshots, failed
# sign-ins, private or AWS Internal addresses).
REQUIRED_FIELDS = ("policy_id", "policy", "severity", "description", "user", "user_type",
                   "aws_account_id", "region", "count", "first_seen", "last_seen",
                   "mitre_attack_id", "risk_object", "risk_object_type", "risk_score")
SEVERITIES = ("informational", "low", "medium", "high", "critical")


def policy_dir(policy_id):
    return DETECTIONS[policy_id][0]


def load_cases(policy_id):
    """[(name, case dict, records)] of a policy, sorted by file name."""
    out = []
    for path in case_files(policy_id):
        with open(path) as handle:
            doc = json.load(handle)
        name = os.path.splitext(os.path.basename(path))[0]
        out.append((name, doc["case"], doc["Records"]))
    return out


def case_files(policy_id):
    return next(d for d in CONTENT if d.get("policy_id") == policy_id).case_files()


def runs_alone(case):
    return any(key in case for key in SOLO_KEYS)


def _is_time(text):
    """An ISO 8601 date and time (what --now takes besides epoch seconds)."""
    if not isinstance(text, str) or "T" not in text:
        return False
    try:
        parse_now(text)
    except InputError:
        return False
    return True


def case_problems(case, records):
    """What is malformed in one case ([] when it is well formed)."""
    problems = ["unknown key %r (known: %s)" % (k, ", ".join(CASE_KEYS))
                for k in case if k not in CASE_KEYS]
    if not isinstance(case.get("expect"), list):
        problems.append("expect must be a list of expected alerts")
    if not isinstance(records, list):
        problems.append("Records must be a list")
    if "now" in case and not _is_time(case["now"]):
        problems.append("now %r is not an ISO 8601 time" % (case["now"],))
    for n, step in enumerate(case.get("setup", []), 1):
        problems += ["setup step %d: unknown key %r" % (n, k) for k in step if k not in STEP_KEYS]
        names = step.get("search")
        names = [names] if isinstance(names, str) else names
        if not names or any(name not in BY_NAME for name in names):
            problems.append("setup step %d: search %r is not a saved search" % (n, step.get("search")))
        if not _is_time(step.get("now")):
            problems.append("setup step %d: now %r is not an ISO 8601 time" % (n, step.get("now")))
        if not isinstance(step.get("Records"), list):
            problems.append("setup step %d: Records must be a list" % n)
    for name, text in case.get("lookups", {}).items():
        if not name.endswith(".csv") or os.sep in name or not isinstance(text, str):
            problems.append("lookups: %r must map a file name.csv to CSV text" % name)
    return problems


def folder_places(policy_id):
    """The places of the policy folder's test GeoIP database (geoip.json or DEFAULT_PLACES)."""
    path = os.path.join(policy_dir(policy_id), "geoip.json")
    if not os.path.isfile(path):
        return DEFAULT_PLACES
    with open(path) as handle:
        return json.load(handle)


def write_geoip(path, places=None):
    from splreplay.mmdb_writer import city, write_mmdb

    return write_mmdb(path, {cidr: city(p["city"], p["country"], p["iso"], p["lat"], p["lon"],
                                        continent=p.get("continent", "Europe"))
                             for cidr, p in (places or DEFAULT_PLACES).items()})


def app_with_lookups(policy_id, work, extra=None):
    """The built add-on, with the policy folder's lookups/ and then `extra` ({file name: CSV
    text}) put where it reads them: a KV store lookup's rows in its collection in
    ``work/state`` (as an admin fills it), other tables in ``work/state/lookups``; returns the
    app."""
    from splreplay.kvstore import seed_lookups

    files = {}
    for path in sorted(glob.glob(os.path.join(policy_dir(policy_id), "lookups", "*.csv"))):
        with open(path, encoding="utf-8") as handle:
            files[os.path.basename(path)] = handle.read()
    files.update(extra or {})
    seed_lookups(APP_DIR, os.path.join(work, "state"), files)
    return APP_DIR


def replay(events, searches=(), geoip=None, app=APP_DIR, state=None, spl=None, now=None):
    """Runs splreplay as `./build.sh replay` does; -> result rows (dicts). `events` is one
    path or a list of them. The summary searches a search requires run first (the rows they
    write are not returned)."""
    first = with_summaries(list(searches), CONTENT)[:-len(searches)] if searches else []
    cmd = [sys.executable, "-m", "splreplay", "--app", app]
    for path in [events] if isinstance(events, str) else events:
        cmd += ["--events", path]
    for name in first + list(searches):
        cmd += ["--search", name]
    if spl:
        cmd += ["--spl", spl]
    if now:
        cmd += ["--now", now]
    if geoip:
        cmd += ["--geoip", geoip]
    if state:
        cmd += ["--state", state]
    env = dict(os.environ, PYTHONPATH=TOOLS)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        raise AssertionError("splreplay exited %d:\n%s" % (proc.returncode, proc.stderr))
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return [r for r in rows if r.get("search_name") not in first]


def run_policy(policy_id, geoip, work):
    """The rows of one run of the policy's search over all its cases that do not run alone."""
    paths = [path for path, (_, case, _) in zip(case_files(policy_id), load_cases(policy_id), strict=True)
             if not runs_alone(case)]
    if not paths:
        return []
    app = app_with_lookups(policy_id, work)
    return replay(paths, [DETECTIONS[policy_id][1]], geoip=geoip, app=app,
                  state=os.path.join(work, "state"))


def _records_file(work, name, records):
    path = os.path.join(work, name + ".json")
    with open(path, "w") as handle:
        json.dump({"Records": records}, handle)
    return path


# setups already run this session: (policy, GeoIP database, lookups, setup steps) -> the folder
# whose state/ they left (cases with the same lookups and steps share one setup run)
_SETUPS = {}


def set_up_alone(policy_id, case, geoip, work):
    """What a case that runs alone has before the detection runs: its lookups and its setup
    steps run in order in one --state folder; -> (app, state), state being ``work/state``, a
    fresh copy of what the setup left (the setup runs once per session for the same policy,
    GeoIP database, lookups and steps: replay is deterministic)."""
    os.makedirs(work, exist_ok=True)
    key = json.dumps([policy_id, geoip, case.get("lookups"), case.get("setup")], sort_keys=True)
    done = _SETUPS.get(key)
    if done is None:
        done = os.path.join(work, "setup")
        app = app_with_lookups(policy_id, done, case.get("lookups"))
        state = os.path.join(done, "state")
        os.makedirs(state, exist_ok=True)
        for n, step in enumerate(case.get("setup", []), 1):
            names = step["search"]
            replay(_records_file(done, "setup%d" % n, step["Records"]),
                   [names] if isinstance(names, str) else names,
                   geoip=geoip, app=app, state=state, now=step["now"])
        _SETUPS[key] = done
    state = os.path.join(work, "state")
    shutil.copytree(os.path.join(done, "state"), state)
    return APP_DIR, state


def run_alone(policy_id, case, records, geoip, work):
    """The rows of the policy's search over one case run on its own: its lookups, its setup
    steps in order and then the detection, all sharing a fresh --state folder."""
    app, state = set_up_alone(policy_id, case, geoip, work)
    return replay(_records_file(work, "case", records), [DETECTIONS[policy_id][1]], geoip=geoip,
                  app=app, state=state, now=case.get("now"))


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
