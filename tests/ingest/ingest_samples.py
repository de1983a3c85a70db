"""Hand-written CloudTrail records for the ingestion tests.

Shapes follow the CloudTrail record reference (userIdentity variants, requestParameters,
responseElements, resources, additionalEventData, tlsDetails); every identifier is made up
here.  The records are kept as *text* on purpose: each one is formatted a little
differently (key order, spaces, ``\\/`` and ``\\u`` escapes, raw UTF-8) so that any
re-serialisation would change bytes and fail the byte-identity tests.
"""

import gzip
import json

ACCOUNT = "210987654321"
OTHER_ACCOUNT = "777788889999"

CONSOLE_LOGIN = (
    '{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA2EXAMPLEUSERID01",'
    '"arn":"arn:aws:iam::210987654321:user/ana.souza","accountId":"210987654321",'
    '"userName":"ana.souza"},"eventTime":"2024-05-01T12:00:00Z","eventSource":"signin.amazonaws.com",'
    '"eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.23",'
    '"userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",'
    '"requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},'
    '"additionalEventData":{"LoginTo":"https:\\/\\/console.aws.amazon.com\\/console\\/home?state=hashArgs%23&isauthcode=true",'
    '"MobileVersion":"No","MFAIdentifier":"arn:aws:iam::210987654321:mfa/ana-phone","MFAUsed":"Yes"},'
    '"eventID":"6f1d2c9e-0a43-4c1b-9f5e-1d2a3b4c5d01","readOnly":false,"eventType":"AwsConsoleSignIn",'
    '"managementEvent":true,"recipientAccountId":"210987654321","eventCategory":"Management",'
    '"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256",'
    '"clientProvidedHostHeader":"signin.aws.amazon.com"}}'
)

# Assumed-role caller, fractional eventTime, resources array of objects, spaces after ':'.
ASSUME_ROLE = (
    '{"eventVersion": "1.08", "userIdentity": {"type": "AssumedRole", '
    '"principalId": "AROA2EXAMPLEROLEID7:ci-runner", "arn": "arn:aws:sts::210987654321:assumed-role/ci-deployer/ci-runner", '
    '"accountId": "210987654321", "accessKeyId": "ASIA2EXAMPLEKEY0042", "sessionContext": {"sessionIssuer": '
    '{"type": "Role", "principalId": "AROA2EXAMPLEROLEID7", "arn": "arn:aws:iam::210987654321:role/ci-deployer", '
    '"accountId": "210987654321", "userName": "ci-deployer"}, "webIdFederationData": {}, "attributes": '
    '{"creationDate": "2024-05-01T11:58:12Z", "mfaAuthenticated": "false"}}}, '
    '"eventTime": "2024-05-01T12:00:01.250Z", "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", '
    '"awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.77", "userAgent": "aws-sdk-go-v2/1.26.1", '
    '"requestParameters": {"roleArn": "arn:aws:iam::777788889999:role/cross-account-audit", '
    '"roleSessionName": "audit-session", "durationSeconds": 3600, "externalId": "ext-0001"}, '
    '"responseElements": {"credentials": {"accessKeyId": "ASIA2EXAMPLEKEY0099", '
    '"sessionToken": "IQoJb3JpZ2luX2VjEXAMPLEtoken+/=", "expiration": "May 1, 2024, 1:00:01 PM"}, '
    '"assumedRoleUser": {"assumedRoleId": "AROA2EXAMPLEROLEID8:audit-session", '
    '"arn": "arn:aws:sts::777788889999:assumed-role/cross-account-audit/audit-session"}}, '
    '"requestID": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b", "eventID": "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b02", '
    '"readOnly": true, "resources": [{"accountId": "777788889999", "type": "AWS::IAM::Role", '
    '"ARN": "arn:aws:iam::777788889999:role/cross-account-audit"}], "eventType": "AwsApiCall", '
    '"managementEvent": true, "recipientAccountId": "210987654321", "sharedEventID": "a1b2c3d4-0000-4000-8000-000000000003", '
    '"eventCategory": "Management"}'
)

# A policy document as a JSON *string*: escaped quotes, braces inside strings, \\ and \".
CREATE_POLICY = (
    '{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA2EXAMPLEUSERID02",'
    '"arn":"arn:aws:iam::210987654321:user/ops-admin","accountId":"210987654321",'
    '"accessKeyId":"AKIA2EXAMPLEKEY00077","userName":"ops-admin"},"eventTime":"2024-05-01T12:00:02Z",'
    '"eventSource":"iam.amazonaws.com","eventName":"CreatePolicy","awsRegion":"us-east-1",'
    '"sourceIPAddress":"192.0.2.10","userAgent":"aws-cli/2.15.30 Python/3.11.8 Linux/6.5 exe/x86_64.ubuntu.22",'
    '"requestParameters":{"policyName":"deploy-{env}-\\"quoted\\"-policy",'
    '"policyDocument":"{\\n  \\"Version\\": \\"2012-10-17\\",\\n  \\"Statement\\": [{\\"Effect\\": \\"Allow\\",'
    ' \\"Action\\": \\"s3:*\\", \\"Resource\\": \\"arn:aws:s3:::build-artifacts\\/*\\", \\"Condition\\": '
    '{\\"StringLike\\": {\\"s3:prefix\\": [\\"}\\", \\"{\\", \\"},{\\\\\\"\\"]}}}]\\n}",'
    '"description":"ends with a backslash \\\\","path":"\\\\windows\\\\share\\\\"},'
    '"responseElements":{"policy":{"policyName":"deploy-{env}-\\"quoted\\"-policy","defaultVersionId":"v1",'
    '"policyId":"ANPA2EXAMPLEPOLICY01","arn":"arn:aws:iam::210987654321:policy/deploy-env-policy",'
    '"attachmentCount":0,"isAttachable":true,"createDate":"May 1, 2024, 12:00:02 PM",'
    '"updateDate":"May 1, 2024, 12:00:02 PM","tags":[]}},"requestID":"9e8d7c6b-5a49-4838-a271-605f4e3d2c1b",'
    '"eventID":"7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a004","readOnly":false,"eventType":"AwsApiCall",'
    '"managementEvent":true,"recipientAccountId":"210987654321","eventCategory":"Management"}'
)

# Unicode raw (2-, 3- and 4-byte UTF-8) and as \\u escapes (incl. a surrogate pair);
# XML-special characters & < > in values.
TAG_RESOURCES = (
    '{"eventVersion":"1.09","userIdentity":{"type":"Root","principalId":"210987654321",'
    '"arn":"arn:aws:iam::210987654321:root","accountId":"210987654321","accessKeyId":"ASIA2EXAMPLEKEY0123"},'
    '"eventTime":"2024-05-01T12:00:03.007Z","eventSource":"ec2.amazonaws.com","eventName":"CreateTags",'
    '"awsRegion":"ap-northeast-1","sourceIPAddress":"198.51.100.200","userAgent":"console.ec2.amazonaws.com <ui&v2>",'
    '"requestParameters":{"resourcesSet":{"items":[{"resourceId":"i-0abc1234def567890"}]},'
    '"tagSet":{"items":[{"key":"Owner","value":"Zoë Ångström ☃ 日本語 🚀"},'
    '{"key":"Note","value":"caf\\u00e9 \\u2603 \\ud83d\\ude80 <b>bold</b> & \\u003cscript\\u003e"},'
    '{"key":"Braces","value":"} ] { [ , : \\" \\\\"}]}},'
    '"responseElements":{"requestId":"c0ffee00-1111-4222-8333-444455556666","_return":true},'
    '"requestID":"c0ffee00-1111-4222-8333-444455556666","eventID":"5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c05",'
    '"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"210987654321",'
    '"eventCategory":"Management"}'
)

# Deep nesting, like RunInstances' responseElements (objects inside arrays inside objects).
RUN_INSTANCES = (
    '{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA2EXAMPLEROLEID9:autoscaler",'
    '"arn":"arn:aws:sts::210987654321:assumed-role/asg-role/autoscaler","accountId":"210987654321",'
    '"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA2EXAMPLEROLEID9",'
    '"arn":"arn:aws:iam::210987654321:role/asg-role","accountId":"210987654321","userName":"asg-role"},'
    '"attributes":{"creationDate":"2024-05-01T11:00:00Z","mfaAuthenticated":"false"}},'
    '"invokedBy":"autoscaling.amazonaws.com"},"eventTime":"2024-05-01T12:00:04Z",'
    '"eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-west-2",'
    '"sourceIPAddress":"autoscaling.amazonaws.com","userAgent":"autoscaling.amazonaws.com",'
    '"requestParameters":{"instancesSet":{"items":[{"imageId":"ami-0123456789abcdef0","minCount":1,"maxCount":1}]},'
    '"instanceType":"t3.micro","blockDeviceMapping":{},"monitoring":{"enabled":false},'
    '"disableApiTermination":false,"clientToken":"fleet-1234"},'
    '"responseElements":{"requestId":"abcd0000-1111-4222-8333-444455550007","reservationId":"r-0aa11bb22cc33dd44",'
    '"ownerId":"210987654321","groupSet":{},"instancesSet":{"items":[{"instanceId":"i-0fedcba9876543210",'
    '"imageId":"ami-0123456789abcdef0","instanceState":{"code":0,"name":"pending"},"privateDnsName":"ip-10-1-2-3.us-west-2.compute.internal",'
    '"networkInterfaceSet":{"items":[{"networkInterfaceId":"eni-0123abcd4567ef890","subnetId":"subnet-0a1b2c3d",'
    '"attachment":{"attachmentId":"eni-attach-01","deviceIndex":0,"status":"attaching"},'
    '"privateIpAddressesSet":{"item":[{"privateIpAddress":"10.1.2.3","primary":true,'
    '"association":{"publicIp":"192.0.2.55","ipOwnerId":"amazon","meta":{"eventTime":"nested-not-top-level"}}}]},'
    '"groupSet":{"items":[{"groupId":"sg-0123456789abcdef0","groupName":"web"}]}}]},'
    '"tagSet":{"items":[{"key":"aws:autoscaling:groupName","value":"web-asg"}]}}]}},'
    '"requestID":"abcd0000-1111-4222-8333-444455550007","eventID":"4b3a2918-0716-4f5e-8d4c-3b2a19080706",'
    '"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"210987654321",'
    '"eventCategory":"Management"}'
)

# A nested object with eventTime and eventID keys *before* the record's own keys.
NESTED_FIRST = (
    '{"eventVersion":"1.09","userIdentity":{"type":"AWSService","invokedBy":"events.amazonaws.com"},'
    '"requestParameters":{"entries":[{"eventTime":"1999-01-01T00:00:00Z","eventID":"nested-id",'
    '"detail":"{\\"eventTime\\":\\"2001-01-01T00:00:00Z\\"}"}]},"eventTime":"2024-05-01T12:00:05Z",'
    '"eventSource":"events.amazonaws.com","eventName":"PutEvents","awsRegion":"us-east-1",'
    '"sourceIPAddress":"events.amazonaws.com","userAgent":"events.amazonaws.com","responseElements":null,'
    '"eventID":"3c2b1a09-f8e7-4d6c-b5a4-938271605f08","readOnly":false,"eventType":"AwsApiCall",'
    '"managementEvent":true,"recipientAccountId":"210987654321","eventCategory":"Management"}'
)

# No top-level eventTime: only nested ones and one hidden in a string.  Must be skipped.
NO_EVENT_TIME = (
    '{"eventVersion":"1.09","userIdentity":{"type":"AWSService","invokedBy":"config.amazonaws.com",'
    '"eventTime":"2024-05-01T12:00:06Z"},"note":"\\"eventTime\\":\\"2024-05-01T12:00:06Z\\"",'
    '"eventSource":"config.amazonaws.com","eventName":"PutEvaluations","awsRegion":"us-east-1",'
    '"eventID":"2b1a0908-e7d6-4c5b-a493-827160504f09","eventType":"AwsApiCall"}'
)

# eventTime present but null.
NULL_EVENT_TIME = (
    '{"eventVersion":"1.09","eventTime":null,"eventSource":"s3.amazonaws.com","eventName":"GetObject",'
    '"eventID":"1a090807-d6c5-4b4a-9382-716050403f10"}'
)

# A service event (no userIdentity ARN), errorCode, eventTime last.
SERVICE_EVENT = (
    '{"eventVersion":"1.08","userIdentity":{"accountId":"210987654321","invokedBy":"AWS Internal"},'
    '"eventSource":"kms.amazonaws.com","eventName":"RotateKey","awsRegion":"eu-central-1",'
    '"sourceIPAddress":"AWS Internal","userAgent":"AWS Internal","requestParameters":null,'
    '"responseElements":null,"eventID":"0f0e0d0c-0b0a-4909-8807-060504030211","readOnly":false,'
    '"resources":[{"accountId":"210987654321","type":"AWS::KMS::Key",'
    '"ARN":"arn:aws:kms:eu-central-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],'
    '"eventType":"AwsServiceEvent","managementEvent":true,"recipientAccountId":"210987654321",'
    '"serviceEventDetails":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"},"eventCategory":"Management",'
    '"errorCode":"AccessDenied","errorMessage":"User: arn:aws:iam::210987654321:user/x is not authorized <&>",'
    '"eventTime":"2024-05-01T12:00:07.999999Z"}'
)

GOOD_RECORDS = [CONSOLE_LOGIN, ASSUME_ROLE, CREATE_POLICY, TAG_RESOURCES, RUN_INSTANCES,
                NESTED_FIRST, SERVICE_EVENT]
ALL_RECORDS = GOOD_RECORDS[:5] + [NO_EVENT_TIME, NESTED_FIRST, NULL_EVENT_TIME, SERVICE_EVENT]

# eventTime (as epoch ms) of each good record, computed independently of the code under test.
EXPECTED_MS = {
    "6f1d2c9e-0a43-4c1b-9f5e-1d2a3b4c5d01": 1714564800000,
    "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b02": 1714564801250,
    "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a004": 1714564802000,
    "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c05": 1714564803007,
    "4b3a2918-0716-4f5e-8d4c-3b2a19080706": 1714564804000,
    "3c2b1a09-f8e7-4d6c-b5a4-938271605f08": 1714564805000,
    "0f0e0d0c-0b0a-4909-8807-060504030211": 1714564807999,
}


def deep_record(depth, event_id="deep-0001", when="2024-05-01T12:00:08Z"):
    """A record whose requestParameters nest `depth` objects deep."""
    inner = '{"leaf":"}{\\"x\\"","eventTime":"1970-01-01T00:00:00Z"}'
    for level in range(depth):
        inner = '{"level%d":%s,"list":[{"a":[{}]},{}]}' % (level, inner)
    return (
        '{"eventVersion":"1.09","userIdentity":{"type":"IAMUser"},"requestParameters":%s,'
        '"eventTime":"%s","eventName":"Deep","eventID":"%s"}' % (inner, when, event_id)
    )


def log_text(records, separator=","):
    """A log file's text from record texts (compact, exactly as CloudTrail writes it)."""
    return '{"Records":[' + separator.join(records) + "]}"


def log_bytes(records, compress=True, separator=","):
    data = log_text(records, separator).encode("utf-8")
    return gzip.compress(data) if compress else data


def event_id_of(text):
    return json.loads(text).get("eventID")
