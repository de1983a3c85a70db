"""The trailwatch_ip_feed input run as splunkd runs it: the script ucc-gen generated, an input
definition on stdin, a feed served on 127.0.0.1; the lookup lands in the app's lookups/."""
import csv
import http.server
import os
import shutil
import subprocess
import threading
import xml.sax.saxutils

import pytest

from addon import APP_DIR


@pytest.fixture
def app_copy(tmp_path):
    """The built add-on as installed under $SPLUNK_HOME/etc/apps, with a writable lookups/."""
    splunk_home = tmp_path / "splunk"
    app = splunk_home / "etc" / "apps" / "TA-trailwatch"
    app.mkdir(parents=True)
    # bin/ is copied, not linked: Python resolves a script's own folder, and the input writes
    # next to it (../lookups), which must be this copy's, not the build output's.
    shutil.copytree(os.path.join(APP_DIR, "bin"), str(app / "bin"))
    for name in ("lib", "default", "metadata", "README"):
        if os.path.exists(os.path.join(APP_DIR, name)):
            (app / name).symlink_to(os.path.join(APP_DIR, name))
    (app / "lookups").mkdir()
    (splunk_home / "var" / "log" / "splunk").mkdir(parents=True)
    return splunk_home, app


@pytest.fixture
def feed_server():
    feeds = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = feeds.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], feeds
    server.shutdown()
    server.server_close()


def definition(name, params):
    rows = "".join('<param name="%s">%s</param>' % (k, xml.sax.saxutils.escape(v))
                   for k, v in params.items())
    return (
        "<input><server_host>sh1</server_host><server_uri>https://127.0.0.1:1</server_uri>"
        "<session_key>unused</session_key><checkpoint_dir>/tmp</checkpoint_dir>"
        '<configuration><stanza name="trailwatch_ip_feed://%s">%s</stanza></configuration>'
        "</input>" % (name, rows)
    ).encode()


def run_feed(python, splunk_home, app, stdin):
    env = dict(os.environ, SPLUNK_HOME=str(splunk_home))
    env.pop("PYTHONPATH", None)
    return subprocess.run([python, str(app / "bin" / "trailwatch_ip_feed.py")], input=stdin,
                          capture_output=True, cwd=str(app / "bin"), env=env, timeout=120)


def test_feed_is_downloaded_into_a_lookup(app_copy, feed_server, splunk_python):
    splunk_home, app = app_copy
    base, feeds = feed_server
    feeds["/exits.txt"] = b"# tor exits\n198.51.100.7\n2001:db8::/32\nnot-an-address\n"
    result = run_feed(splunk_python, splunk_home, app, definition("tor_exits", {
        "url": base + "/exits.txt", "format": "cidrs", "category": "anonymous",
        "provider": "example-feed", "interval": "86400"}))
    assert result.returncode == 0, result.stderr.decode()
    with open(str(app / "lookups" / "trailwatch_ip_feed_tor_exits.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert {r["range"] for r in rows} == {"198.51.100.7", "2001:db8::/32"}
    assert {r["category"] for r in rows} == {"anonymous"}
    assert {r["provider"] for r in rows} == {"example-feed"}
    log = (splunk_home / "var" / "log" / "splunk" / "ta-trailwatch_ip_feed.log").read_text()
    assert "ranges=2 skipped=1" in log


def test_failed_download_keeps_the_previous_list(app_copy, feed_server, splunk_python):
    splunk_home, app = app_copy
    base, feeds = feed_server
    previous = app / "lookups" / "trailwatch_ip_feed_blocklist.csv"
    previous.write_text("range,category,list,provider,description\n"
                        "203.0.113.0/24,suspicious,blocklist,,kept\n")
    result = run_feed(splunk_python, splunk_home, app, definition("blocklist", {
        "url": base + "/missing.txt", "format": "ips", "category": "suspicious",
        "interval": "3600"}))
    assert result.returncode == 0, result.stderr.decode()
    assert "203.0.113.0/24,suspicious" in previous.read_text()
    log = (splunk_home / "var" / "log" / "splunk" / "ta-trailwatch_ip_feed.log").read_text()
    assert "IP feed not refreshed" in log and "blocklist" in log
