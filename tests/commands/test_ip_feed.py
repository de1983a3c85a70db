"""IP feeds refreshed into range lookups, downloaded from a loopback HTTPS server."""
import os

import pytest

from trailwatch.detect import ipfeed, ipranges

FEEDS = {
    "/tor.txt": b"# Tor exit list\n203.0.113.5\n203.0.113.6 # comment\nnot-an-ip\n\n2001:db8::7\n",
    "/drop.txt": b"; Spamhaus DROP style\n198.51.100.0/24 ; SBL1\n192.0.2.0-192.0.2.63\n",
    "/intel.csv": b"indicator,first_seen\n203.0.113.77,2024-01-01\n10.9.0.0/16,2024-01-02\n",
    "/empty.txt": b"# nothing today\n",
}


@pytest.fixture
def feed_server(monkeypatch):
    from feed_server import FeedServer

    served = FeedServer()
    served.feeds.update(FEEDS)
    monkeypatch.setenv("SSL_CERT_FILE", served.cert_file)  # trust its certificate
    yield served
    served.close()


@pytest.fixture
def server(feed_server):
    return feed_server.url


def test_plain_ip_feed_becomes_a_lookup_the_classifier_reads(tmp_path, server):
    summary = ipfeed.refresh_feed(str(tmp_path), "tor", server + "/tor.txt", "ips", "anonymous",
                                  provider="Tor Project")
    assert summary == {"feed": "tor", "lookup": "trailwatch_ip_feed_tor.csv", "ranges": 3,
                       "skipped": 1, "category": "anonymous", "too_broad": []}
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
    with pytest.raises(ipfeed.FeedError, match="must be an https:// URL"):
        ipfeed.refresh_feed(str(tmp_path), "x", "file:///etc/passwd", "ips", "risky")
    with pytest.raises(ipfeed.FeedError, match="CSV feed has no column 'ip'"):
        ipfeed.refresh_feed(str(tmp_path), "x", server + "/intel.csv", "csv", "risky", column="ip")


# ---------------------------------------------------------------------------- attacks


def test_the_whole_internet_is_not_taken_from_a_feed(tmp_path, server, feed_server):
    """The attack: a feed (compromised, or a typo) lists 0.0.0.0/0 or ::/0, and every
    sign-in would become "risky".  Ranges broader than /8 and /16 are not used."""
    feed_server.feeds["/all.txt"] = (b"0.0.0.0/0\n::/0\n0.0.0.0-255.255.255.255\n"
                                     b"10.0.0.0/7\n2000::/3\n10.0.0.0/8\n2001:db8::/16\n"
                                     b"203.0.113.9\n")
    summary = ipfeed.refresh_feed(str(tmp_path), "all", server + "/all.txt", "cidrs", "risky")
    assert summary["too_broad"] == ["0.0.0.0/0", "::/0", "0.0.0.0-255.255.255.255",
                                    "10.0.0.0/7", "2000::/3"]
    assert summary["ranges"] == 3
    classifier, _files = ipranges.load_classifier(str(tmp_path))
    assert classifier.classify("198.51.100.1") is None
    assert classifier.classify("2600::1") is None
    assert classifier.classify("10.1.2.3")[0] == "risky"
    assert classifier.classify("203.0.113.9")[0] == "risky"
    feed_server.feeds["/only-all.txt"] = b"0.0.0.0/0\n::/0\n"
    with pytest.raises(ipfeed.FeedError, match="gave no ranges"):
        ipfeed.refresh_feed(str(tmp_path), "all", server + "/only-all.txt", "cidrs", "risky")


def test_plain_http_is_refused_before_any_request(tmp_path, feed_server):
    with pytest.raises(ipfeed.FeedError, match="must be an https:// URL"):
        ipfeed.refresh_feed(str(tmp_path), "x", "http://127.0.0.1:%d/tor.txt" % feed_server.port,
                            "ips", "risky")
    assert feed_server.requests == []


def test_an_untrusted_certificate_is_refused(tmp_path, feed_server, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # trust nothing
    with pytest.raises(ipfeed.FeedError, match="CERTIFICATE_VERIFY_FAILED"):
        ipfeed.refresh_feed(str(tmp_path), "x", feed_server.url + "/tor.txt", "ips", "risky")
    assert not (tmp_path / "trailwatch_ip_feed_x.csv").exists()


@pytest.mark.parametrize("target", ["https://localhost:{port}/tor.txt",
                                    "http://127.0.0.1:{port}/tor.txt",
                                    "https://127.0.0.1:1/tor.txt"])
def test_a_redirect_to_another_origin_is_not_followed(tmp_path, server, feed_server, target):
    """The attack: the feed's host answers with a redirect elsewhere (another host, plain
    http, another port).  Not followed: the run fails saying where it pointed, and the
    previous list stays."""
    ipfeed.refresh_feed(str(tmp_path), "tor", server + "/tor.txt", "ips", "anonymous")
    before = (tmp_path / "trailwatch_ip_feed_tor.csv").read_text()
    feed_server.redirects["/moved.txt"] = target.format(port=feed_server.port)
    with pytest.raises(ipfeed.FeedError, match="another origin than the feed's; not followed"):
        ipfeed.refresh_feed(str(tmp_path), "tor", server + "/moved.txt", "ips", "anonymous")
    assert feed_server.requests == ["/tor.txt", "/moved.txt"]
    assert (tmp_path / "trailwatch_ip_feed_tor.csv").read_text() == before


def test_a_redirect_on_the_same_origin_is_followed(tmp_path, server, feed_server):
    feed_server.redirects["/latest.txt"] = "/tor.txt"
    summary = ipfeed.refresh_feed(str(tmp_path), "tor", server + "/latest.txt", "ips", "anonymous")
    assert summary["ranges"] == 3


def test_the_configured_proxy_is_used(tmp_path, server, feed_server):
    from http_proxy import ForwardProxy

    from trailwatch.aws.session import ProxyConfig

    proxy = ForwardProxy(credentials=("feed-user", "Feed-Proxy-Pass-1"))
    try:
        configured = ProxyConfig("127.0.0.1", proxy.port, "http", "feed-user", "Feed-Proxy-Pass-1")
        ipfeed.refresh_feed(str(tmp_path), "tor", server + "/tor.txt", "ips", "anonymous",
                            proxy=configured)
    finally:
        proxy.close()
    assert proxy.forwarded == [("CONNECT", "127.0.0.1:%d" % feed_server.port)]
    assert proxy.auth_headers == ["Basic ZmVlZC11c2VyOkZlZWQtUHJveHktUGFzcy0x"]
