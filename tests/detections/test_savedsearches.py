"""What an admin gets in savedsearches.conf and macros.conf: every policy as a disabled,
scheduled, throttled, annotated, self-documenting alert, tunable through macros; and the
support searches that keep the detections' lookups current."""
import json
import os
import re
import sys

import pytest

from detection_cases import APP_DIR, POLICIES, SHARED_MACROS, SUPPORT, TOOLS, policy_dir, replay

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.conf import load_conf  # noqa: E402
from splreplay.kvstore import KvStore  # noqa: E402

MITRE = re.compile(r"^T\d{4}(\.\d{3})?$")


@pytest.fixture(scope="module")
def saved():
    return load_conf(APP_DIR, "savedsearches")


@pytest.fixture(scope="module")
def macros():
    conf = load_conf(APP_DIR, "macros")
    return {name: conf.get(name) for name in conf.names()}


def cron_minutes(cron):
    """The period of a cron that runs every N minutes, staggered: 'M,M+N,... * * * *'."""
    fields = cron.split()
    assert fields[1:] == ["*"] * 4, cron
    minutes = [int(m) for m in fields[0].split(",")]
    steps = {b - a for a, b in zip(minutes, minutes[1:], strict=False)}
    assert len(steps) == 1 and 60 % steps.pop() == 0 and minutes[0] < 60 // len(minutes), cron
    return 60 // len(minutes)


def relative_minutes(spec):
    match = re.fullmatch(r"-(\d+)m@m", spec)
    assert match, spec
    return int(match.group(1))


def test_our_searches_are_there(saved):
    ours = [POLICIES[p][1] for p in POLICIES] + list(SUPPORT)
    assert set(ours) <= set(saved.names())
    for name in saved.names():
        assert name.startswith("TrailWatch - "), name


@pytest.mark.parametrize("policy_id", sorted(POLICIES))
def test_detection_stanza(policy_id, saved, macros):
    stanza = saved.get(POLICIES[policy_id][1])
    assert stanza["disabled"] == "1"
    assert stanza["enableSched"] == "1" and "is_scheduled" not in stanza
    assert stanza["realtime_schedule"] == "0"  # continuous: no window is ever skipped
    period = cron_minutes(stanza["cron_schedule"])
    earliest = relative_minutes(stanza["dispatch.index_earliest"])
    latest = relative_minutes(stanza["dispatch.index_latest"])
    assert earliest - latest == period, "index-time windows must tile: %s" % stanza
    assert latest >= 5, "leave time for indexing before a window is searched"
    assert stanza["dispatch.earliest_time"].startswith("-")
    # alert once per result, throttled per user and target
    assert (stanza["counttype"], stanza["relation"], stanza["quantity"]) == \
        ("number of events", "greater than", "0")
    assert stanza["alert.digest_mode"] == "0"
    assert stanza["alert.suppress"] == "1"
    assert {"user", "target"} <= set(stanza["alert.suppress.fields"].split(","))
    assert re.fullmatch(r"\d+[smhd]", stanza["alert.suppress.period"])
    # MITRE ATT&CK: annotations cover every technique the results can carry
    annotations = json.loads(stanza["action.correlationsearch.annotations"])
    techniques = annotations["mitre_attack"]
    assert techniques and all(MITRE.match(t) for t in techniques)
    used = set(re.findall(r'"(T\d{4}(?:\.\d{3})?)"', stanza["search"]))
    assert used and used <= set(techniques), (used, techniques)
    # documentation an admin reads in Splunk
    description = " ".join(stanza["description"].split())
    assert description.startswith(policy_id + ".")
    assert "false positive" in description.lower() and "tune" in description.lower()
    # the search: starts from the data macro, ends with the contract table and the alert event
    # the Log Event action writes, has a filter knob
    search = stanza["search"]
    assert re.match(r"^\(?`trailwatch_cloudtrail`", search)
    assert " ".join(search.split()).endswith("| `trailwatch_alert_table` | `trailwatch_alert_event`")
    filters = re.findall(r"`(trailwatch_%s_\w+_filter)`" % policy_id.lower(), search)
    assert len(filters) == 1, filters
    assert macros[filters[0]]["definition"] == "search *"
    assert 'policy_id="%s"' % policy_id in search
    assert "`trailwatch_allowlist`" in search and "`trailwatch_dedup_events`" in search


def test_every_macro_used_is_defined_and_every_policy_macro_is_used(saved, macros):
    texts = [saved.get(n)["search"] for n in saved.names()]
    texts += [m.get("definition", "") for m in macros.values()]
    referenced = set()
    for text in texts:
        referenced |= set(re.findall(r"`(\w+)(?:\([^`]*\))?`", text))
    defined = {re.sub(r"\(\d+\)$", "", name) for name in macros}
    assert referenced <= defined, sorted(referenced - defined)
    ours = [m for m in macros if re.match(r"trailwatch_(a\d\d|c01)_", m)] + list(SHARED_MACROS)
    assert len(ours) > 40 and set(SHARED_MACROS) <= set(macros)
    unused = [m for m in ours if m not in referenced]
    assert not unused, "macros nothing uses: %s" % unused
    for name in macros:
        assert name.startswith("trailwatch_"), name


def test_support_searches(saved):
    for name in SUPPORT:
        stanza = saved.get(name)
        assert stanza["disabled"] == "1" and stanza["enableSched"] == "1"
        # override_if_empty=false: a run that finds nothing keeps the lookup (and its header)
        assert "| outputlookup override_if_empty=false trailwatch_" in stanza["search"]
        assert "inputlookup append=true" in stanza["search"]  # keeps what the admin listed


def _state_with_shipped_lookups(tmp_path):
    """A fresh state folder: the KV store collections start empty; shipped defaults
    (lookups/*_default.csv) are read from the app."""
    state = tmp_path / "state"
    state.mkdir(parents=True)
    return str(state)


def test_learned_trail_bucket_feeds_a02(tmp_path, geoip):
    """A trail created towards a bucket of any name; the support search learns the bucket; then
    a 1-day lifecycle rule on it alerts in A02 (the shipped name patterns are kept)."""
    state = _state_with_shipped_lookups(tmp_path)
    events = os.path.join(policy_dir("A02"), "support")
    replay(os.path.join(events, "create_trail.json"), ["TrailWatch - Support - Trail buckets"],
           state=state)
    learned = KvStore(state).rows("trailwatch_trail_buckets", None)
    assert [r["bucket_name"] for r in learned] == ["security-audit-archive-111122223333"]
    with open(os.path.join(APP_DIR, "lookups", "trailwatch_trail_buckets_default.csv")) as handle:
        assert "*cloudtrail*" in handle.read()  # the shipped patterns stay beside it
    rows = replay(os.path.join(events, "short_lifecycle.json"), [POLICIES["A02"][1]],
                  geoip=geoip, state=state)
    assert [(r["target"], r["severity"]) for r in rows] == \
        [("security-audit-archive-111122223333", "high")]
    # without the learned bucket the same rule is not about a trail bucket
    assert replay(os.path.join(events, "short_lifecycle.json"), [POLICIES["A02"][1]],
                  geoip=geoip, state=_state_with_shipped_lookups(tmp_path / "fresh")) == []


def test_learned_public_route_table_lowers_a10(tmp_path, geoip):
    """The first internet route of a table is high (previously private); once the support
    search has seen it, a later internet route in that table is medium."""
    state = _state_with_shipped_lookups(tmp_path)
    events = os.path.join(policy_dir("A10"), "support")
    first = replay(os.path.join(events, "first_internet_route.json"), [POLICIES["A10"][1]],
                   geoip=geoip, state=state)
    assert [r["severity"] for r in first] == ["high"]
    replay(os.path.join(events, "first_internet_route.json"),
           ["TrailWatch - Support - Public route tables"], state=state)
    later = replay(os.path.join(events, "later_internet_route.json"), [POLICIES["A10"][1]],
                   geoip=geoip, state=state)
    assert [(r["target"], r["severity"]) for r in later] == [("rtb-0c0ffee0c0ffee001", "medium")]
