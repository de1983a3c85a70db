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
    from trailwatch.aws.exposure import normalize_acl

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


# --------------------------------------------------------------------------- undo after later changes
PUBLIC_READ = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}
PARTNER_READ = {"Sid": "PartnerRead", "Effect": "Allow", "Action": "s3:GetObject",
                "Principal": {"AWS": "arn:aws:iam::%s:root" % PARTNER}}


def public_and_partner(s3, name):
    s3.create_bucket(Bucket=name)
    statements = [dict(s, Resource="arn:aws:s3:::%s/*" % name) for s in (PUBLIC_READ, PARTNER_READ)]
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return statements


def sids(s3, name):
    found = state(s3, name)["policy"]
    return [s["Sid"] for s in found["Statement"]] if found else []


def block(s3, name):
    try:
        return s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        return None


def undo(installed_app, splunkd, moto_endpoint, tmp_path, action_id, **args):
    _, rows, errors, stderr, events = support.run_undo(
        installed_app, dict(args, action_id=action_id), splunkd, moto_endpoint.url, tmp_path)
    assert len(rows) == 1, (rows, errors, stderr)
    return rows[0], events


def test_undo_refuses_after_a_later_hand_change_and_force_takes_back_only_its_own(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = unique("tw-drift")
    public_and_partner(s3, bucket)
    proc, events = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket, collaborator=PARTNER)])
    assert events[0]["outcome"] == "success", events[0]["reason"]
    action_id = events[0]["action_id"]
    assert sids(s3, bucket) == ["PublicRead"]
    # Then an administrator removes the public statement by hand.
    s3.delete_bucket_policy(Bucket=bucket)
    by_hand = state(s3, bucket)

    # Undo would put the whole snapshot back, public statement included: it is refused.
    result, audit = undo(installed_app, splunkd, moto_endpoint, tmp_path, action_id)
    assert (result["outcome"], result["error_code"]) == ("failure", "Drifted")
    assert "the bucket policy changed after the action" in result["reason"]
    assert "force=true" in result["reason"] and "nothing was changed" in result["reason"]
    assert audit[0]["outcome"] == "failure" and audit[0]["drift"] == ["the bucket policy changed after the action"]
    assert state(s3, bucket) == by_hand
    assert splunkd.records()[action_id]["status"] == "done"  # still there to undo

    # A dry run shows the drift and what a forced undo would write: the partner's statement only.
    result, _ = undo(installed_app, splunkd, moto_endpoint, tmp_path, action_id, dry_run="true")
    assert result["outcome"] == "dry_run" and "would refuse without force=true" in result["reason"]
    (step,) = json.loads(result["plan"])
    assert step["operation"] == "PutBucketPolicy"
    assert [s["Sid"] for s in json.loads(step["params"]["Policy"])["Statement"]] == ["PartnerRead"]
    assert state(s3, bucket) == by_hand

    result, _ = undo(installed_app, splunkd, moto_endpoint, tmp_path, action_id, force="true")
    assert result["outcome"] == "success", result["reason"]
    assert sids(s3, bucket) == ["PartnerRead"]  # the public statement stays gone
    assert splunkd.records()[action_id]["status"] == "undone"


def test_undo_of_an_earlier_action_after_make_private(installed_app, splunkd, moto_endpoint, s3, unique, tmp_path):
    bucket = unique("tw-later")
    public_and_partner(s3, bucket)
    proc, removed = run(installed_app, splunkd, moto_endpoint, tmp_path, [row(bucket, collaborator=PARTNER)])
    assert removed[0]["outcome"] == "success"
    proc, private = support.run_alert(installed_app, "trailwatch_make_bucket_private", [row(bucket)],
                                      {"dry_run": "0"}, splunkd, moto_endpoint.url, tmp_path)
    assert private[0]["outcome"] == "success", private[0]["reason"]
    after_private = (state(s3, bucket), block(s3, bucket))
    assert after_private[0]["policy"] is None and all(after_private[1].values())

    result, _ = undo(installed_app, splunkd, moto_endpoint, tmp_path, removed[0]["action_id"])
    assert (result["outcome"], result["error_code"]) == ("failure", "Drifted")
    assert (state(s3, bucket), block(s3, bucket)) == after_private

    # Forced, it gives the partner back its statement and leaves make-private's work alone
    # (it never needs to touch the public access block, which it did not change).
    result, _ = undo(installed_app, splunkd, moto_endpoint, tmp_path, removed[0]["action_id"], force="true")
    assert result["outcome"] == "success", result["reason"]
    assert [p["operation"] for p in json.loads(result["plan"])] == ["PutBucketPolicy"]
    assert sids(s3, bucket) == ["PartnerRead"] and block(s3, bucket) == after_private[1]
