"""The splunkd side of search command protocol v2 ("chunked").

splunkd starts the command's script (commands.conf ``filename`` in the app's ``bin/``)
with no arguments, cwd = ``bin/``, and exchanges chunks on stdin/stdout::

    chunked 1.0,<metadata bytes>,<body bytes>\\n<metadata JSON><body>

1. ``getinfo``: metadata ``{"action": "getinfo", "searchinfo": {...args, dispatch_dir...}}``,
   no body; the command answers with its configuration (``type``: streaming, stateful,
   events or reporting; ``generating``; ``required_fields``).
2. ``execute``: metadata ``{"action": "execute", "finished": <last chunk?>}`` and a CSV body
   (header row; a multivalue field ``f`` travels as ``f`` = values joined by newlines plus
   ``__mv_f`` = ``$v1$;$v2$`` with ``$`` doubled); the command answers each chunk with
   ``{"finished": ...}`` and its CSV records. ERROR/FATAL messages in the answer's
   ``inspector.messages`` fail the search, as they do in Splunk.

The command runs from an overlay of the app (``overlay_app``): a temporary folder named like
the app whose entries are symlinks to the app's, except ``lookups/``, which holds the app's
lookups, then those of ``--state DIR/lookups`` over them, then the tables ``outputlookup``
wrote in this run without ``--state``. In Splunk ``outputlookup`` writes to the app's own
``lookups/``, where commands read their CSV files; the overlay gives commands that view.
"""
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse

from . import kvstore
from .errors import SearchRuntimeError
from .lookups import write_csv
from .values import render

CHUNK_ROWS = 50000
_HEADER = re.compile(rb"chunked\s+1\.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n")
_MV_VALUE = re.compile(r"\$((?:\$\$|[^$])*)\$(?:;|$)")


def encode_rows(rows, fields=None):
    if fields is None:
        seen = {}
        for r in rows:
            for k in r:
                seen.setdefault(k, None)
        fields = list(seen)
    mv = {f for f in fields if any(isinstance(r.get(f), list) for r in rows)}
    header = []
    for f in fields:
        header.append(f)
        if f in mv:
            header.append("__mv_" + f)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    if not rows:
        return ""
    writer.writerow(header)
    for r in rows:
        out = []
        for f in fields:
            v = r.get(f)
            if isinstance(v, list):
                texts = [render(x) for x in v]
                out.append("\n".join(texts))
                out.append("$" + "$;$".join(t.replace("$", "$$") for t in texts) + "$")
            else:
                out.append("" if v is None else render(v))
                if f in mv:
                    out.append("")
        writer.writerow(out)
    return buf.getvalue()


def decode_rows(body):
    if not body.strip():
        return []
    reader = csv.reader(io.StringIO(body, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return []
    rows = []
    for cells in reader:
        if not cells:
            continue
        row = {}
        mvvals = {}
        for name, cell in zip(header, cells, strict=False):
            if name.startswith("__mv_"):
                if cell:
                    vals = [m.replace("$$", "$") for m in _MV_VALUE.findall(cell)]
                    mvvals[name[5:]] = vals
            elif cell != "":
                row[name] = cell
        for name, vals in mvvals.items():
            if len(vals) > 1:
                row[name] = vals
            elif vals:
                row[name] = vals[0]
        rows.append(row)
    return rows


# The most resident memory any command process has reached (kB), read from
# /proc/<pid>/status VmHWM before it exits (Linux; 0 elsewhere). getrusage's RUSAGE_CHILDREN
# would count the pages a child shares with splreplay between fork and exec.
PEAK_COMMAND_KB = [0]


def _note_peak(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    PEAK_COMMAND_KB[0] = max(PEAK_COMMAND_KB[0], int(line.split()[1]))
                    return
    except (OSError, ValueError, IndexError):
        return


class ChunkedProcess:
    def __init__(self, argv, cwd, name, env=None, timeout=120):
        self.name = name
        self.timeout = timeout
        self.stderr_file = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self.stderr_file,
                                         env=env)
        except OSError as exc:
            raise SearchRuntimeError("command %s: cannot start %s: %s"
                                     % (name, " ".join(argv), exc)) from None

    def stderr_text(self):
        try:
            self.stderr_file.seek(0)
            return self.stderr_file.read().decode("utf-8", "replace").strip()[-2000:]
        except (OSError, ValueError):
            return ""

    def fail(self, message):
        self.close(kill=True)
        err = self.stderr_text()
        raise SearchRuntimeError("command %s: %s%s" % (self.name, message,
                                                       ("\n--- its stderr ---\n" + err) if err else ""))

    def send(self, metadata, body=""):
        meta = json.dumps(metadata).encode("utf-8")
        data = body.encode("utf-8")
        try:
            self.proc.stdin.write(b"chunked 1.0,%d,%d\n" % (len(meta), len(data)))
            self.proc.stdin.write(meta)
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.fail("the command exited while splreplay was sending it data")

    def _read_exact(self, n):
        out = b""
        while len(out) < n:
            part = self.proc.stdout.read(n - len(out))
            if not part:
                self.fail("the command's output ended inside a chunk")
            out += part
        return out

    def receive(self):
        line = self.proc.stdout.readline()
        if not line:
            self.fail("the command exited without answering (exit code %s)" % self.proc.wait())
        m = _HEADER.fullmatch(line)
        if not m:
            self.fail("the command wrote something that is not a protocol v2 chunk header: %r"
                      % line[:200])
        meta_len, body_len = int(m.group(1)), int(m.group(2))
        meta_raw = self._read_exact(meta_len)
        body = self._read_exact(body_len).decode("utf-8", "replace")
        try:
            metadata = json.loads(meta_raw.decode("utf-8")) if meta_len else {}
        except ValueError:
            self.fail("invalid metadata JSON from the command: %r" % meta_raw[:200])
        messages = (metadata.get("inspector") or {}).get("messages") or []
        errors = [text for level, text in messages if str(level).upper() in ("ERROR", "FATAL")]
        if errors or metadata.get("error"):
            self.fail("; ".join(errors or [str(metadata.get("error"))]))
        return metadata, body

    def close(self, kill=False):
        proc = self.proc
        _note_peak(proc.pid)
        try:
            if proc.stdin and not proc.stdin.closed:
                proc.stdin.close()
        except OSError:
            pass
        if kill and proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout,):
            try:
                stream.close()
            except OSError:
                pass


def _replace_link(target, link):
    if os.path.lexists(link):
        if os.path.isdir(link) and not os.path.islink(link):
            raise SearchRuntimeError("cannot layer %s over the folder %s" % (target, link))
        os.unlink(link)
    os.symlink(target, link)


def overlay_app(app, base):
    """Build the app as a command sees it under ``base``; returns the overlay's folder."""
    app_dir = os.path.abspath(app.dir)
    overlay = os.path.join(base, os.path.basename(os.path.normpath(app_dir)))
    os.makedirs(overlay)
    for name in sorted(os.listdir(app_dir)):
        if name != "lookups":
            os.symlink(os.path.join(app_dir, name), os.path.join(overlay, name))
    lookups = os.path.join(overlay, "lookups")
    os.makedirs(lookups)
    layers = [os.path.join(app_dir, "lookups")]
    if app.state_dir:
        layers.append(os.path.join(os.path.abspath(app.state_dir), "lookups"))
    for layer in layers:
        if os.path.isdir(layer):
            for name in sorted(os.listdir(layer)):
                _replace_link(os.path.join(layer, name), os.path.join(lookups, name))
    for filename, (header, rows) in sorted(app.lookups.memory.items()):
        path = os.path.join(lookups, filename)
        if os.path.lexists(path):
            os.unlink(path)
        write_csv(path, header, rows)
    return overlay


def run_chunked(app, stanza_name, stanza, args, raw_args, rows, ctx, search_text):
    filename = stanza.get("filename")
    if not filename:
        raise SearchRuntimeError("commands.conf [%s] has no filename" % stanza_name)
    if not os.path.isfile(os.path.join(app.dir, "bin", filename)):
        raise SearchRuntimeError("command %s: %s does not exist"
                                 % (stanza_name, os.path.join(app.dir, "bin", filename)))
    python = os.environ.get("SPLREPLAY_PYTHON") or sys.executable
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="splreplay-dispatch-") as dispatch:
        overlay = overlay_app(app, os.path.join(dispatch, "app"))
        bin_dir = os.path.join(overlay, "bin")
        script = os.path.join(bin_dir, filename)
        dispatch = os.path.join(dispatch, "dispatch")
        os.makedirs(dispatch)
        proc = ChunkedProcess([python, script], bin_dir, stanza_name, env=env)
        kv_server = kvstore.serve(app.lookups.kvstore)
        try:
            searchinfo = {
                "args": list(args),
                "raw_args": list(raw_args),
                "dispatch_dir": dispatch,
                "sid": "splreplay_%d" % int(time.time()),
                "app": os.path.basename(os.path.normpath(app.dir)),
                "owner": "admin",
                "username": "admin",
                "session_key": kvstore.SESSION_KEY,
                "splunkd_uri": kv_server.uri,  # answers KV store reads (kvstore.py)
                "splunk_version": "9.4.0",
                "search": urllib.parse.quote(search_text),
                "command": stanza_name,
                "maxresultrows": CHUNK_ROWS,
                "earliest_time": "0",
                "latest_time": "%.3f" % ctx.now,
            }
            proc.send({"action": "getinfo", "preview": False,
                       "streaming_command_will_restart": False, "searchinfo": searchinfo})
            info, _ = proc.receive()
            ctype = info.get("type", "streaming")
            if ctype not in ("streaming", "stateful", "events", "reporting"):
                proc.fail("unknown command type %r in its getinfo answer" % ctype)
            generating = bool(info.get("generating"))
            required = info.get("required_fields")
            out = []
            if generating:
                for _ in range(100000):
                    proc.send({"action": "execute", "finished": False})
                    meta, body = proc.receive()
                    out.extend(decode_rows(body))
                    if meta.get("finished"):
                        break
                else:
                    proc.fail("the generating command never finished")
                return out, True
            send_rows = rows
            fields = None
            if required and required != ["*"]:
                fields = list(required)
            if ctype == "reporting" or not send_rows:
                batches = [send_rows]
            else:
                batches = [send_rows[i:i + CHUNK_ROWS] for i in range(0, len(send_rows), CHUNK_ROWS)]
            for n, batch in enumerate(batches):
                last = n == len(batches) - 1
                proc.send({"action": "execute", "finished": last}, encode_rows(batch, fields))
                meta, body = proc.receive()
                out.extend(decode_rows(body))
                if meta.get("finished"):
                    break
            for r in out:
                t = r.get("_time")
                if isinstance(t, str):
                    try:
                        r["_time"] = float(t)
                    except ValueError:
                        pass
            return out, False
        finally:
            proc.close()
            kv_server.close()
