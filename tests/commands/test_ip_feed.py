"""IP feeds refreshed into range lookups, downloaded from a loopback HTTP server."""
import http.server
import os
import threading

import pytest

from trailwatch.detect import ipfeed, ipranges

FEEDS = {
    "/tor.txt": b"# Tor exit list\n203.0.113.5\n203.0.113.6 # comment\nnot-an-ip\n\n2001:db8::7\n",
    "/drop.txt": b"; Spamhaus DROP style\n198.51.100.0/24 ; SBL1\n192.0.2.0-192.0.2.63\n",
    "/intel.csv": b"indicator,first_seen\n203.0.113.77,2024-01-01\n10.9.0.0/16,2024-01-02\n",
    "/empty.txt": b"# nothing today\n",
}


@pytest.fixture(scope="module")
def server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = FEEDS.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_plain_ip_feed_becomes_a_lookup_the_classifier_reads(tmp_path, server):
    summary = ipfeed.refresh_feed(str(tmp_path), "tor", server + "/tor.txt", "ips", "anonymous",
                                  provider="Tor Project")
    assert summary == {"feed": "tor", "lookup": "trailwatch_ip_feed_tor.csv", "ranges": 3,
                       "skipped": 1, "category": "anonymous"}
    classifier, files = ipranges.load_classifier(str(tmp_path))
    assert [os.path.basename(f) for f in files] == ["trailwatch_ip_feed_tor.csv"]
    assert classifier.classify("203.0.113.6") == ("anonymous", "tor", "Tor Project")
    assert classifier.classify("2001:db8::7") == ("anonymous", "tor", "Tor Project")
    assert classifier.classify("203.0.113.7") is None


def test_cidr_and_csv_feeds(tmp_path, server):
    ipfeed.refresh_feed(str(tmp_path), "drop", server + "/drop.txt", "cidrs", "suspicious")
    ipfeed.refresh_feed(str(tmp_path), "intel", server + "/intel.csv", "csv", "suspicious",
                        column="indicator")
    classifier, _files = ipranges.load_classifier(str(tmp_path))
    assert classifier.classify("198.51.100.200")[1] == "drop"
    assert classifier.classify("192.0.2.63")[1] == "drop"
    assert classifier.classify("192.0.2.64") is None
    assert classifier.classify("10.9.3.3")[1] == "intel"


def test_failures_keep_the_previous_list(tmp_path, server):
    ipfeed.refresh_feed(str(tmp_path), "tor", server + "/tor.txt", "ips", "anonymous")
    path = tmp_path / "trailwatch_ip_feed_tor.csv"
    before = path.read_text()
    with pytest.raises(ipfeed.FeedError, match="gave no IP addresses .* keeping the previous list"):
        ipfeed.refresh_feed(str(tmp_path), "tor", server + "/empty.txt", "ips", "anonymous")
    with pytest.raises(ipfeed.FeedError, match="cannot download .*/missing.txt: HTTP Error 404"):
        ipfeed.refresh_feed(str(tmp_path), "tor", server + "/missing.txt", "ips", "anonymous")
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["trailwatch_ip_feed_tor.csv"]


def test_bad_settings_are_refused_with_the_reason(tmp_path, server):
    with pytest.raises(ipfeed.FeedError, match="category 'evil'"):
        ipfeed.refresh_feed(str(tmp_path), "x", server + "/tor.txt", "ips", "evil")
    with pytest.raises(ipfeed.FeedError, match="feed name '../x'"):
        ipfeed.refresh_feed(str(tmp_path), "../x", server + "/tor.txt", "ips", "risky")
    with pytest.raises(ipfeed.FeedError, match="must start with https:// or http://"):
        ipfeed.refresh_feed(str(tmp_path), "x", "file:///etc/passwd", "ips", "risky")
    with pytest.raises(ipfeed.FeedError, match="CSV feed has no column 'ip'"):
        ipfeed.refresh_feed(str(tmp_path), "x", server + "/intel.csv", "csv", "risky", column="ip")
