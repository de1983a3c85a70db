"""The demo organisation and its two weeks (and two days) of CloudTrail activity, ending in an attack.

Everything is made up and deterministic (a seeded generator): two accounts, their people and
automation, ordinary working-hours activity, then on the last day an attack told in seven steps
(console password spraying, a new administrator access key, CloudTrail stopped, a bucket made
public, instances launched in a region the organisation never used, mass deletion, and a
console sign-in from the attacker's city 90 minutes after the same user's from the office:
impossible travel).
Addresses come from the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24);
the demo's GeoIP database (``write_geoip``) puts the organisation's in Dublin and the
attacker's in Singapore.

Records follow the CloudTrail record format (eventVersion 1.09), so the add-on's inputs,
search-time knowledge and detections treat them as they would treat real ones.
"""
import datetime
import random
import uuid

from splreplay.mmdb_writer import city, write_mmdb

PROD = "111111111111"
DATA = "222222222222"
TRAIL = "organisation-trail"
NEW_REGION = "ap-southeast-2"
ATTACKER_IPS = ("203.0.113.66", "203.0.113.67")

# Who works where, from which address, doing what (event source, name, read-only).
PEOPLE = {
    PROD: [
        {"user": "alice", "ip": "198.51.100.10", "console": True, "admin": True},
        {"user": "bob", "ip": "198.51.100.11", "console": True, "admin": False},
        {"user": "erin", "ip": "198.51.100.12", "console": True, "admin": False},
    ],
    DATA: [
        {"user": "carol", "ip": "198.51.100.20", "console": True, "admin": True},
        {"user": "dave", "ip": "198.51.100.21", "console": False, "admin": False},
    ],
}
ROLES = {PROD: ("ci-deployer", "192.0.2.20"), DATA: ("etl-runner", "192.0.2.30")}
BUCKETS = {PROD: ["prod-web-assets", "prod-customer-exports", "prod-app-logs"],
           DATA: ["data-lake-raw", "data-lake-curated"]}
HOME_REGIONS = ("us-east-1", "eu-west-1")
# Where the addresses are: the office and its CI runners in Dublin, the attacker in Singapore
# (about 11,200 km apart).
DUBLIN = dict(name="Dublin", country="Ireland", iso="IE", lat=53.3498, lon=-6.2603,
              region="Leinster", continent="Europe", tz="Europe/Dublin")
PLACES = {
    "198.51.100.0/24": DUBLIN,
    "192.0.2.0/24": DUBLIN,
    "203.0.113.0/24": dict(name="Singapore", country="Singapore", iso="SG", lat=1.2897,
                           lon=103.8501, continent="Asia", tz="Asia/Singapore"),
}

ROUTINE = [
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", True),
    ("s3.amazonaws.com", "ListBuckets", True),
    ("s3.amazonaws.com", "GetBucketAcl", True),
    ("iam.amazonaws.com", "ListUsers", True),
    ("sts.amazonaws.com", "GetCallerIdentity", True),
    ("logs.amazonaws.com", "DescribeLogGroups", True),
    ("ec2.amazonaws.com", "CreateTags", False),
    ("s3.amazonaws.com", "PutBucketTagging", False),
    ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", False),
]
AUTOMATION = [
    ("cloudformation.amazonaws.com", "DescribeStacks", True),
    ("ec2.amazonaws.com", "RunInstances", False),
    ("ec2.amazonaws.com", "TerminateInstances", False),
    ("s3.amazonaws.com", "GetBucketLocation", True),
    ("ecr.amazonaws.com", "GetAuthorizationToken", True),
]

CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def iam_user_identity(account, name, key=None):
    return {"type": "IAMUser", "principalId": "AIDA" + (account + name).upper()[:17],
            "arn": "arn:aws:iam::%s:user/%s" % (account, name), "accountId": account,
            "accessKeyId": key or ("AKIA" + (name + account).upper()[:16]), "userName": name}


def role_identity(account, role, session):
    return {
        "type": "AssumedRole", "principalId": "AROA%s:%s" % (account, session),
        "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (account, role, session),
        "accountId": account, "accessKeyId": "ASIA" + (role + account).upper()[:16],
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROA" + account,
                              "arn": "arn:aws:iam::%s:role/%s" % (account, role),
                              "accountId": account, "userName": role},
            "attributes": {"mfaAuthenticated": "false"}},
    }


class Story:
    """Builds the records in time order; ``steps`` names the attack's records per step."""

    def __init__(self, start, days=16, seed=7):
        self.start = start
        self.days = days
        self.rng = random.Random(seed)
        self.records = []
        self.steps = {}
        self._n = 0

    def record(self, when, account, identity, source, name, ip, region="us-east-1",
               read_only=False, request=None, response=None, error=None, agent=CLI,
               event_type="AwsApiCall"):
        self._n += 1
        rec = {
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": _iso(when),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
            "requestParameters": request,
            "responseElements": response,
            "requestID": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "eventID": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "readOnly": read_only,
            "eventType": event_type,
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        }
        if error:
            rec["errorCode"], rec["errorMessage"] = error
        self.records.append(rec)
        return rec

    def console_login(self, when, account, identity, ip, success=True):
        rec = self.record(when, account, identity, "signin.amazonaws.com", "ConsoleLogin", ip,
                          response={"ConsoleLogin": "Success" if success else "Failure"},
                          agent=BROWSER, event_type="AwsConsoleSignIn")
        rec["additionalEventData"] = {"LoginTo": "https://console.aws.amazon.com/console/home",
                                      "MobileVersion": "No", "MFAUsed": "Yes" if success else "No"}
        if not success:
            rec["errorMessage"] = "Failed authentication"
        return rec

    # ---- two weeks of ordinary work ------------------------------------------------------
    def ordinary(self):
        rng = self.rng
        for day in range(self.days):
            date = self.start + datetime.timedelta(days=day)
            weekend = date.weekday() >= 5
            for account, people in sorted(PEOPLE.items()):
                for person in people:
                    if weekend and rng.random() < 0.8:
                        continue
                    ident = iam_user_identity(account, person["user"])
                    first = date + datetime.timedelta(hours=8, minutes=rng.randrange(60))
                    if person["console"]:
                        self.console_login(first, account, ident, person["ip"])
                    for _ in range(rng.randrange(6, 14)):
                        when = first + datetime.timedelta(minutes=rng.randrange(10, 540))
                        source, name, ro = rng.choice(ROUTINE)
                        self.record(when, account, ident, source, name, person["ip"],
                                    region=rng.choice(HOME_REGIONS), read_only=ro,
                                    request=self._request(account, name))
                role, ip = ROLES[account]
                ident = role_identity(account, role, "build-%d" % day)
                for hour in range(0, 24, 3):
                    source, name, ro = rng.choice(AUTOMATION)
                    when = date + datetime.timedelta(hours=hour, minutes=rng.randrange(60))
                    self.record(when, account, ident, source, name, ip, region="us-east-1",
                                read_only=ro, request=self._request(account, name),
                                agent="Boto3/1.34.0 md/Botocore#1.34.0")

    def network_setup(self):
        """The first morning: each account's VPC gets its route to the internet gateway."""
        for n, account in enumerate(sorted(ROLES)):
            role, ip = ROLES[account]
            when = self.start + datetime.timedelta(hours=7, minutes=n)
            self.record(when, account, role_identity(account, role, "network-setup"),
                        "ec2.amazonaws.com", "CreateRoute", ip,
                        request={"routeTableId": "rtb-0%016x" % (n + 1),
                                 "destinationCidrBlock": "0.0.0.0/0",
                                 "gatewayId": "igw-0%016x" % (n + 1)},
                        response={"_return": True},
                        agent="Boto3/1.34.0 md/Botocore#1.34.0")

    def _request(self, account, name):
        rng = self.rng
        if name in ("GetBucketAcl", "PutBucketTagging", "GetBucketLocation"):
            return {"bucketName": rng.choice(BUCKETS[account])}
        if name == "RunInstances":
            return {"instanceType": "t3.micro", "minCount": 1, "maxCount": 1}
        if name in ("TerminateInstances", "CreateTags"):
            return {"instancesSet": {"items": [{"instanceId": "i-%017x" % rng.getrandbits(68)}]}}
        return None

    # ---- the attack, on the last day -----------------------------------------------------
    def attack(self):
        day = self.start + datetime.timedelta(days=self.days - 1)
        t = day + datetime.timedelta(hours=2)
        ip, ip2 = ATTACKER_IPS
        minute = datetime.timedelta(minutes=1)

        spray = []
        targets = ["alice", "bob", "erin", "admin", "backup"]
        for _round in range(4):
            for name in targets:
                ident = iam_user_identity(PROD, name)
                t += datetime.timedelta(seconds=20)
                spray.append(self.console_login(t, PROD, ident, ip, success=False))
        t += minute
        spray.append(self.console_login(t, PROD, iam_user_identity(PROD, "bob"), ip))
        self.steps["password_spraying"] = spray

        bob = iam_user_identity(PROD, "bob")
        t += 5 * minute
        key_steps = [
            self.record(t, PROD, bob, "iam.amazonaws.com", "CreateUser", ip,
                        request={"userName": "backup-svc"},
                        response={"user": {"userName": "backup-svc"}}),
            self.record(t + minute, PROD, bob, "iam.amazonaws.com", "AttachUserPolicy", ip,
                        request={"userName": "backup-svc",
                                 "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            self.record(t + 2 * minute, PROD, bob, "iam.amazonaws.com", "CreateAccessKey", ip,
                        request={"userName": "backup-svc"},
                        response={"accessKey": {"userName": "backup-svc", "status": "Active",
                                                "accessKeyId": "AKIABACKUPSVC0000001"}}),
        ]
        self.steps["new_admin_access_key"] = key_steps

        intruder = iam_user_identity(PROD, "backup-svc", key="AKIABACKUPSVC0000001")
        t += 10 * minute
        trail_arn = "arn:aws:cloudtrail:us-east-1:%s:trail/%s" % (PROD, TRAIL)
        self.steps["cloudtrail_stopped"] = [
            self.record(t, PROD, intruder, "cloudtrail.amazonaws.com", "StopLogging", ip2,
                        request={"name": trail_arn})]

        bucket = "prod-customer-exports"
        t += 5 * minute
        policy = ('{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow",'
                  '"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}'
                  % bucket)
        self.steps["bucket_made_public"] = [
            self.record(t, PROD, intruder, "s3.amazonaws.com", "DeleteBucketPublicAccessBlock",
                        ip2, request={"bucketName": bucket, "publicAccessBlock": ""}),
            self.record(t + minute, PROD, intruder, "s3.amazonaws.com", "PutBucketPolicy", ip2,
                        request={"bucketName": bucket, "bucketPolicy": policy}),
            self.record(t + 2 * minute, PROD, intruder, "s3.amazonaws.com", "PutBucketAcl", ip2,
                        request={"bucketName": bucket, "AccessControlPolicy": {
                            "AccessControlList": {"Grant": [{
                                "Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers",
                                            "xsi:type": "Group"},
                                "Permission": "READ"}]}}}),
        ]

        t += 10 * minute
        launches = []
        for n in range(6):
            launches.append(self.record(
                t + n * minute, PROD, bob, "ec2.amazonaws.com", "RunInstances", ip,
                region=NEW_REGION, request={"instanceType": "p3.8xlarge", "minCount": 4,
                                            "maxCount": 4},
                response={"instancesSet": {"items": [
                    {"instanceId": "i-0a%015x" % (n * 4 + k)} for k in range(4)]}}))
        self.steps["instances_in_new_region"] = launches

        t += 20 * minute
        deletions = []
        for n, name in enumerate(["prod-app-logs-archive-%02d" % i for i in range(14)]):
            deletions.append(self.record(t + n * datetime.timedelta(seconds=30), PROD, bob,
                                         "s3.amazonaws.com", "DeleteBucket", ip,
                                         request={"bucketName": name}))
        for n in range(12):
            deletions.append(self.record(
                t + datetime.timedelta(minutes=8, seconds=20 * n), PROD, bob,
                "ec2.amazonaws.com", "TerminateInstances", ip,
                request={"instancesSet": {"items": [{"instanceId": "i-0b%015x" % n}]}}))
        self.steps["mass_deletion"] = deletions

        # Later that morning alice signs in at the office again (her own sign-in, not part of
        # the attack); 90 minutes after, someone with her password and an MFA code phished
        # with it signs in as her from Singapore.
        alice = iam_user_identity(PROD, "alice")
        office = next(p["ip"] for p in PEOPLE[PROD] if p["user"] == "alice")
        t = day + datetime.timedelta(hours=11, minutes=4)
        self.console_login(t, PROD, alice, office)
        self.steps["impossible_travel"] = [
            self.console_login(t + datetime.timedelta(minutes=90), PROD, alice, ip2)]


def write_geoip(path):
    """The demo's GeoIP database (a GeoLite2-City-shaped MMDB locating ``PLACES``) -> path."""
    return write_mmdb(path, {cidr: city(**place) for cidr, place in PLACES.items()})


def build(start=datetime.datetime(2024, 6, 3, tzinfo=datetime.timezone.utc), days=16, seed=7):
    """The story: {"records": [...] in time order, "steps": {step: [records]}}."""
    story = Story(start, days=days, seed=seed)
    story.network_setup()
    story.ordinary()
    story.attack()
    story.records.sort(key=lambda r: r["eventTime"])
    return {"records": story.records, "steps": story.steps,
            "accounts": [PROD, DATA], "buckets": BUCKETS, "trail": TRAIL}
