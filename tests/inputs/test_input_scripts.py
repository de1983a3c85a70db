"""What splunkd asks of every input script before running it: ``--scheme`` and
``--validate-arguments`` (refusals with a message the form shows); the checkpoints' life
cycle in the KV store; the collection IAM policy is enough for every input."""
import json
import os
import sys
import xml.etree.ElementTree as ET

import pytest
from inputs_helpers import (
    COLLECTION,
    input_definition,
    input_env,
    parse_stream,
    read_log,
    run_input,
    store_account,
    validation_definition,
)

from addon import APP_BIN, ROOT

INPUTS = {
    "aws_cloudtrail_api": {"account", "regions", "backfill_days", "lookup_attribute"},
    "aws_cloudtrail_sqs": {"account", "queue_url", "sqs_region", "batch_size",
                           "visibility_timeout", "allowed_buckets", "expected_bucket_owner",
                           "max_object_mb", "max_log_mb"},
    "aws_s3_posture": {"account"},
    "aws_iam_inventory": {"account"},
}
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/cloudtrail-logs"
VALID = {
    "aws_cloudtrail_api": {"account": "prod", "regions": "us-east-1,eu-west-1",
                           "backfill_days": "7", "lookup_attribute": "ReadOnly=false",
                           "interval": "300", "index": "main"},
    "aws_cloudtrail_sqs": {"account": "prod", "queue_url": QUEUE, "sqs_region": "us-east-1",
                           "batch_size": "10", "visibility_timeout": "300", "index": "main",
                           "allowed_buckets": "trail-logs, org.trail-logs",
                           "expected_bucket_owner": "210987654321", "max_object_mb": "64",
                           "max_log_mb": "256"},
    "aws_s3_posture": {"account": "prod", "interval": "3600", "index": "main"},
    "aws_iam_inventory": {"account": "prod", "interval": "3600", "index": "main"},
}


@pytest.mark.parametrize("input_type", sorted(INPUTS))
def test_scheme(input_type):
    result = run_input(sys.executable, input_type, b"", dict(os.environ), args=["--scheme"])
    assert result.returncode == 0, result.stderr.decode()
    scheme = ET.fromstring(result.stdout)
    assert scheme.findtext("title") == input_type
    assert scheme.findtext("use_external_validation") == "true"
    assert scheme.findtext("streaming_mode") == "xml"
    assert scheme.findtext("use_single_instance") == "false"
    args = {arg.get("name") for arg in scheme.iter("arg")}
    assert args == INPUTS[input_type] | {"name"}


@pytest.mark.parametrize("input_type", sorted(INPUTS))
def test_a_valid_stanza_is_accepted(input_type, installed, splunk_python):
    result = run_input(splunk_python, input_type,
                       validation_definition(installed, "ok", VALID[input_type]),
                       dict(os.environ), args=["--validate-arguments"])
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout == b""


REFUSED = [
    ("aws_cloudtrail_api", {"regions": "us-east-1,moon-1"},
     "Region 'moon-1' is not an AWS region code such as us-east-1."),
    ("aws_cloudtrail_api", {"regions": ""}, "Regions: choose at least one AWS region."),
    ("aws_cloudtrail_api", {"backfill_days": "91"},
     "Back-fill days must be a whole number from 0 to 90, not 91."),
    ("aws_cloudtrail_api", {"backfill_days": "a week"},
     "Back-fill days must be a whole number from 0 to 90, not 'a week'."),
    ("aws_cloudtrail_api", {"lookup_attribute": "Color=blue"},
     "Lookup attribute 'Color=blue' must be Key=Value with Key one of EventId, EventName, "
     "ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId."),
    ("aws_cloudtrail_api", {"regions": "us-east-1,us-gov-west-1"},
     "Region(s) us-gov-west-1 are not in partition aws of AWS account 'prod'."),
    ("aws_cloudtrail_api", {"account": "staging"},
     "AWS account 'staging' is not configured: add it under Configuration > Accounts."),
    ("aws_cloudtrail_sqs", {"queue_url": "sqs://my-queue"},
     "SQS queue URL 'sqs://my-queue' must look like https://sqs.us-east-1.amazonaws.com/"
     "123456789012/queue-name."),
    ("aws_cloudtrail_sqs", {"batch_size": "11"},
     "Batch size must be a whole number from 1 to 10, not 11."),
    ("aws_cloudtrail_sqs", {"visibility_timeout": "1"},
     "Visibility timeout must be a whole number from 5 to 43200, not 1."),
    ("aws_cloudtrail_sqs", {"sqs_region": "cn-north-1"},
     "Queue region cn-north-1 is not in partition aws of AWS account 'prod'."),
    ("aws_cloudtrail_sqs", {"allowed_buckets": "trail-logs, s3://Trail"},
     "Allowed buckets: 's3://Trail' is not an S3 bucket name (3 to 63 lower-case letters, "
     "digits, '.' and '-')."),
    ("aws_cloudtrail_sqs", {"expected_bucket_owner": "prod"},
     "Expected bucket owner must be a 12-digit AWS account ID, not 'prod'."),
    ("aws_cloudtrail_sqs", {"max_object_mb": "0"},
     "Largest log object (MB) must be a whole number from 1 to 1024, not 0."),
    ("aws_cloudtrail_sqs", {"max_log_mb": "5000"},
     "Largest decompressed log (MB) must be a whole number from 1 to 4096, not 5000."),
    ("aws_s3_posture", {"account": ""}, "AWS account is required."),
    ("aws_iam_inventory", {"account": "gone"},
     "AWS account 'gone' is not configured: add it under Configuration > Accounts."),
]


@pytest.mark.parametrize("input_type, change, message", REFUSED)
def test_bad_stanzas_are_refused_with_a_clear_message(input_type, change, message, installed):
    params = dict(VALID[input_type], **change)
    result = run_input(sys.executable, input_type,
                       validation_definition(installed, "bad", params), dict(os.environ),
                       args=["--validate-arguments"])
    assert result.returncode == 1
    assert ET.fromstring(result.stdout).findtext("message") == message


def test_a_stanza_edited_by_hand_fails_its_run_with_the_same_message(
        installed, tmp_path, splunk_home, moto):
    stdin = input_definition(installed, "aws_cloudtrail_api", "hand",
                             dict(VALID["aws_cloudtrail_api"], backfill_days="365"), tmp_path)
    result = run_input(sys.executable, "aws_cloudtrail_api", stdin, input_env(splunk_home, moto.url))
    assert result.returncode == 0 and parse_stream(result.stdout) == []
    log = read_log(splunk_home, "aws_cloudtrail_api", "hand")
    assert 'exc_l="Configuration Error"' in log
    assert "Back-fill days must be a whole number from 0 to 90, not 365." in log


def test_log_level_comes_from_the_logging_tab(installed, tmp_path, splunk_home, moto):
    installed.set_stanza("ta_trailwatch_settings", "logging", {"loglevel": "DEBUG"})
    stdin = input_definition(installed, "aws_iam_inventory", "dbg", VALID["aws_iam_inventory"],
                             tmp_path)
    result = run_input(sys.executable, "aws_iam_inventory", stdin, input_env(splunk_home, moto.url))
    assert result.returncode == 0, result.stderr.decode()
    log = read_log(splunk_home, "aws_iam_inventory", "dbg")
    assert "log_level=DEBUG" in log and "parameters account=prod, disabled=0" in log
    assert installed.unimplemented == []


# ------------------------------------------------------------------------ checkpoints
def test_checkpoints_of_a_deleted_input_are_cleared_and_no_others(installed):
    from trailwatch.splunk import input_checkpoints

    mine = input_checkpoints.KvCheckpoints(installed.session_key, installed.uri,
                                           "aws_cloudtrail_api", "prod-ct")
    other = input_checkpoints.KvCheckpoints(installed.session_key, installed.uri,
                                            "aws_cloudtrail_api", "prod-ct2")
    mine.save("region_us-east-1", {"end": 1})
    mine.save("region_eu-west-1", {"end": 2})
    other.save("region_us-east-1", {"end": 3})
    assert mine.get("region_eu-west-1") == {"end": 2}
    input_checkpoints.clear_input(installed.session_key, installed.uri, "aws_cloudtrail_api",
                                  "prod-ct")
    assert mine.get("region_us-east-1") is None and mine.get("region_eu-west-1") is None
    assert other.get("region_us-east-1") == {"end": 3}
    assert [r["_key"] for r in installed.kv_records(COLLECTION)] == [
        "aws_cloudtrail_api__prod-ct2__region_us-east-1"]


def test_deleting_an_input_keeps_the_checkpoints_of_inputs_its_name_begins(installed):
    """The attack: deleting input ``prod`` deleted the checkpoints of ``prod__eu`` (and
    ``prod_``), whose key prefixes begin with ``prod``'s."""
    from trailwatch.splunk import input_checkpoints

    def store(name):
        return input_checkpoints.KvCheckpoints(installed.session_key, installed.uri,
                                               "aws_cloudtrail_api", name)

    names = ["prod", "prod__eu", "prod_", "prod___x", "prod__"]
    for number, name in enumerate(names):
        store(name).save("region_us-east-1", {"end": number})
        store(name).save("__odd__name", {"end": number})
    input_checkpoints.clear_input(installed.session_key, installed.uri, "aws_cloudtrail_api",
                                  "prod")
    assert store("prod").get("region_us-east-1") is None
    assert store("prod").get("__odd__name") is None
    for number, name in enumerate(names[1:], 1):
        assert store(name).get("region_us-east-1") == {"end": number}, name
        assert store(name).get("__odd__name") == {"end": number}, name
    assert len(installed.kv_records(COLLECTION)) == 2 * (len(names) - 1)


def test_the_input_rest_handler_clears_checkpoints_after_deleting(installed, monkeypatch,
                                                                  tmp_path):
    """Deleting an input through its REST handler deletes the stanza (splunktaucclib, over
    splunkd's data/inputs) and then its checkpoints, and nothing else."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "fake_splunk"))
    # splunkd runs a handler from $SPLUNK_HOME/etc/apps/<app>/bin; splunktaucclib derives the
    # app name from that path.
    apps = tmp_path / "splunk" / "etc" / "apps"
    apps.mkdir(parents=True)
    (apps / "TA-trailwatch").symlink_to(os.path.dirname(APP_BIN))
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(
        apps / "TA-trailwatch" / "bin" / "ta_trailwatch_rh_aws_cloudtrail_sqs.py"),
        raising=False)  # under pytest-xdist, __main__ (the worker's) has no __file__
    monkeypatch.setenv("SPLUNK_HOME", str(tmp_path / "splunk"))
    monkeypatch.setenv("SPLUNKD_URI", installed.uri)
    sys.path.insert(0, APP_BIN)
    import trailwatch_input_rh
    from splunk import admin
    from splunktaucclib.rest_handler.endpoint import DataInputModel, RestModel

    from trailwatch.splunk import input_checkpoints

    store = input_checkpoints.KvCheckpoints(installed.session_key, installed.uri,
                                            "aws_cloudtrail_sqs", "gone")
    store.save("file_abc", {"t": 1})
    kept = input_checkpoints.KvCheckpoints(installed.session_key, installed.uri,
                                           "aws_cloudtrail_sqs", "stays")
    kept.save("file_xyz", {"t": 2})
    installed.set_stanza("inputs", "aws_cloudtrail_sqs://gone", {"account": "prod"})
    installed.set_stanza("inputs", "aws_cloudtrail_sqs://stays", {"account": "prod"})
    endpoint = DataInputModel("aws_cloudtrail_sqs", RestModel([], name=None))
    handler_class = type("InputHandler", (trailwatch_input_rh.InputHandler,), {"endpoint": endpoint})
    handler = handler_class(admin.ACTION_REMOVE, admin.CallerArgs("gone", {}), installed.session_key)
    handler.handleRemove(admin.ConfInfo())
    assert "aws_cloudtrail_sqs://gone" not in installed.conf("inputs")
    assert "aws_cloudtrail_sqs://stays" in installed.conf("inputs")
    assert store.get("file_abc") is None
    assert kept.get("file_xyz") == {"t": 2}


# ------------------------------------------------------------------------ permissions
MOTO_ALIASES = ["s3:ListBucket", "s3:GetPublicAccessBlock"]


def _collection_actions():
    with open(os.path.join(ROOT, "policies", "trailwatch-collection-policy.json")) as handle:
        policy = json.load(handle)
    actions = []
    for statement in policy["Statement"]:
        actions.extend(statement["Action"])
    return actions


def test_the_collection_policy_is_enough_for_every_input(installed, tmp_path, splunk_home,
                                                         moto_iam):
    """Each input runs as an IAM user holding exactly the collection policy's actions (moto
    enforcing IAM): no read is refused. LookupEvents is answered by the fake, not moto."""
    import boto3

    s3 = moto_iam.client("s3")
    s3.create_bucket(Bucket="policy-check")
    s3.put_bucket_policy(Bucket="policy-check", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                "Action": "s3:GetObject",
                                                "Resource": "arn:aws:s3:::policy-check/*"}]}))
    moto_iam.client("iam").create_user(UserName="someone")
    queue_url = moto_iam.client("sqs").create_queue(QueueName="policy-check")["QueueUrl"]
    from inputs_helpers import log_file, log_key, make_record, s3_notification
    import time

    key = log_key("us-east-1", time.time(), 1)
    s3.put_object(Bucket="policy-check", Key=key, Body=log_file([make_record("pc-1", time.time())]))
    moto_iam.client("sqs").send_message(QueueUrl=queue_url,
                                        MessageBody=s3_notification("policy-check", key))
    # moto authorises the bucket's GetPublicAccessBlock and GetBucketOwnershipControls as
    # s3:ListBucket and the account's (s3control) as s3:GetPublicAccessBlock, names its action
    # table makes up; AWS uses the policy's s3:GetBucketPublicAccessBlock,
    # s3:GetBucketOwnershipControls and s3:GetAccountPublicAccessBlock (real actions:
    # tests/test_iam_policies.py).
    key_id, secret = moto_iam.make_user("collector", _collection_actions() + MOTO_ALIASES)
    store_account(installed, key_id=key_id, secret=secret)
    assert boto3  # set-up clients above are the admin's; the inputs sign as the collector
    for input_type, params in (
            ("aws_s3_posture", {"account": "prod"}),
            ("aws_iam_inventory", {"account": "prod"}),
            ("aws_cloudtrail_sqs", {"account": "prod", "queue_url": queue_url,
                                    "sqs_region": "us-east-1"})):
        stdin = input_definition(installed, input_type, "pc", params, tmp_path)
        result = run_input(sys.executable, input_type, stdin, input_env(splunk_home, moto_iam.url))
        assert result.returncode == 0, result.stderr.decode()
        events = parse_stream(result.stdout)
        assert events, input_type
        for event in events:
            data = json.loads(event["data"])
            assert not data.get("read_errors"), (input_type, data.get("read_errors"))
        log = read_log(splunk_home, input_type, "pc")
        assert "not allowed" not in log and "ERROR" not in log and "WARNING" not in log, log
