"""sqs_messages: every message shape the SQS input can receive."""

import json

import pytest

from trailwatch.ingest import sqs_messages as sq

BUCKET = "org-trail-logs-210987654321"
KEY = ("AWSLogs/210987654321/CloudTrail/eu-west-1/2024/05/01/"
       "210987654321_CloudTrail_eu-west-1_20240501T1205Z_Qm3x9TlFz0Ab1cD2.json.gz")
ORG_KEY = ("AWSLogs/o-a1b2c3d4e5/777788889999/CloudTrail/us-east-1/2024/05/01/"
           "777788889999_CloudTrail_us-east-1_20240501T1210Z_ZZ11yy22XX33ww44.json.gz")
PREFIXED_KEY = "security team/trails+logs/" + KEY
DIGEST_KEY = ("AWSLogs/210987654321/CloudTrail-Digest/eu-west-1/2024/05/01/"
              "210987654321_CloudTrail-Digest_eu-west-1_org-trail_eu-west-1_20240501T120000Z.json.gz")
INSIGHT_KEY = ("AWSLogs/210987654321/CloudTrail-Insight/eu-west-1/2024/05/01/"
               "210987654321_CloudTrail-Insight_eu-west-1_20240501T1200Z_abcdEFGH1234ijkl.json.gz")


def s3_record(key, bucket=BUCKET, event="ObjectCreated:Put", size=1733, encode=True):
    if encode:
        from urllib.parse import quote_plus

        key = quote_plus(key, safe="/")
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2024-05-01T12:05:31.412Z", "eventName": event,
        "userIdentity": {"principalId": "AWS:AROA2EXAMPLEROLEID7:regionalDeliverySession"},
        "requestParameters": {"sourceIPAddress": "10.20.30.40"},
        "responseElements": {"x-amz-request-id": "Q1W2E3R4T5Y6U7I8",
                             "x-amz-id-2": "EXAMPLEid2/abc+def="},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "trailwatch-sqs",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A2EXAMPLEOWNER"},
                          "arn": "arn:aws:s3:::" + bucket},
               "object": {"key": key, "size": size, "eTag": "0a1b2c3d4e5f67890a1b2c3d4e5f6789",
                          "sequencer": "00663221BB8F1E2A3C"}},
    }


def s3_body(*records):
    return json.dumps({"Records": list(records)})


def sns(message, kind="Notification"):
    return json.dumps({
        "Type": kind,
        "MessageId": "4f3e2d1c-0b9a-5876-a543-210fedcba987",
        "TopicArn": "arn:aws:sns:eu-west-1:210987654321:trail-notifications",
        "Subject": "Amazon S3 Notification",
        "Message": message,
        "Timestamp": "2024-05-01T12:05:32.001Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEsig==",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    })


def cloudtrail_notification(*keys, bucket=BUCKET):
    return json.dumps({"s3Bucket": bucket, "s3ObjectKey": list(keys)})


def eventbridge(key, kind="Object Created", encode=False):
    if encode:
        from urllib.parse import quote_plus

        key = quote_plus(key, safe="/")
    return json.dumps({
        "version": "0", "id": "17793124-05d4-b198-2fde-000000000001",
        "detail-type": kind, "source": "aws.s3", "account": "210987654321",
        "time": "2024-05-01T12:05:31Z", "region": "eu-west-1",
        "resources": ["arn:aws:s3:::" + BUCKET],
        "detail": {"version": "0", "bucket": {"name": BUCKET},
                   "object": {"key": key, "size": 2048, "etag": "abc", "sequencer": "0066"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "cloudtrail.amazonaws.com",
                   "reason": "PutObject"},
    })


def test_s3_notification():
    parsed = sq.parse_message(s3_body(s3_record(KEY)))
    assert parsed.understood and parsed.shape == "s3"
    assert parsed.objects == [sq.LogObject(BUCKET, KEY, 1733, "eu-west-1")]
    assert parsed.ignored == []


def test_s3_notification_bytes_body_and_several_records():
    body = s3_body(s3_record(KEY), s3_record(ORG_KEY, size=99)).encode()
    parsed = sq.parse_message(body)
    assert [o.key for o in parsed.objects] == [KEY, ORG_KEY]


def test_keys_are_url_decoded():
    parsed = sq.parse_message(s3_body(s3_record(PREFIXED_KEY)))
    assert parsed.objects[0].key == PREFIXED_KEY
    raw = json.loads(s3_body(s3_record(PREFIXED_KEY)))["Records"][0]["s3"]["object"]["key"]
    assert raw.startswith("security+team/trails%2Blogs/")


def test_sns_wrapped_s3_notification():
    parsed = sq.parse_message(sns(s3_body(s3_record(KEY))))
    assert parsed.shape == "sns/s3"
    assert parsed.objects == [sq.LogObject(BUCKET, KEY, 1733, "eu-west-1")]


def test_cloudtrail_sns_notification_wrapped_and_raw():
    body = cloudtrail_notification(KEY, ORG_KEY)
    for message, shape in ((sns(body), "sns/cloudtrail"), (body, "cloudtrail")):
        parsed = sq.parse_message(message)
        assert parsed.shape == shape
        assert parsed.objects == [sq.LogObject(BUCKET, KEY), sq.LogObject(BUCKET, ORG_KEY)]


def test_cloudtrail_notification_keys_are_not_decoded():
    key = KEY.replace("AWSLogs/", "a+b/AWSLogs/")
    parsed = sq.parse_message(cloudtrail_notification(key))
    assert parsed.objects[0].key == key


def test_eventbridge_object_created():
    parsed = sq.parse_message(eventbridge(KEY))
    assert parsed.shape == "eventbridge"
    assert parsed.objects == [sq.LogObject(BUCKET, KEY, 2048, "eu-west-1")]
    encoded = sq.parse_message(eventbridge(PREFIXED_KEY, encode=True))
    assert encoded.objects[0].key == PREFIXED_KEY
    literal = sq.parse_message(eventbridge(PREFIXED_KEY), eventbridge_keys_encoded=False)
    assert literal.objects[0].key == PREFIXED_KEY


def test_eventbridge_other_events_are_ignored():
    parsed = sq.parse_message(eventbridge(KEY, kind="Object Deleted"))
    assert parsed.understood and parsed.objects == []
    assert parsed.ignored[0].reason == "EventBridge S3 event Object Deleted"


@pytest.mark.parametrize("wrap", [False, True], ids=["direct", "sns"])
def test_s3_test_event_is_ignored(wrap):
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                       "Time": "2024-05-01T12:00:00.000Z", "Bucket": BUCKET,
                       "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eK"})
    parsed = sq.parse_message(sns(body) if wrap else body)
    assert parsed.understood and parsed.objects == []
    assert parsed.ignored == [sq.Ignored("s3:TestEvent", BUCKET, None)]
    assert "s3:TestEvent" in parsed.describe()


def test_digest_insight_and_foreign_keys_are_ignored():
    records = [s3_record(KEY), s3_record(DIGEST_KEY), s3_record(INSIGHT_KEY),
               s3_record("exports/2024/05/01/report.csv"),
               s3_record("AWSLogs/210987654321/Config/eu-west-1/2024/5/1/x.json.gz"),
               s3_record(KEY.replace(".json.gz", ".json"))]
    parsed = sq.parse_message(s3_body(*records))
    assert [o.key for o in parsed.objects] == [KEY]
    assert [i.reason for i in parsed.ignored] == [
        "CloudTrail digest file", "CloudTrail Insights file", "not a CloudTrail log key",
        "not a CloudTrail log key", "not a CloudTrail log key"]
    assert all(i.bucket == BUCKET for i in parsed.ignored)
    with_insights = sq.parse_message(s3_body(*records), include_insights=True)
    assert [o.key for o in with_insights.objects] == [KEY, INSIGHT_KEY]


def test_other_s3_events_are_ignored():
    parsed = sq.parse_message(s3_body(s3_record(KEY, event="ObjectRemoved:Delete"),
                                      s3_record(ORG_KEY, event="ObjectCreated:CompleteMultipartUpload")))
    assert [o.key for o in parsed.objects] == [ORG_KEY]
    assert parsed.ignored[0].reason == "S3 event ObjectRemoved:Delete"


def test_duplicates_in_one_message_are_dropped():
    parsed = sq.parse_message(cloudtrail_notification(KEY, KEY))
    assert len(parsed.objects) == 1
    assert parsed.ignored[0].reason == "duplicate in message"


def test_sns_subscription_confirmation():
    parsed = sq.parse_message(sns("You have chosen to subscribe", kind="SubscriptionConfirmation"))
    assert parsed.understood and parsed.shape == "sns-control" and parsed.objects == []


@pytest.mark.parametrize("body,expected", [
    ("not json", "body is not JSON"),
    ("[1, 2]", "not an object"),
    ('{"hello": "world"}', "unrecognised message"),
    (sns("{not json"), "SNS Message is not JSON"),
    (json.dumps({"Type": "Notification", "MessageId": "x", "Message": 5}), "without a Message"),
    (json.dumps({"s3Bucket": BUCKET, "s3ObjectKey": 5}), "s3ObjectKey is not a list"),
])
def test_bodies_not_understood(body, expected):
    parsed = sq.parse_message(body)
    assert not parsed.understood
    assert expected in parsed.error
    assert parsed.objects == []
    assert "not understood" in parsed.describe()


def test_records_with_missing_parts_do_not_crash():
    broken = s3_record(KEY)
    del broken["s3"]["bucket"]
    parsed = sq.parse_message(json.dumps({"Records": [broken, "x", {}]}))
    assert parsed.objects == []
    assert len(parsed.ignored) == 3


def test_classify_key():
    assert sq.classify_key(KEY) == sq.KEY_CLOUDTRAIL
    assert sq.classify_key(ORG_KEY) == sq.KEY_CLOUDTRAIL
    assert sq.classify_key(PREFIXED_KEY) == sq.KEY_CLOUDTRAIL
    assert sq.classify_key(DIGEST_KEY) == sq.KEY_DIGEST
    assert sq.classify_key(INSIGHT_KEY) == sq.KEY_INSIGHT
    assert sq.classify_key("xAWSLogs/" + KEY[len("AWSLogs/"):]) == sq.KEY_OTHER
    assert sq.classify_key(KEY + ".bak") == sq.KEY_OTHER


def test_decode_s3_key():
    assert sq.decode_s3_key("a+b%2Bc%20d/%E6%97%A5") == "a b+c d/日"


def test_describe_names_what_was_ignored():
    parsed = sq.parse_message(s3_body(s3_record(KEY), s3_record(DIGEST_KEY)))
    text = parsed.describe()
    assert "1 log file(s)" in text and "CloudTrail digest file" in text and DIGEST_KEY in text
