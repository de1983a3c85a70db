"""The trailwatch_ip_feed input run as splunkd runs it: the script ucc-gen generated, an input
definition on stdin (its proxy settings read from the splunkd double), a feed served over
HTTPS on 127.0.0.1; the lookup lands in the app's lookups/."""
import csv
import os
import shutil
import subprocess
import xml.sax.saxutils

import pytest
from feed_server import FeedServer
from splunkd_double.fixtures import splunkd  # noqa: F401

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
    served = FeedServer()
    yield served.url, served.feeds
    served.close()


def definition(double, name, params):
    rows = "".join('<param name="%s">%s</param>' % (k, xml.sax.saxutils.escape(v))
                   for k, v in params.items())
    return (
        "<input><server_host>sh1</server_host><server_uri>%s</server_uri>"
        "<session_key>%s</session_key><checkpoint_dir>/tmp</checkpoint_dir>"
        '<configuration><stanza name="trailwatch_ip_feed://%s">%s</stanza></configuration>'
        "</input>" % (double.uri, double.session_key, name, rows)
    ).encode()


def run_feed(python, splunk_home, app, stdin):
    from splunkd_double._tls import self_signed_cert

    # The feed server's certificate is trusted as a CA would be (SSL_CERT_FILE).
    env = dict(os.environ, SPLUNK_HOME=str(splunk_home), SSL_CERT_FILE=self_signed_cert()[0])
    env.pop("PYTHONPATH", None)
    return subprocess.run([python, str(app / "bin" / "trailwatch_ip_feed.py")], input=stdin,
                          capture_output=True, cwd=str(app / "bin"), env=env, timeout=120)


def test_feed_is_downloaded_into_a_lookup(app_copy, feed_server, splunk_python,
                                          splunkd):  # noqa: F811
    splunk_home, app = app_copy
    base, feeds = feed_server
    feeds["/exits.txt"] = b"# tor exits\n198.51.100.7\n2001:db8::/32\nnot-an-address\n"
    result = run_feed(splunk_python, splunk_home, app, definition(splunkd, "tor_exits", {
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


def test_failed_download_keeps_the_previous_list(app_copy, feed_server, splunk_python,
                                                splunkd):  # noqa: F811
    splunk_home, app = app_copy
    base, feeds = feed_server
    previous = app / "lookups" / "trailwatch_ip_feed_blocklist.csv"
    previous.write_text("range,category,list,provider,description\n"
                        "203.0.113.0/24,suspicious,blocklist,,kept\n")
    result = run_feed(splunk_python, splunk_home, app, definition(splunkd, "blocklist", {
        "url": base + "/missing.txt", "format": "ips", "category": "suspicious",
        "interval": "3600"}))
    assert result.returncode == 0, result.stderr.decode()
    assert "203.0.113.0/24,suspicious" in previous.read_text()
    log = (splunk_home / "var" / "log" / "splunk" / "ta-trailwatch_ip_feed.log").read_text()
    assert "IP feed not refreshed" in log and "blocklist" in log


def test_the_input_goes_through_the_configured_proxy_and_refuses_the_whole_internet(
        app_copy, feed_server, splunkd):  # noqa: F811
    """The proxy under Configuration > Proxy carries the download (CONNECT), and a feed
    listing 0.0.0.0/0 and ::/0 does not make every address risky."""
    import sys

    from http_proxy import ForwardProxy, save_proxy_settings

    splunk_home, app = app_copy
    base, feeds = feed_server
    feeds["/risky.txt"] = b"0.0.0.0/0\n::/0\n198.51.100.0/24\n"
    proxy = ForwardProxy(credentials=("feed-user", "Feed-Proxy-Pass-1"))
    try:
        save_proxy_settings(splunkd, "127.0.0.1", proxy.port, "feed-user", "Feed-Proxy-Pass-1")
        result = run_feed(sys.executable, splunk_home, app, definition(splunkd, "risky", {
            "url": base + "/risky.txt", "format": "cidrs", "category": "risky",
            "interval": "3600"}))
    finally:
        proxy.close()
    assert result.returncode == 0, result.stderr.decode()
    assert proxy.forwarded == [("CONNECT", base[len("https://"):])]
    with open(str(app / "lookups" / "trailwatch_ip_feed_risky.csv")) as handle:
        assert [r["range"] for r in csv.DictReader(handle)] == ["198.51.100.0/24"]
    log = (splunk_home / "var" / "log" / "splunk" / "ta-trailwatch_ip_feed.log").read_text()
    assert "listed 2 range(s) broader than /8 (IPv4) or /16 (IPv6), not used: 0.0.0.0/0, ::/0" \
        in log
    assert "Feed-Proxy-Pass-1" not in log


def test_an_http_feed_url_is_refused_on_save(app_copy, splunkd):  # noqa: F811
    """--validate-arguments (what splunkd runs when the form is saved) refuses http://."""
    import sys

    splunk_home, app = app_copy
    stdin = (
        "<items><server_host>sh1</server_host><server_uri>%s</server_uri>"
        "<session_key>%s</session_key><checkpoint_dir>/tmp</checkpoint_dir>"
        '<item name="plain"><param name="url">http://feeds.example.com/x.txt</param>'
        '<param name="format">ips</param><param name="category">risky</param></item></items>'
        % (splunkd.uri, splunkd.session_key)).encode()
    env = dict(os.environ, SPLUNK_HOME=str(splunk_home))
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, str(app / "bin" / "trailwatch_ip_feed.py"),
                             "--validate-arguments"], input=stdin, capture_output=True,
                            cwd=str(app / "bin"), env=env, timeout=120)
    assert result.returncode != 0
    assert b"must be an https:// URL" in result.stdout
