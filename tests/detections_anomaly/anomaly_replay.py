"""Helpers for the B01-B11 replay cases: realistic CloudTrail records, an app overlay with test
IP lists, a small GeoIP database, and baseline-then-detection runs chained through --state."""
import calendar
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for extra in (os.path.join(TESTS, "commands"), os.path.join(TESTS, "splreplay"),
              os.path.join(os.path.dirname(TESTS), "tools")):
    if extra not in sys.path:
        sys.path.append(extra)

from command_protocol import overlay_app  # noqa: E402
from mmdb_writer import city, write_mmdb  # noqa: E402
from splreplay.runner import Replay  # noqa: E402

ACCOUNT = "111122223333"
IP_RANGES = (
    "range,category,list,provider,description\n"
    "192.0.2.0/25,anonymous,tor-exits,Tor Project,test\n"
    "192.0.2.128/25,suspicious,threat-intel,Intel feed,test\n"
    "2001:db8:bad::/48,anonymous,vpn-v6,AnonVPN,test\n"
    "2001:db8:bad:1::/64,suspicious,threat-intel-v6,Intel feed,test\n"
    "198.51.100.200/32,corporate,office-vpn,Example Corp,test\n"
)
PLACES = {
    "203.0.113.0/26": city("Paris", "France", "FR", 48.8566, 2.3522),
    "203.0.113.64/26": city("New York", "United States", "US", 40.7128, -74.0060,
                            continent="North America"),
    "203.0.113.128/26": city("Berlin", "Germany", "DE", 52.52, 13.405),
    "198.51.100.0/25": city("Sydney", "Australia", "AU", -33.8688, 151.2093, continent="Oceania"),
    "198.51.100.128/25": city("Lyon", "France", "FR", 45.764, 4.8357),
    "192.0.2.0/24": city("Amsterdam", "Netherlands", "NL", 52.3676, 4.9041),
    "2001:db8::/32": city("Lisbon", "Portugal", "PT", 38.7223, -9.1393),
}
PARIS, NEW_YORK, BERLIN, SYDNEY, LYON = ("203.0.113.10", "203.0.113.70", "203.0.113.130",
                                         "198.51.100.10", "198.51.100.140")
TOR, INTEL, CORP_VPN = "192.0.2.10", "192.0.2.140", "198.51.100.200"
TOR6, INTEL6 = "2001:db8:bad::7", "2001:db8:bad:1::9"


def epoch(iso):
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


_seq = [0]


def record(t, name, source, user="alice", ip=PARIS, account=ACCOUNT, region="us-east-1",
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


def login(t, user="alice", ip=PARIS, ok=True, identity=None):
    return record(t, "ConsoleLogin", "signin.amazonaws.com", user=user, ip=ip, identity=identity,
                  resp={"ConsoleLogin": "Success" if ok else "Failure"},
                  extra={"eventType": "AwsConsoleSignIn", "readOnly": False,
                         "additionalEventData": {"MFAUsed": "Yes", "LoginTo": "https://console.aws.amazon.com/"},
                         **({} if ok else {"errorMessage": "Failed authentication"})})


def sso_identity(person, account=ACCOUNT):
    arn = "arn:aws:sts::%s:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/%s" % (account, person)
    return {"type": "AssumedRole", "principalId": "AROAEXAMPLE:" + person, "arn": arn,
            "accountId": account, "accessKeyId": "ASIA" + "Z" * 16,
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AWSReservedSSO_Admin_0123456789abcdef",
                                                 "arn": "arn:aws:iam::%s:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef" % account}}}


def service_identity(service="autoscaling.amazonaws.com"):
    return {"type": "AWSService", "invokedBy": service}


def autoscaling_role_identity(account=ACCOUNT):
    return {"type": "AssumedRole", "principalId": "AROAAS:AutoScaling",
            "arn": "arn:aws:sts::%s:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling" % account,
            "accountId": account, "invokedBy": "autoscaling.amazonaws.com",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "AWSServiceRoleForAutoScaling",
                                                 "arn": "arn:aws:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling" % account}}}


class Scenario(object):
    """Baseline searches over ``history`` (now = end of history), then one detection over
    ``recent`` (now = ``now``), state shared through a --state folder."""

    def __init__(self, tmp_path, lookups=None):
        files = {"trailwatch_ip_ranges.csv": IP_RANGES}
        files.update(lookups or {})
        self.app = overlay_app(tmp_path / "app", files)
        self.geoip = write_mmdb(str(tmp_path / "city.mmdb"), PLACES)
        self.state = str(tmp_path / "state")
        self.warnings = []

    def replay(self):
        return Replay(self.app, state_dir=self.state, geoip=self.geoip, warn=self.warnings.append)

    def run(self, name, records, now):
        r = self.replay()
        events = r.events_from_records(records)
        return r.compile_saved(name, now).run(events)

    def baselines(self, records, now, names=("User activity", "User countries", "User admin actions",
                                             "Hourly counts", "Account regions")):
        for name in names:
            self.run("TrailWatch - Baseline - " + name, records, now)

    def lookup(self, name):
        r = self.replay()
        return r.spl("| inputlookup %s" % name, [])


def history_of(user, start, days, per_day, make):
    """``per_day`` records a day for ``days`` days from ``start`` (epoch), made by make(t, user)."""
    out = []
    for day in range(days):
        for n in range(per_day):
            out.extend(make(start + day * 86400 + 9 * 3600 + n * 600, user))
    return out
