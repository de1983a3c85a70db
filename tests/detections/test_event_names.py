"""Every eventName our detections name is a real CloudTrail eventName of its service.

CloudTrail records most API calls under the SDK's operation name, so the names are checked
against botocore's service models (the bundled, pinned botocore of the built add-on: the
tests' conftest puts its lib/ first on sys.path). A typo, or an IAM permission name where a
CloudTrail eventName belongs, fails here. The few CloudTrail names that are not SDK
operations are listed in EXCEPTIONS with the reason.
"""
import re
import sys

import pytest

from detection_cases import APP_DIR, POLICIES, SUPPORT, TOOLS

if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import botocore  # noqa: E402
import botocore.loaders  # noqa: E402
from splreplay.conf import load_conf  # noqa: E402

# CloudTrail eventSource -> botocore service models whose operations it records
SERVICES = {
    "cloudtrail.amazonaws.com": ("cloudtrail",),
    "ec2.amazonaws.com": ("ec2",),
    "elasticloadbalancing.amazonaws.com": ("elb", "elbv2"),
    "iam.amazonaws.com": ("iam",),
    "rds.amazonaws.com": ("rds",),
    "s3.amazonaws.com": ("s3", "s3control"),
    "signin.amazonaws.com": (),
    "sts.amazonaws.com": ("sts",),
}

# (eventSource, eventName) recorded by CloudTrail but not an SDK operation name
EXCEPTIONS = {
    ("signin.amazonaws.com", "ConsoleLogin"):
        "a console sign-in event, not an API call",
    ("signin.amazonaws.com", "GetSigninToken"):
        "the federation endpoint (signin.aws.amazon.com/federation), not in any SDK",
    ("s3.amazonaws.com", "PutBucketPublicAccessBlock"):
        "CloudTrail's name for S3 PutPublicAccessBlock on a bucket",
    ("s3.amazonaws.com", "DeleteBucketPublicAccessBlock"):
        "CloudTrail's name for S3 DeletePublicAccessBlock on a bucket",
    ("s3.amazonaws.com", "PutAccountPublicAccessBlock"):
        "CloudTrail's name for S3 Control PutPublicAccessBlock (account level)",
    ("s3.amazonaws.com", "DeleteAccountPublicAccessBlock"):
        "CloudTrail's name for S3 Control DeletePublicAccessBlock (account level)",
}

_SOURCE = re.compile(r'eventSource="?([\w.-]+)"?')
_NAMES = re.compile(r'eventName\s+IN\s*\(([^)]*)\)|eventName="?([A-Za-z0-9*]+)"?')
# The activity and file policies' macros (A01-A10, C01) and the searches of this suite; the
# anomaly policies (B01-B11) keep their own lists.
_OUR_MACROS = re.compile(r"^trailwatch_(a\d\d|c01)_")


@pytest.fixture(scope="module")
def operations():
    assert botocore.__file__.startswith(APP_DIR), \
        "botocore must come from the built add-on, not %s" % botocore.__file__
    loader = botocore.loaders.Loader()
    return {svc: set(loader.load_service_model(svc, "service-2")["operations"])
            for svcs in SERVICES.values() for svc in svcs}


def macros():
    conf = load_conf(APP_DIR, "macros")
    return {name: conf.get(name).get("definition", "") for name in conf.names()}


def search_clause_names(text):
    """(eventSource, eventName) pairs of a search-language text: each eventName term belongs
    to the nearest eventSource before it."""
    sources = [(m.start(), m.group(1)) for m in _SOURCE.finditer(text)]
    pairs = []
    for m in _NAMES.finditer(text):
        before = [s for pos, s in sources if pos < m.start()]
        assert before, "eventName without an eventSource before it: %r" % text
        names = m.group(1).split(",") if m.group(1) is not None else [m.group(2)]
        pairs += [(before[-1], n.strip().strip('"')) for n in names if n.strip()]
    return pairs


def all_pairs():
    pairs = set()
    for name, definition in macros().items():
        if _OUR_MACROS.match(name) and "eventSource=" in definition:
            pairs |= set(search_clause_names(definition))
    conf = load_conf(APP_DIR, "savedsearches")
    for name in [POLICIES[p][1] for p in POLICIES] + list(SUPPORT):
        text = conf.get(name)["search"].split("|")[0]  # the search, not the eval code after it
        if "eventSource=" in text:
            pairs |= set(search_clause_names(text))
    return sorted(pairs)


def test_lists_were_found():
    pairs = all_pairs()
    assert len(pairs) > 150
    assert {source for source, _ in pairs} == set(SERVICES)


@pytest.mark.parametrize("source,name", all_pairs(), ids=lambda v: v)
def test_event_name_is_real(source, name, operations):
    assert "*" not in name, "wildcards hide typos: list %s explicitly" % name
    known = set().union(*[operations[svc] for svc in SERVICES[source]]) if SERVICES[source] else set()
    if (source, name) in EXCEPTIONS:
        assert name not in known, "%s is an SDK operation: drop it from EXCEPTIONS" % name
        return
    assert name in known, "%s is not an operation of %s (botocore %s)" % (
        name, "/".join(SERVICES[source]) or source, botocore.__version__)


def test_exceptions_are_used():
    assert set(EXCEPTIONS) <= set(all_pairs())


def test_eval_event_lists_name_listed_events():
    """Quoted eventName lists used in eval (e.g. A02's calls that stop logging) and eventName
    literals in the searches' eval code only name events the same search selects."""
    defs = macros()
    conf = load_conf(APP_DIR, "savedsearches")
    for stanza in (POLICIES[p][1] for p in POLICIES):
        text = conf.get(stanza)["search"]
        expanded = text
        for _ in range(5):  # nested macros
            expanded = re.sub(r"`([\w]+)`", lambda m: defs.get(m.group(1), m.group(0)), expanded)
        selected = {n for _, n in search_clause_names(expanded.split("|")[0])}
        used = set(re.findall(r'eventName\s*!?=\s*"(\w+)"', expanded))
        for args in re.findall(r"\bin\(eventName,\s*([^)]*)\)", expanded):
            used |= set(re.findall(r'"(\w+)"', args))
        assert used <= selected, "%s: eval names events it never selects: %s" % (
            stanza, sorted(used - selected))
