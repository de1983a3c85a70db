"""Pure functions behind the search commands, against hand-computed values."""
import ipaddress
import math
import random

import pytest

from trailwatch.detect import countscore, ipranges, options, travel

R = travel.EARTH_RADIUS_KM


# ---- great-circle distance -------------------------------------------------------------

@pytest.mark.parametrize("a, b, expected", [
    ((0, 0), (0, 90), math.pi / 2 * R),      # a quarter of the equator
    ((0, 0), (90, 0), math.pi / 2 * R),      # equator to pole
    ((0, 0), (0, 180), math.pi * R),         # antipodes
    ((0, 0), (0, 1), math.pi / 180 * R),     # one degree of longitude at the equator
    ((10, 20), (10, 20), 0.0),
    ((60, 0), (60, 180), math.pi / 3 * R),   # over the pole: 30 + 30 + ... = 60 degrees of arc
])
def test_great_circle_km(a, b, expected):
    assert travel.great_circle_km(a[0], a[1], b[0], b[1]) == pytest.approx(expected, abs=1e-6)


def test_great_circle_london_paris_is_about_344_km():
    # Published great-circle distance London (51.5074, -0.1278) - Paris (48.8566, 2.3522).
    assert travel.great_circle_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(343.5, abs=1.0)


# ---- travel verdicts --------------------------------------------------------------------

def login(t, ip, lat, lon, city="", country="", category=""):
    return travel.Login(t, ip, lat, lon, city, country, category, {})


def test_travel_alerts_over_speed_and_distance_and_reports_both_ends():
    tracker = travel.TravelTracker()
    assert tracker.feed("alice", login(0, "198.51.100.1", 0, 0, "A", "X")) is None
    trip = tracker.feed("alice", login(3600, "203.0.113.9", 0, 10, "B", "Y"))
    # 10 degrees of longitude at the equator in one hour: 1111.95 km/h.
    assert trip.alert and trip.distance_km == pytest.approx(math.pi / 18 * R)
    assert trip.speed_kmh == pytest.approx(math.pi / 18 * R)
    assert (trip.start.ip, trip.end.ip) == ("198.51.100.1", "203.0.113.9")
    assert trip.severity == "medium"
    assert "A, X (198.51.100.1) to B, Y (203.0.113.9)" in trip.reason


def test_travel_thresholds_same_ip_and_distance():
    tracker = travel.TravelTracker()
    tracker.feed("u", login(0, "198.51.100.1", 0, 0))
    # 1111 km in 2 h: 556 km/h, possible.
    assert not tracker.feed("u", login(7200, "198.51.100.2", 0, 10)).alert
    # Same IP far away instantly (geolocation changed): never alerts.
    assert not tracker.feed("u", login(7201, "198.51.100.2", 40, 10)).alert
    # 400 km in one second: above the speed but not the distance.
    short = travel.TravelTracker()
    short.feed("u", login(0, "198.51.100.1", 0, 0))
    assert not short.feed("u", login(1, "198.51.100.9", 0, 3.6)).alert


def test_travel_relay_drop_and_lower_and_borders():
    drop = travel.TravelTracker()
    drop.feed("u", login(0, "198.51.100.1", 0, 0, category="corporate"))
    trip = drop.feed("u", login(60, "203.0.113.1", 0, 20))
    assert not trip.alert and "VPN or relay (corporate)" in trip.reason
    lower = travel.TravelTracker(relay_action="lower")
    lower.feed("u", login(0, "198.51.100.1", 0, 0))
    trip = lower.feed("u", login(60, "203.0.113.1", 0, 20, category="anonymous"))
    assert trip.alert and trip.severity == "low"
    borders = {frozenset(("france", "germany"))}
    rule = travel.TravelTracker(borders=borders)
    rule.feed("u", login(0, "198.51.100.1", 48.85, 2.35, "Paris", "France"))
    trip = rule.feed("u", login(60, "203.0.113.1", 52.52, 13.40, "Berlin", "Germany"))
    assert not trip.alert and trip.reason.startswith("bordering countries ignored")
    trip = rule.feed("u", login(120, "203.0.113.2", 40.41, -3.70, "Madrid", "Spain"))
    assert trip.alert


def test_travel_every_verdict_in_words():
    # The reason is built when read (most pairs are never output): pin each verdict's text.
    borders = {frozenset(("france", "germany"))}
    paris = login(0, "198.51.100.1", 48.85, 2.35, "Paris", "France")
    cases = [
        (travel.TravelTracker(), login(60, "198.51.100.1", 52.52, 13.40, "Berlin", "Germany"),
         "same_ip", "same IP address: Paris, France (198.51.100.1) to Berlin, Germany "
                    "(198.51.100.1): 878 km in 60 s, 52661 km/h"),
        (travel.TravelTracker(), login(7200, "203.0.113.1", 52.52, 13.40, "Berlin", ""),
         "possible", "possible travel: Paris, France (198.51.100.1) to Berlin (203.0.113.1): "
                     "878 km in 2.0 h, 439 km/h"),
        (travel.TravelTracker(borders=borders), login(600, "203.0.113.1", 52.52, 13.40, "Berlin",
                                                      "Germany"),
         "borders", "bordering countries ignored: Paris, France (198.51.100.1) to Berlin, Germany "
                    "(203.0.113.1): 878 km in 10 min, 5266 km/h"),
        (travel.TravelTracker(), login(600, "203.0.113.1", 52.52, 13.40, category="corporate"),
         "relay", "through a VPN or relay (corporate): Paris, France (198.51.100.1) to unknown "
                  "place (203.0.113.1): 878 km in 10 min, 5266 km/h"),
        (travel.TravelTracker(relay_action="lower"), login(600, "203.0.113.1", 52.52, 13.40,
                                                           category="anonymous"),
         "relay_lowered", "impossible travel through a VPN or relay (anonymous): Paris, France "
                          "(198.51.100.1) to unknown place (203.0.113.1): 878 km in 10 min, "
                          "5266 km/h"),
        (travel.TravelTracker(max_speed=5000), login(600, "203.0.113.1", 52.52, 13.40, "Berlin",
                                                      "Germany"),
         "impossible", "impossible travel: Paris, France (198.51.100.1) to Berlin, Germany "
                       "(203.0.113.1): 878 km in 10 min, 5266 km/h, above 5000 km/h"),
    ]
    for tracker, later, verdict, reason in cases:
        tracker.feed("u", paris)
        trip = tracker.feed("u", later)
        assert (trip.verdict, trip.reason) == (verdict, reason)
        assert trip.alert == (verdict in ("relay_lowered", "impossible"))
    assert {case[2] for case in cases} == set(travel.VERDICTS)


def test_travel_pairs_in_either_time_order_and_counts_disorder():
    newest_first = travel.TravelTracker()
    newest_first.feed("u", login(3600, "203.0.113.9", 0, 10))
    trip = newest_first.feed("u", login(0, "198.51.100.1", 0, 0))
    assert trip.start.time == 0 and trip.end.time == 3600 and trip.alert
    assert newest_first.out_of_order == 0
    newest_first.feed("u", login(1800, "198.51.100.3", 0, 0))
    assert newest_first.out_of_order == 1


def test_bordering_countries_table_is_symmetric_pairs():
    from addon import APP_DIR
    import os

    pairs = travel.load_borders(os.path.join(APP_DIR, "lookups", travel.BORDERS_LOOKUP))
    assert frozenset(("united states", "canada")) in pairs
    assert frozenset(("france", "germany")) in pairs
    assert all(len(p) == 2 for p in pairs)


# ---- statistics --------------------------------------------------------------------------

def test_robust_z_hand_values():
    assert countscore.robust_z(30, 2, 1) == pytest.approx(28 / 1.4826)
    assert countscore.robust_z(12, 2, 4) == pytest.approx(10 / (4 * 1.4826))
    # MAD 0: the scale falls back to 1, so z is the plain difference.
    assert countscore.robust_z(7, 2, 0) == pytest.approx(5.0)


def _poisson_tail_by_head(c, lam):
    return 1.0 - sum(math.exp(-lam) * lam ** k / math.factorial(k) for k in range(c))


@pytest.mark.parametrize("c, lam, expected", [
    (1, 1.0, 1 - math.exp(-1)),
    (3, 1.0, 1 - 2.5 / math.e),
    (0, 4.0, 1.0),
    (5, 0.0, 0.0),
])
def test_poisson_tail_hand_values(c, lam, expected):
    assert countscore.poisson_tail(c, lam) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("c, lam", [(10, 2.0), (2, 5.0), (40, 12.5), (7, 7.0)])
def test_poisson_tail_matches_the_head_sum(c, lam):
    assert countscore.poisson_tail(c, lam) == pytest.approx(_poisson_tail_by_head(c, lam), rel=1e-9)


def test_poisson_tail_far_tail_is_tiny_but_positive():
    # P(X >= 1000 | 5): the first term dominates; log10 of it is about -1792.
    p = countscore.poisson_tail(1000, 5.0)
    assert 0.0 <= p < 1e-300


def test_score_decisions_and_reasons():
    hit = countscore.score(30, median=2, mad=1, mean=2, days=9, floor=10, label="instances")
    assert hit.anomalous and hit.state == "anomalous"
    assert hit.reason.startswith("30 instances (usual: median 2, MAD 1; mean 2): robust z 18.9 above 3.5")
    low = countscore.score(6, median=2, mad=1, mean=2, days=9, floor=10)
    assert not low.anomalous and low.state == "below_floor"
    learning = countscore.score(300, median=2, mad=1, mean=2, days=3, floor=10)
    assert not learning.anomalous and learning.state == "learning" and "3 of the 7 days" in learning.reason
    none = countscore.score(300, days=None, floor=1)
    assert none.state == "learning"
    usual = countscore.score(12, median=10, mad=2, mean=10, days=30, floor=5)
    assert not usual.anomalous and usual.state == "normal"
    # Poisson alone: z = (12-10)/1.48 is normal, P(X>=12 | 2) = 3.7e-6 is not.
    only_p = countscore.score(12, median=10, mad=2, mean=2, days=30, floor=5)
    assert only_p.anomalous
    assert not countscore.score(12, median=10, mad=2, mean=2, days=30, floor=5, method="both").anomalous
    assert not countscore.score(12, median=10, mad=2, mean=2, days=30, floor=5, method="robust").anomalous
    assert countscore.score("", median=1).state == "no_count"
    assert countscore.score(5, days=10).state == "no_baseline"



@pytest.mark.parametrize("method", countscore.METHODS)
def test_scorer_rows_match_score(method):
    # trailwatchscore writes Scorer.row (memoised, text out); it must say what score() says.
    settings = dict(floor=5, k=3.5, p_threshold=0.001, min_days=7, method=method, label="x")
    scorer = countscore.Scorer(**settings)
    scorer.LIMIT = 50  # the memo dicts fill and clear during the run
    values = ["", None, "0", "1", "2", "3.5", "10", "0.25", "1e3", "abc", "nan", "7", "-3", "60", "14"]
    rng = random.Random(7)
    for _ in range(3000):
        row = tuple(rng.choice(values) for _ in range(5))
        result = countscore.score(*row, **settings)
        assert scorer.row(*row) == (
            "1" if result.anomalous else "0", result.state,
            None if result.robust_z is None else str(round(result.robust_z, 3)),
            None if result.poisson_p is None else "%.4g" % result.poisson_p, result.reason), row


@pytest.mark.parametrize("method, words", [
    ("either", "12 x (usual: median 2, MAD 1; mean 2): robust z 6.7 above 3.5, Poisson p 1.4e-06 below 0.001"),
    ("both", "12 x (usual: median 2, MAD 1; mean 2): robust z 6.7 above 3.5, Poisson p 1.4e-06 below 0.001"),
    ("robust", "12 x (usual: median 2, MAD 1; mean 2): robust z 6.7 above 3.5"),
    ("poisson", "12 x (usual: median 2, MAD 1; mean 2): Poisson p 1.4e-06 below 0.001"),
])
def test_reason_names_the_tests_the_method_decides_by(method, words):
    assert countscore.score("12", "2", "1", "2", "30", method=method, label="x").reason == words
    assert countscore.Scorer(method=method, label="x").row("12", "2", "1", "2", "30")[4] == words


def test_reason_falls_back_to_what_the_baseline_allows():
    # method=robust without a median: no z, so the reason gives the Poisson figure it has.
    result = countscore.score("12", None, None, "2", "30", method="robust", label="x")
    assert (result.state, result.reason) == (
        "normal", "12 x (usual: mean 2): Poisson p 1.4e-06 below 0.001")


def test_scorer_multivalue_inputs_count_by_their_first_value():
    scorer = countscore.Scorer(floor=5)
    single = scorer.row("12", "1", "1", "1", "30")
    assert single[1] == "anomalous"
    assert scorer.row(["12", "3"], ["1", "9"], "1", ["1"], "30") == single
    assert scorer.row([], "1", "1", "1", "30")[1] == "no_count"  # an empty multivalue is no value
    assert scorer.row("12", "1", "1", "1", ["2", "30"])[1] == "learning"
    # An unhashable non-list value is scored without the memo, as score() scores it.
    assert scorer.row("12", "1", "1", {"mean": 1}, "30") == scorer._plain("12", "1", "1", {"mean": 1}, "30")
    assert scorer.row("12", "1", "1", {"mean": 1}, "30")[4].endswith("robust z 7.4 above 3.5")


# ---- CIDR intervals --------------------------------------------------------------------------

RANGES = [
    ("10.0.0.0/8", "corporate", "corp", "Example Corp"),
    ("10.1.0.0/16", "risky", "bad-net", ""),
    ("10.1.2.3", "suspicious", "ti", "Intel"),
    ("2001:db8::/32", "anonymous", "vpn", "SomeVPN"),
    ("2001:db8:1::/48", "cloud_provider", "cloud", "AWS"),
    ("192.0.2.0-192.0.2.255", "corporate", "office", ""),
    ("192.0.2.128/25", "anonymous", "tor", ""),
]


@pytest.mark.parametrize("ip, category", [
    ("10.1.2.3", "suspicious"), ("10.1.2.4", "risky"), ("10.2.0.0", "corporate"),
    ("10.255.255.255", "corporate"), ("11.0.0.0", None), ("9.255.255.255", None),
    ("2001:db8:1::5", "cloud_provider"), ("2001:db8:2::5", "anonymous"), ("2001:db9::1", None),
    ("::ffff:10.1.2.3", "suspicious"), ("192.0.2.127", "corporate"), ("192.0.2.128", "anonymous"),
    ("AWS Internal", None), ("ec2.amazonaws.com", None), ("", None), ("300.1.1.1", None),
    ("1.2.3", None),
])
def test_most_specific_range_wins(ip, category):
    classifier = ipranges.IpClassifier(RANGES)
    label = classifier.classify(ip)
    assert (label[0] if label else None) == category


def test_identical_ranges_keep_the_first_loaded_and_bad_rows_are_reported():
    classifier = ipranges.IpClassifier([
        ("198.51.100.0/24", "corporate", "admin", ""), ("198.51.100.0/24", "risky", "feed", ""),
        ("not-a-range", "risky", "feed", ""), ("203.0.113.0/24", "evil", "feed", ""),
    ])
    assert classifier.classify("198.51.100.7") == ("corporate", "admin", "")
    assert len(classifier.errors) == 2 and "unknown category 'evil'" in classifier.errors[1]


def test_random_ranges_agree_with_a_linear_scan():
    rng = random.Random(7)
    ranges = []
    for i in range(400):
        prefix = rng.choice([8, 12, 16, 20, 24, 28, 32])
        net = ipaddress.ip_network("%d.%d.%d.%d/%d" % (rng.choice([10, 11]), rng.randrange(4),
                                                       rng.randrange(256), rng.randrange(256), prefix),
                                   strict=False)
        ranges.append((str(net), rng.choice(ipranges.CATEGORIES), "l%d" % i, ""))
    classifier = ipranges.IpClassifier(ranges)
    nets = [(ipaddress.ip_network(r[0]), i, r) for i, r in enumerate(ranges)]
    for _ in range(3000):
        ip = "%d.%d.%d.%d" % (rng.choice([10, 11, 12]), rng.randrange(4), rng.randrange(256),
                              rng.randrange(256))
        addr = ipaddress.ip_address(ip)
        covering = [(n.num_addresses, i, r) for n, i, r in nets if addr in n]
        want = min(covering)[2][1:] if covering else None
        assert classifier.classify(ip) == want, ip


def test_parse_range_errors_say_why():
    with pytest.raises(ipranges.RangeError, match="ends before it starts"):
        ipranges.parse_range("10.0.0.9-10.0.0.1")
    with pytest.raises(ipranges.RangeError, match="mixes IPv4 and IPv6"):
        ipranges.parse_range("10.0.0.1-::1")


def _full_parse(text):
    """What the ipaddress module says of a range: (version, first, last) or the error text."""
    try:
        return ipranges._parse_range_full(text.strip())
    except ipranges.RangeError as exc:
        return str(exc)


def _quick_parse(text):
    try:
        return ipranges.parse_range(text)
    except ipranges.RangeError as exc:
        return str(exc)


@pytest.mark.parametrize("text", [
    "198.51.100.7", "198.51.100.7/32", "198.51.100.7/24", "0.0.0.0/0", "10.0.0.0/8",
    " 203.0.113.0/25 ", "2001:db8::/32", "2001:db8::1", "2001:db8::1/128", "::/0",
    "::ffff:198.51.100.7", "::ffff:198.51.100.0/120", "2001:db8::1.2.3.4/126",
    "198.51.100.7/33", "2001:db8::/129", "198.51.100.7/", "198.51.100.7/24/1", "198.51.100.7/ 24",
    "198.51.100.7/+24", "198.51.100.7/-1", "198.51.100.7/255.255.255.0", "198.51.100.7/0.0.0.255",
    "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "fe80::1%eth0", "fe80::1%eth0/64",
    "2001:db8::g", "example.com", "198.51.100.1-198.51.100.9", "198.51.100.7/２４",
])
def test_quick_block_parse_agrees_with_the_ipaddress_module(text):
    # parse_range takes a C fast path for addresses and address/prefix; whatever it
    # accepts, rejects or words must be what the ipaddress module would say.
    assert _quick_parse(text) == _full_parse(text)


def test_quick_block_parse_agrees_on_random_blocks():
    rng = random.Random(5)
    for _ in range(3000):
        if rng.random() < 0.5:
            value, bits = rng.getrandbits(32), 32
            address = "%d.%d.%d.%d" % tuple(value >> s & 255 for s in (24, 16, 8, 0))
        else:
            value, bits = rng.getrandbits(128), 128
            address = str(ipaddress.IPv6Address(value))
        text = address if rng.random() < 0.2 else "%s/%d" % (address, rng.randrange(bits + 2))
        assert _quick_parse(text) == _full_parse(text), text


def test_read_range_rows_by_column_name_with_defaults(tmp_path):
    path = tmp_path / "trailwatch_ip_feed_office.csv"
    path.write_text("category, range ,description\n"
                    "Corporate,198.51.100.0/24,HQ egress\n"
                    "\n"
                    "risky,# 203.0.113.0/24 commented out\n"
                    "anonymous\n"
                    "suspicious, 2001:db8::/32 \n", encoding="utf-8")
    assert list(ipranges.read_range_rows(str(path))) == [
        ("198.51.100.0/24", "corporate", "trailwatch_ip_feed_office", ""),
        ("2001:db8::/32", "suspicious", "trailwatch_ip_feed_office", ""),
    ]
    bad = tmp_path / "trailwatch_ip_feed_bad.csv"
    bad.write_text("cidr,category\n10.0.0.0/8,risky\n", encoding="utf-8")
    with pytest.raises(ipranges.RangeError, match="trailwatch_ip_feed_bad.csv has no 'range' column"):
        list(ipranges.read_range_rows(str(bad)))
    empty = tmp_path / "trailwatch_ip_feed_empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ipranges.RangeError, match="no 'range' column"):
        list(ipranges.read_range_rows(str(empty)))


def test_option_messages_say_what_is_expected():
    with pytest.raises(options.OptionError, match=r"cmd: max_speed must be a number of at least 0, not 'fast'"):
        options.number("cmd", "max_speed", "fast", minimum=0)
    with pytest.raises(options.OptionError, match="must be one of drop, lower"):
        options.choice("cmd", "relay_action", "ignore", ("drop", "lower"))
    assert options.boolean("cmd", "all", "T") is True
