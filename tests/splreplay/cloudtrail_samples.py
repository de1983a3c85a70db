"""Realistic CloudTrail records for splreplay tests, written for these tests.

Shapes follow the CloudTrail record format (eventVersion 1.08/1.09); addresses are from the
documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) and account
ids are made up.
"""
import copy
import uuid

ACCOUNT = "111122223333"


def _base(event_time, event_source, event_name, identity, ip="192.0.2.10", region="us-east-1",
          user_agent="aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22",
          read_only=False, event_id=None):
    return {
        "eventVersion": "1.09",
        "userIdentity": copy.deepcopy(identity),
        "eventTime": event_time,
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": user_agent,
        "requestParameters": None,
        "responseElements": None,
        "requestID": str(uuid.uuid5(uuid.NAMESPACE_URL, "req" + event_time + event_name + ip)),
        "eventID": event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, event_time + event_name + ip)),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": event_source.replace(".amazonaws.com", "")
                       + "." + region + ".amazonaws.com"},
    }


ROOT = {"type": "Root", "principalId": ACCOUNT, "arn": "arn:aws:iam::%s:root" % ACCOUNT,
        "accountId": ACCOUNT}


def iam_user(name, key="AKIAIOSFODNN7EXAMPLE"):
    return {"type": "IAMUser", "principalId": "AIDA" + name.upper().ljust(17, "X")[:17],
            "arn": "arn:aws:iam::%s:user/%s" % (ACCOUNT, name), "accountId": ACCOUNT,
            "accessKeyId": key, "userName": name}


def assumed_role(role, session):
    return {
        "type": "AssumedRole",
        "principalId": "AROA3EXAMPLEROLEID:%s" % session,
        "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT, role, session),
        "accountId": ACCOUNT,
        "accessKeyId": "ASIA3EXAMPLEKEY00001",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROA3EXAMPLEROLEID",
                              "arn": "arn:aws:iam::%s:role/%s" % (ACCOUNT, role),
                              "accountId": ACCOUNT, "userName": role},
            "webIdFederationData": {},
            "attributes": {"creationDate": "2024-03-05T08:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def console_login(event_time, identity, ip, success=True, mfa="No", error_message=None):
    rec = _base(event_time, "signin.amazonaws.com", "ConsoleLogin", identity, ip=ip,
                user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0")
    rec["eventType"] = "AwsConsoleSignIn"
    rec["responseElements"] = {"ConsoleLogin": "Success" if success else "Failure"}
    rec["additionalEventData"] = {
        "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs",
        "MobileVersion": "No", "MFAUsed": mfa}
    if not success:
        rec["errorMessage"] = error_message or "Failed authentication"
    rec.pop("tlsDetails")
    return rec


def stop_logging(event_time, identity, ip="192.0.2.10"):
    rec = _base(event_time, "cloudtrail.amazonaws.com", "StopLogging", identity, ip=ip)
    rec["requestParameters"] = {"name": "arn:aws:cloudtrail:us-east-1:%s:trail/org-trail" % ACCOUNT}
    return rec


def authorize_ingress(event_time, identity, group_id, ranges, from_port=22, to_port=22,
                      ipv6=(), ip="192.0.2.10", error_code=None):
    rec = _base(event_time, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", identity, ip=ip)
    perm = {"ipProtocol": "tcp", "fromPort": from_port, "toPort": to_port, "groups": {},
            "ipRanges": {"items": [{"cidrIp": c} for c in ranges]} if ranges else {},
            "ipv6Ranges": {"items": [{"cidrIpv6": c} for c in ipv6]} if ipv6 else {},
            "prefixListIds": {}}
    rec["requestParameters"] = {"groupId": group_id, "ipPermissions": {"items": [perm]}}
    if error_code:
        rec["errorCode"] = error_code
        rec["errorMessage"] = "You are not authorized to perform this operation."
    else:
        rec["responseElements"] = {"requestId": rec["requestID"], "_return": True,
                                   "securityGroupRuleSet": {"items": [
                                       {"groupId": group_id, "isEgress": False,
                                        "securityGroupRuleId": "sgr-0123456789abcdef0"}]}}
    return rec


def authorize_ingress_flat(event_time, identity, group_id, cidr, port, ip="192.0.2.10"):
    """The older flat request shape (cidrIp/fromPort at the top of requestParameters)."""
    rec = _base(event_time, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", identity, ip=ip)
    rec["requestParameters"] = {"groupId": group_id, "ipProtocol": "tcp", "fromPort": port,
                                "toPort": port, "cidrIp": cidr}
    rec["responseElements"] = {"requestId": rec["requestID"], "_return": True}
    return rec


def describe_instances(event_time, identity, ip="192.0.2.10"):
    rec = _base(event_time, "ec2.amazonaws.com", "DescribeInstances", identity, ip=ip,
                read_only=True)
    rec["requestParameters"] = {"instancesSet": {}, "filterSet": {}}
    return rec


def aws_service_call(event_time):
    ident = {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}
    rec = _base(event_time, "ec2.amazonaws.com", "RunInstances", ident,
                ip="autoscaling.amazonaws.com", user_agent="autoscaling.amazonaws.com")
    rec["requestParameters"] = {"instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890",
                                                            "minCount": 1, "maxCount": 1}]},
                                "instanceType": "t3.micro"}
    return rec


def create_user(event_time, identity, new_user, ip="192.0.2.10"):
    rec = _base(event_time, "iam.amazonaws.com", "CreateUser", identity, ip=ip)
    rec["requestParameters"] = {"userName": new_user}
    rec["responseElements"] = {"user": {"path": "/", "userName": new_user,
                                        "userId": "AIDAEXAMPLENEWUSER01",
                                        "arn": "arn:aws:iam::%s:user/%s" % (ACCOUNT, new_user),
                                        "createDate": "Mar 5, 2024, 9:00:00 AM"}}
    return rec


def list_users(event_time, identity, ip="192.0.2.10"):
    return _base(event_time, "iam.amazonaws.com", "ListUsers", identity, ip=ip, read_only=True)


def scenario():
    """A small day of activity with the cases the fixture saved searches look for."""
    alice = iam_user("alice")
    mallory = iam_user("mallory", key="AKIAI44QH8DHBEXAMPLE")
    ops = assumed_role("OpsAdmin", "carol@example.com")
    return [
        console_login("2024-03-05T08:59:00Z", alice, "192.0.2.10"),
        console_login("2024-03-05T09:00:05Z", ROOT, "203.0.113.9", success=False),
        console_login("2024-03-05T09:00:40Z", ROOT, "203.0.113.9", success=False),
        console_login("2024-03-05T09:01:10Z", ROOT, "203.0.113.200", success=False, mfa="Yes"),
        console_login("2024-03-05T09:02:00Z", ROOT, "203.0.113.9", success=True, mfa="Yes"),
        authorize_ingress("2024-03-05T09:10:00Z", ops, "sg-0a1b2c3d4e5f60718",
                          ["0.0.0.0/0", "10.0.0.0/8"], 22, 22, ip="198.51.100.23"),
        authorize_ingress("2024-03-05T09:11:00Z", ops, "sg-0a1b2c3d4e5f60718", [], 3389, 3389,
                          ipv6=["::/0"], ip="198.51.100.23"),
        authorize_ingress("2024-03-05T09:12:00Z", ops, "sg-0fedcba9876543210", ["0.0.0.0/0"],
                          445, 445, ip="198.51.100.23", error_code="Client.UnauthorizedOperation"),
        authorize_ingress_flat("2024-03-05T09:13:00Z", alice, "sg-0fedcba9876543210",
                               "0.0.0.0/0", 23),
        stop_logging("2024-03-05T09:20:00Z", mallory, ip="198.51.100.7"),
        create_user("2024-03-05T09:21:00Z", mallory, "backdoor", ip="198.51.100.7"),
        list_users("2024-03-05T09:22:00Z", mallory, ip="198.51.100.7"),
        describe_instances("2024-03-05T09:30:00Z", alice),
        aws_service_call("2024-03-05T09:31:00Z"),
    ]
