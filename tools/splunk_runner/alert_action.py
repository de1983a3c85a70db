"""Running the built add-on's governance alert actions and its undo command the way Splunk does.

- `AddonSplunkd`: the splunkd double with the add-on installed (its default confs, object
  permissions and KV collections), a stored account, and the add-on's own UCC settings
  endpoint (`/servicesNS/nobody/TA-trailwatch/ta_trailwatch_settings/<tab>`), which UCC's
  alert wrapper (splunktaucclib) reads for the log level before it calls our code. Answered
  from the double's conf store, in the shape UCC's REST handler returns. The audit events the
  actions send (`trailwatch:action`) are kept by the double.
- `run_alert`: writes the results as a gzipped CSV, builds the JSON payload splunkd sends
  (payload_format = json), runs `bin/<action>.py --execute` from the built add-on in a
  subprocess with splunk_runtime/ (the few functions of Splunk's own `splunk` library that
  UCC's wrapper imports) on PYTHONPATH, and returns the process and the new audit events.
- `run_undo`: runs the generated `bin/trailwatchundo.py` through search command protocol v2.
"""
import csv
import gzip
import io
import json
import os
import subprocess
import sys
from urllib.parse import unquote

from splunkd_double import APP, SplunkdDouble
from splunkd_double._render import Entity
from splunkd_double.server import _HttpError

from splunk_runner import BUILT_APP

RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "splunk_runtime")
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
COLLECTION = "trailwatch_governance_actions"


class AddonSplunkd(SplunkdDouble):
    """The splunkd double with the add-on installed: shipped default confs and object
    permissions (roles come from its authorize.conf), the KV collections, and UCC's settings
    endpoint."""

    def __init__(self, app_dir=BUILT_APP, **kwargs):
        SplunkdDouble.__init__(self, **kwargs)
        self.load_conf_dir(os.path.join(app_dir, "default"))
        self.load_meta_file(os.path.join(app_dir, "metadata", "default.meta"))
        for name in self.conf("collections"):
            self.kv_create_collection(name)

    def add_account(self, name="prod", key_id=KEY_ID, secret=SECRET, role_arn=""):
        self.add_ucc_stanza("ta_trailwatch_account", name, {
            "aws_access_key_id": key_id, "aws_secret_access_key": secret,
            "role_arn": role_arn, "external_id": "", "partition": "aws", "region": "us-east-1"})

    def _route(self, ctx, rest):
        parts = [unquote(s) for s in (rest or [])]
        if parts[:1] == ["ta_trailwatch_settings"] and len(parts) == 2:
            ctx.user = self._authenticate(ctx)
            if ctx.user is None:
                raise _HttpError(401, "call not properly authenticated", "WARN")
            if ctx.method != "GET":
                raise _HttpError(405, "only GET is modelled")
            try:
                content = self.ucc_stanza("ta_trailwatch_settings", parts[1])
            except KeyError:
                raise _HttpError(404, "Could not find object id=%s" % parts[1])
            entity = Entity(parts[1], "ta_trailwatch_settings", dict(content), owner="nobody", app=APP)
            return self._feed_response(ctx, 200, "ta_trailwatch_settings", [entity])
        return SplunkdDouble._route(self, ctx, rest)

    def audit_events(self):
        found = []
        for event in self.events:
            if event["sourcetype"] == "trailwatch:action":
                found.append(json.loads(event["raw"]))
        return found

    def records(self):
        return {r["_key"]: r for r in self.kv_records(COLLECTION)}


def write_results(path, rows):
    fields = []
    for row in rows:
        for key in row:
            if key not in fields:
                fields.append(key)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    with gzip.open(path, "wt", newline="") as handle:
        handle.write(buffer.getvalue())


def script_env(tmp_path, moto_url):
    home = tmp_path / "splunk_home"
    for sub in ("var/log/splunk", "var/spool/splunk", "etc/system/local"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    env.update({
        "PYTHONPATH": RUNTIME,
        "SPLUNK_HOME": str(home),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


def run_alert(app_dir, action, rows, configuration, splunkd, moto_url, tmp_path, python=sys.executable,
              search_name="TrailWatch - test detection", sid="scheduler__admin_VEEtdHJhaWx3YXRjaA__RMD5test_at_1764370000_42",
              session_key=None, user="admin"):
    results_dir = tmp_path / ("dispatch_%s" % len(list(tmp_path.glob("dispatch_*"))))
    results_dir.mkdir()
    results_file = results_dir / "results.csv.gz"
    write_results(str(results_file), rows)
    payload = {
        "app": APP, "owner": user, "user": user,
        "results_file": str(results_file),
        "results_link": "http://127.0.0.1:8000/app/TA-trailwatch/search?sid=" + sid,
        "server_host": "sh1", "server_uri": splunkd.uri,
        "session_key": session_key or splunkd.session_key, "sid": sid, "search_name": search_name,
        "configuration": dict({k: str(v) for k, v in configuration.items()}),
        "result": rows[0] if rows else {},
    }
    before = len(splunkd.audit_events())
    proc = subprocess.run(
        [python, os.path.join(app_dir, "bin", action + ".py"), "--execute"],
        input=json.dumps(payload).encode("utf-8"), capture_output=True,
        cwd=os.path.join(app_dir, "bin"),
        env=script_env(tmp_path, moto_url), timeout=180)
    return proc, splunkd.audit_events()[before:]


# --------------------------------------------------------------------------- protocol v2
def _send(stream, metadata, body=""):
    meta = json.dumps(metadata).encode("utf-8")
    data = body.encode("utf-8")
    stream.write(b"chunked 1.0,%d,%d\n" % (len(meta), len(data)) + meta + data)
    stream.flush()


def _receive(stream):
    header = stream.readline()
    if not header:
        return None, ""
    _, sizes = header.decode("ascii").strip().split(" ", 1)
    meta_len, body_len = [int(x) for x in sizes.split(",")[1:]]
    meta = json.loads(stream.read(meta_len).decode("utf-8")) if meta_len else {}
    body = stream.read(body_len).decode("utf-8") if body_len else ""
    return meta, body


def run_undo(app_dir, args, splunkd, moto_url, tmp_path, python=sys.executable, session_key=None,
             user="admin"):
    """Run the built `trailwatchundo` as splunkd does (protocol v2); returns
    (getinfo answer, result rows, error messages, stderr) and the new audit events."""
    dispatch = tmp_path / ("undo_dispatch_%d" % len(list(tmp_path.glob("undo_dispatch_*"))))
    dispatch.mkdir()
    raw_args = ["%s=%s" % (k, v) for k, v in args.items()]
    searchinfo = {
        "args": raw_args, "raw_args": raw_args, "dispatch_dir": str(dispatch),
        "sid": "1764370000.77", "app": APP, "owner": user, "username": user,
        "session_key": session_key or splunkd.session_key, "splunkd_uri": splunkd.uri,
        "splunk_version": "9.4.2", "search": "| trailwatchundo " + " ".join(raw_args),
        "command": "trailwatchundo", "maxresultrows": 50000, "earliest_time": "0",
        "latest_time": "0",
    }
    before = len(splunkd.audit_events())
    proc = subprocess.Popen(
        [python, os.path.join(app_dir, "bin", "trailwatchundo.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=os.path.join(app_dir, "bin"), env=script_env(tmp_path, moto_url))
    try:
        _send(proc.stdin, {"action": "getinfo", "preview": False, "searchinfo": searchinfo})
        info, _ = _receive(proc.stdout)
        rows, errors = [], []
        for message in ((info or {}).get("inspector") or {}).get("messages", []):
            errors.append(message)
        if info and info.get("type"):
            _send(proc.stdin, {"action": "execute", "finished": True})
            while True:
                meta, body = _receive(proc.stdout)
                if meta is None:
                    break
                for message in (meta.get("inspector") or {}).get("messages", []):
                    errors.append(message)
                if body.strip():
                    rows.extend(csv.DictReader(io.StringIO(body)))
                if meta.get("finished"):
                    break
        proc.stdin.close()
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    return info, rows, errors, stderr, splunkd.audit_events()[before:]
