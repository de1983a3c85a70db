"""Remove S3 bucket collaborator, run as Splunk runs it, in both modes, with undo."""
import json

import twgovern_support as support

ACTION = "trailwatch_remove_bucket_collaborator"
PARTNER = "111122223333"
OTHER_PARTNER = "444455556666"
PARTNER_CANONICAL = "c" * 64


def shared_bucket(s3, name, condition=False):
    s3.create_bucket(Bucket=name)
    owner = s3.get_bucket_acl(Bucket=name)["Owner"]
    s3.put_bucket_acl(Bucket=name, AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "CanonicalUser", "ID": PARTNER_CANONICAL}, "Permission": "READ"}]})
    statements = [
        {"Sid": "Partners", "Effect": "Allow", "Action": "s3:GetObject",
         "Principal": {"AWS": ["arn:aws:iam::%s:root" % PARTNER, "arn:aws:iam::%s:root" % OTHER_PARTNER]},
         "Resource": "arn:aws:s3:::%s/*" % name},
        {"Sid": "PartnerWriter", "Effect": "Allow", "Action": "s3:PutObject",
         "Principal": {"AWS": "arn:aws:iam::%s:role/uploader" % PARTNER},
         "Resource": "arn:aws:s3:::%s/*" % name},
    ]
    if condition:
        statements.append({"Sid": "Conditional", "Effect": "Allow", "Action": "s3:GetObject",
                           "Principal": "*", "Resource": "arn:aws:s3:::%s/*" % name,
                           "Condition": {"StringEquals": {"aws:PrincipalAccount": PARTNER}}})
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return name


def state(s3, name):
    from trailwatch.govern.exposure import normalize_acl

    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    except s3.exceptions.ClientError:
        policy = None
    return {"grants": normalize_acl(s3.get_bucket_acl(Bucket=name))["Grants"], "policy": policy}


def run(installed_app, splunkd, moto_endpoint, tmp_path, rows, **config):
    config.setdefault("dry_run", "0")
    return support.run_alert(installed_app, ACTION, rows, config, splunkd, moto_endpoint.url, tmp_path)


def row(bucket, **extra):
    base = {"policy_id": "B05", "policy": "New external collaborator on a bucket",
            "aws_account_id": support.ACCOUNT_ID, "bucket_name": bucket}
    base.update(extra)
    return base


def test_remove_account_from_policy_and_canonical_grant_from_acl(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = shared_bucket(s3, unique("tw-shared"))
    before = state(s3, bucket)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path,
                       [row(bucket, collaborator=PARTNER), row(bucket, collaborator=PARTNER_CANONICAL)])
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert [e["outcome"] for e in events] == ["success", "success"]
    after = state(s3, bucket)
    (statement,) = after["policy"]["Statement"]  # PartnerWriter named only the partner: dropped
    assert statement["Sid"] == "Partners"
    assert statement["Principal"]["AWS"] in ("arn:aws:iam::%s:root" % OTHER_PARTNER,
                                             ["arn:aws:iam::%s:root" % OTHER_PARTNER])
    assert PARTNER_CANONICAL not in json.dumps(after["grants"])
    assert len(after["grants"]) == len(before["grants"]) - 1

    # undo the ACL change, then the policy change: each restores its own snapshot
    for event in reversed(events):
        _, rows, errors, stderr, _ = support.run_undo(
            installed_app, {"action_id": event["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
        assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    assert state(s3, bucket) == before


def test_deny_mode_appends_a_statement_and_undo_removes_it(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = shared_bucket(s3, unique("tw-deny"))
    before = state(s3, bucket)
    collaborator = "arn:aws:iam::%s:role/uploader" % PARTNER
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)],
                       collaborator=collaborator, mode="deny", dry_run="1")
    assert events[0]["outcome"] == "dry_run" and state(s3, bucket) == before
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)],
                       collaborator=collaborator, mode="deny")
    assert events[0]["outcome"] == "success"
    deny = state(s3, bucket)["policy"]["Statement"][-1]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": collaborator}
    assert deny["Sid"].startswith("TrailWatchDeny")
    proc, again = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket)],
                      collaborator=collaborator, mode="deny")
    assert again[0]["outcome"] == "no_change"
    _, rows, errors, stderr, _ = support.run_undo(
        installed_app, {"action_id": events[0]["action_id"]}, splunkd, moto_endpoint.url, tmp_path)
    assert rows[0]["outcome"] == "success", (rows, errors, stderr)
    assert state(s3, bucket) == before


def test_conditions_owner_and_bad_collaborators_are_refused(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = shared_bucket(s3, unique("tw-cond"), condition=True)
    before = state(s3, bucket)
    rows = [
        row(bucket, collaborator=PARTNER),                      # named in a Condition
        row(bucket, collaborator=support.ACCOUNT_ID),           # the owner itself
        row(bucket, collaborator="eve@example.com"),            # e-mail grantees are gone
        row(support.PROTECTED_BUCKET, collaborator=PARTNER),
        row(bucket),                                            # no collaborator at all
    ]
    s3.create_bucket(Bucket=support.PROTECTED_BUCKET) if support.PROTECTED_BUCKET not in [
        b["Name"] for b in s3.list_buckets()["Buckets"]] else None
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, rows)
    assert proc.returncode == 2
    assert [e["outcome"] for e in events] == ["failure", "skipped_protected", "failure",
                                              "skipped_protected", "failure"]
    assert events[0]["error_code"] == "ManualReview" and "Condition" in events[0]["reason"]
    assert "owns the bucket" in events[1]["reason"]
    assert "e-mail" in events[2]["reason"]
    assert "collaborator option" in events[4]["reason"]
    assert state(s3, bucket) == before
