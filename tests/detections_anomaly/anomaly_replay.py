"""Helpers for the baseline tests: realistic CloudTrail records and baseline runs chained
through a --state folder (the B01-B11 detections' own cases are files under
detections/b*/cases/, run by tests/detections/test_detection_cases.py)."""
import calendar
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
TOOLS = os.path.join(os.path.dirname(TESTS), "tools")
if TOOLS not in sys.path:
    sys.path.append(TOOLS)

from addon import APP_DIR  # noqa: E402
from splreplay.runner import Replay  # noqa: E402
from twcontent.model import load_all, with_summaries  # noqa: E402

CONTENT = load_all()

ACCOUNT = "111122223333"


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


_seq = [0]


def record(t, name, source, user="alice", ip="203.0.113.10", account=ACCOUNT, region="us-east-1",
           identity=None, req=None, resp=None, error=None, extra=None):
    """One CloudTrail record as AWS writes it (IAM user by default)."""
    _seq[0] += 1
    if identity is None:
        identity = {"type": "IAMUser", "principalId": "AIDA" + user.upper().ljust(16, "X")[:16],
                    "arn": "arn:aws:iam::%s:user/%s" % (account, user), "accountId": account,
                    "accessKeyId": "AKIA" + user.upper().ljust(16, "Q")[:16], "userName": user}
    rec = {"eventVersion": "1.09", "userIdentity": identity,
           "eventTime": iso(t) if not isinstance(t, str) else t, "eventSource": source,
           "eventName": name, "awsRegion": region, "sourceIPAddress": ip,
           "userAgent": "Mozilla/5.0"}
    if error:
        # where CloudTrail writes them: before requestParameters (with the keys in the order
        # AWS writes them, a large request leaves them inside the 5,000 bytes that automatic
        # JSON extraction reads; appended at the end they used to fall outside it)
        rec["errorCode"], rec["errorMessage"] = error, "%s: denied" % error
    rec.update({"requestParameters": req, "responseElements": resp,
                "requestID": "req-%d" % _seq[0], "eventID": "evt-%08d" % _seq[0],
                "readOnly": name.startswith(("Get", "List", "Describe")),
                "eventType": "AwsApiCall", "managementEvent": True,
                "recipientAccountId": account, "eventCategory": "Management"})
    rec.update(extra or {})
    return rec


class Scenario(object):
    """Saved searches of the built add-on run one after the other over records, sharing a
    --state folder (where their outputlookup tables go)."""

    def __init__(self, tmp_path):
        self.state = str(tmp_path / "state")
        self.warnings = []

    def replay(self):
        return Replay(APP_DIR, state_dir=self.state, warn=self.warnings.append)

    def run(self, name, records, now):
        """The search's rows over the records (the summary searches it requires run first,
        over the same records, as the scheduler runs them before it)."""
        r = self.replay()
        return r.run_saved(with_summaries([name], CONTENT), r.events_from_records(records), now)

    def lookup(self, name):
        r = self.replay()
        return r.spl("| inputlookup %s" % name, [])
