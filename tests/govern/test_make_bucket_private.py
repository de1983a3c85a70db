"""Make S3 bucket private, run as Splunk runs it: the built alert script with --execute, the
JSON payload on stdin, results in a gzipped CSV, against moto and the splunkd double; then
undone with the built `trailwatchundo` command (protocol v2)."""
import json


import twgovern_support as support
from trailwatch.aws import exposure

ACTION = "trailwatch_make_bucket_private"
OWNER_CANONICAL = None
LOG_DELIVERY_WRITE = {"Grantee": {"Type": "Group", "URI": exposure.LOG_DELIVERY}, "Permission": "WRITE"}
PUBLIC_READ = {"Grantee": {"Type": "Group", "URI": exposure.ALL_USERS}, "Permission": "READ"}


def public_bucket(s3, name):
    s3.create_bucket(Bucket=name)
    owner = s3.get_bucket_acl(Bucket=name)["Owner"]
    s3.put_bucket_acl(Bucket=name, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        PUBLIC_READ, LOG_DELIVERY_WRITE]})
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::%s/*" % name},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::%s/*" % name},
        {"Sid": "DenyHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": "arn:aws:s3:::%s/*" % name, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}))
    return name


def bucket_state(s3, name):
    try:
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        block = None
    acl = exposure.normalize_acl(s3.get_bucket_acl(Bucket=name))
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    except s3.exceptions.ClientError:
        policy = None
    return {"block": block, "grants": acl["Grants"], "policy": policy}


def row(bucket, **extra):
    base = {"policy_id": "B02", "policy": "Public S3 bucket", "severity": "high",
            "description": "Bucket %s became public" % bucket, "aws_account_id": support.ACCOUNT_ID,
            "bucket_name": bucket, "user": "alice", "region": "us-east-1"}
    base.update(extra)
    return base


def run(installed_app, splunkd, moto_endpoint, tmp_path, rows, **config):
    config.setdefault("dry_run", "0")
    return support.run_alert(installed_app, ACTION, rows, config, splunkd, moto_endpoint.url, tmp_path)


def assert_ok(proc):
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]


def test_makes_public_bucket_private_and_records_everything(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = public_bucket(s3, unique("tw-public"))
    before = bucket_state(s3, bucket)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)])
    assert_ok(proc)

    after = bucket_state(s3, bucket)
    assert after["block"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                              "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert exposure.public_grants(after["grants"]) == []
    assert LOG_DELIVERY_WRITE in after["grants"]  # access-log delivery keeps working
    assert [s["Sid"] for s in after["policy"]["Statement"]] == ["Partner", "DenyHttp"]

    (event,) = events
    assert event["outcome"] == "success"
    for field in ("action", "target", "aws_account_id", "outcome", "reason", "before", "after",
                  "rollback", "alert_policy", "search_name", "sid", "dry_run", "action_id",
                  "orig_sid", "orig_rid", "orig_action_name", "action_status"):
        assert field in event, field
    assert event["action"] == ACTION and event["target"] == "s3://" + bucket
    assert event["aws_account_id"] == support.ACCOUNT_ID and event["account"] == "prod"
    assert event["alert_policy"] == "Public S3 bucket" and event["dry_run"] is False
    assert event["search_name"] == "TrailWatch - test detection"
    assert event["sid"].startswith("scheduler__") and event["orig_sid"] == event["sid"]
    assert event["orig_rid"] == "0" and event["action_status"] == "success"
    assert event["before"]["policy"] == before["policy"]
    assert event["after"]["block"]["RestrictPublicBuckets"] is True
    assert [p["operation"] for p in event["plan"]] == ["PutPublicAccessBlock", "PutBucketAcl", "PutBucketPolicy"]
    assert all(p["params"]["ExpectedBucketOwner"] == support.ACCOUNT_ID for p in event["plan"])
    assert event["action_id"] in event["rollback"]

    record = splunkd.records()[event["action_id"]]
    assert record["status"] == "done" and record["kind"] == "action"
    assert json.loads(record["snapshot"])["policy"] == before["policy"]
    log = support.modalert_log(tmp_path, ACTION)
    assert 'action_status="success"' in log and support.SECRET not in log


def test_dry_run_changes_nothing_and_reports_the_plan(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = public_bucket(s3, unique("tw-dry"))
    before = bucket_state(s3, bucket)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)], dry_run="1")
    assert_ok(proc)
    assert bucket_state(s3, bucket) == before
    (event,) = events
    assert event["outcome"] == "dry_run" and event["dry_run"] is True
    assert [p["operation"] for p in event["plan"]] == ["PutPublicAccessBlock", "PutBucketAcl", "PutBucketPolicy"]
    assert "Dry run: 3 API call(s)" in event["reason"]
    assert splunkd.records() == {}  # nothing written, nothing to undo


def test_second_run_changes_nothing(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = public_bucket(s3, unique("tw-twice"))
    assert_ok(run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)])[0])
    once = bucket_state(s3, bucket)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)])
    assert_ok(proc)
    assert events[0]["outcome"] == "no_change" and events[0]["plan"] == []
    assert bucket_state(s3, bucket) == once
    assert len(splunkd.records()) == 1


def test_protected_and_intentionally_public_buckets_are_refused(installed_app, splunkd, moto_endpoint, s3, tmp_path):
    for name in (support.PROTECTED_BUCKET, support.WEBSITE_BUCKET):
        if name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
            public_bucket(s3, name)
    before = {name: bucket_state(s3, name) for name in (support.PROTECTED_BUCKET, support.WEBSITE_BUCKET)}
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(support.PROTECTED_BUCKET), row(support.WEBSITE_BUCKET)])
    assert_ok(proc)
    assert [e["outcome"] for e in events] == ["skipped_protected", "skipped_protected"]
    assert "payment records" in events[0]["reason"]
    assert "intentionally public" in events[1]["reason"] and "force" in events[1]["reason"]
    assert {name: bucket_state(s3, name) for name in before} == before

    # force acts on the website bucket, never on the protected one
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(support.PROTECTED_BUCKET), row(support.WEBSITE_BUCKET)], force="1", dry_run="1")
    assert [e["outcome"] for e in events] == ["skipped_protected", "dry_run"]


def test_aws_errors_fail_one_row_and_the_others_still_run(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    good = public_bucket(s3, unique("tw-good"))
    missing = unique("tw-missing")
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(missing), row(good), {"policy": "no bucket here"}])
    assert proc.returncode == 2
    assert [e["outcome"] for e in events] == ["failure", "success", "failure"]
    assert events[0]["error_code"] == "NoSuchBucket" and "does not exist" in events[0]["reason"]
    assert events[0]["action_status"] == "failure"
    assert "no bucket name in field 'bucket_name'" in events[2]["reason"]


def test_unknown_account_is_a_failure_naming_the_fix(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = public_bucket(s3, unique("tw-acct"))
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(bucket, aws_account_id="999988887777")])
    assert proc.returncode == 2
    assert events[0]["outcome"] == "failure" and events[0]["error_code"] == "NoAccount"
    assert "999988887777" in events[0]["reason"] and "Configuration > Accounts" in events[0]["reason"]
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)], account="nosuch")
    assert "'nosuch' is not configured" in events[0]["reason"]


# --------------------------------------------------------------------------- undo
def test_undo_restores_block_acl_and_policy_then_refuses_twice(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = public_bucket(s3, unique("tw-undo"))
    before = bucket_state(s3, bucket)
    assert before["block"] is None
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)])
    assert_ok(proc)
    action_id = events[0]["action_id"]
    assert bucket_state(s3, bucket) != before

    info, rows, errors, stderr, undo_events = support.run_undo(
        installed_app, {"action_id": action_id, "dry_run": "true"}, splunkd, moto_endpoint.url, tmp_path)
    assert info["generating"] is True and info["type"] != "streaming", info
    assert rows[0]["outcome"] == "dry_run", (rows, errors, stderr)
    assert [p["operation"] for p in json.loads(rows[0]["plan"])] == [
        "DeletePublicAccessBlock", "PutBucketAcl", "PutBucketPolicy"]  # block first
    assert bucket_state(s3, bucket) != before

    info, rows, errors, stderr, undo_events = support.run_undo(
        installed_app, {"action_id": action_id}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    assert bucket_state(s3, bucket) == before  # block, ACL and policy as in the snapshot
    (event,) = undo_events
    assert event["action"] == "undo:" + ACTION and event["undo_of"] == action_id
    assert event["outcome"] == "success" and event["target"] == "s3://" + bucket
    records = splunkd.records()
    assert records[action_id]["status"] == "undone"
    assert records[action_id]["undone_by"] == event["action_id"]
    assert records[event["action_id"]]["kind"] == "undo"

    _, rows, _, _, _ = support.run_undo(installed_app, {"action_id": action_id}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "failure" and rows[0]["error_code"] == "AlreadyUndone"
    _, rows, _, _, _ = support.run_undo(installed_app, {"action_id": event["action_id"]}, splunkd,
                                        moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "failure" and rows[0]["error_code"] == "UndoOfUndo"
    _, rows, _, _, _ = support.run_undo(installed_app, {"action_id": "nosuchaction"}, splunkd,
                                        moto_endpoint.url, tmp_path)
    assert rows[0]["error_code"] == "UnknownAction"
    assert bucket_state(s3, bucket) == before
