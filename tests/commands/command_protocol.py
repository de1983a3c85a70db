"""The splunkd side of search command protocol v2, for driving the built add-on's commands.

A test starts a command script from output/TA-trailwatch/bin as splunkd does (cwd bin/, no
PYTHONPATH), sends getinfo, then execute chunks (CSV bodies encoded by splreplay's
encoder, the same one the replay tool uses), and reads the answers, error messages
included, without failing on them: tests look at the messages themselves.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

from addon import APP_BIN, ROOT

TOOLS = os.path.join(ROOT, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.protocol import decode_rows, encode_rows  # noqa: E402

_HEADER = re.compile(rb"chunked\s+1\.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n")


class CommandError(AssertionError):
    pass


class Answer(object):
    def __init__(self, metadata, body):
        self.metadata = metadata
        self.body = body

    @property
    def rows(self):
        return decode_rows(self.body)

    @property
    def messages(self):
        return [(str(level).upper(), text) for level, text in
                (self.metadata.get("inspector") or {}).get("messages") or []]

    def errors(self):
        return [text for level, text in self.messages if level in ("ERROR", "FATAL")]

    def warnings(self):
        return [text for level, text in self.messages if level == "WARN"]


class CommandProcess(object):
    """One run of a command script: getinfo, execute chunks, close (exit code, peak RSS)."""

    def __init__(self, script, python=None, timeout=600, app_dir=None):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        self.dispatch = tempfile.mkdtemp(prefix="tw-dispatch-")
        self.stderr = tempfile.TemporaryFile()
        self.timeout = timeout
        bin_dir = os.path.join(app_dir, "bin") if app_dir else APP_BIN
        self.proc = subprocess.Popen([python or sys.executable, os.path.join(bin_dir, script)],
                                     cwd=bin_dir, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        self.command = script[:-3]
        self.returncode = None
        self.max_rss_kb = None

    def send(self, metadata, body=""):
        meta = json.dumps(metadata).encode("utf-8")
        data = body.encode("utf-8")
        self.proc.stdin.write(b"chunked 1.0,%d,%d\n" % (len(meta), len(data)))
        self.proc.stdin.write(meta)
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def receive(self):
        line = self.proc.stdout.readline()
        if not line:
            return None
        match = _HEADER.fullmatch(line)
        if not match:
            raise CommandError("not a chunk header: %r" % line[:200])
        meta = self.proc.stdout.read(int(match.group(1)))
        body = self.proc.stdout.read(int(match.group(2))).decode("utf-8")
        return Answer(json.loads(meta.decode("utf-8")) if meta else {}, body)

    def getinfo(self, args=(), splunkd=None):
        """``splunkd``: a started SplunkdDouble the command may call (its KV store, ...);
        without it the command gets an address where nothing answers."""
        raw = list(args)
        uri, key = (splunkd.uri, splunkd.session_key) if splunkd else ("https://127.0.0.1:8089", "none")
        search = "| %s %s" % (self.command, " ".join(raw))
        self.send({"action": "getinfo", "preview": False, "streaming_command_will_restart": False,
                   "searchinfo": {"args": list(args), "raw_args": raw, "dispatch_dir": self.dispatch,
                                  "sid": "test_1", "app": "TA-trailwatch", "owner": "admin",
                                  "username": "admin", "session_key": key,
                                  "splunkd_uri": uri, "splunk_version": "9.4.0",
                                  "search": urllib.parse.quote(search), "command": self.command,
                                  "maxresultrows": 50000, "earliest_time": "0",
                                  "latest_time": "1800000000.000"}})
        return self.receive()

    def execute(self, rows=None, finished=True, body=None, fields=None):
        if body is None:
            body = encode_rows(rows or [], fields)
        self.send({"action": "execute", "finished": finished}, body)
        return self.receive()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        # wait4 gives this child's own resource usage (peak RSS in KiB on Linux).
        _pid, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.returncode = self.proc.returncode
        self.max_rss_kb = usage.ru_maxrss
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.proc.stdout.close()
        return self.returncode

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")


def run_command(script, args, rows, python=None, chunk=50000, app_dir=None, splunkd=None):
    """getinfo + execute(rows in chunks) + close; returns (info, [answers], process)."""
    proc = CommandProcess(script, python=python, app_dir=app_dir)
    try:
        info = proc.getinfo(args, splunkd=splunkd)
        answers = []
        if info is not None and not info.errors():
            batches = [rows[i:i + chunk] for i in range(0, len(rows), chunk)] or [[]]
            for n, batch in enumerate(batches):
                answer = proc.execute(batch, finished=n == len(batches) - 1)
                if answer is None:
                    break
                answers.append(answer)
                if answer.metadata.get("finished"):
                    break
    finally:
        proc.close()
    return info, answers, proc


def rows_of(answers):
    out = []
    for answer in answers:
        out.extend(answer.rows)
    return out


def messages_of(info, answers):
    msgs = list(info.messages) if info else []
    for answer in answers:
        msgs.extend(answer.messages)
    return msgs


def overlay_app(base_dir, lookups=None):
    """A copy of the built add-on's bin/, default/, lookups/ and lib/splunklib (all the
    commands import) with extra lookups, so a test can give the commands its own IP lists
    without touching output/ (which other builds replace at any time)."""
    import shutil

    from addon import APP_DIR

    app = os.path.join(str(base_dir), "TA-trailwatch")
    os.makedirs(app)
    shutil.copytree(os.path.join(APP_DIR, "bin"), os.path.join(app, "bin"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("lookups", "default", os.path.join("lib", "splunklib")):
        shutil.copytree(os.path.join(APP_DIR, name), os.path.join(app, name),
                        ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in (lookups or {}).items():
        with open(os.path.join(app, "lookups", name), "w", encoding="utf-8") as handle:
            handle.write(text)
    return app
