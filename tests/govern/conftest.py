"""Fixtures of the governance tests: an installed copy of the built add-on whose protection
lookups an admin has edited, the splunkd double with the add-on's configuration, and boto3
clients on the shared moto server (for set-up and for asserting on AWS state)."""
import os
import shutil
import subprocess
import time
import uuid

import boto3
import pytest

import twgovern_support as support

from twgovern_support import PROTECTED_BUCKET, PROTECTED_USER, WEBSITE_BUCKET


# Files a complete build has (other engineers rebuild output/ while tests run).
_BUILT_MARKERS = ("bin/trailwatch_make_bucket_private.py", "bin/trailwatchundo.py",
                  "default/alert_actions.conf", "lib/boto3/__init__.py", "lib/splunktaucclib",
                  "lookups/trailwatch_protected_buckets.csv", "appserver/static/js/build/globalConfig.json")


def _complete(app_dir):
    return all(os.path.exists(os.path.join(app_dir, m)) for m in _BUILT_MARKERS)


def _copy_when_built(source, target, wait=180):
    deadline = time.time() + wait
    while True:
        if _complete(source):
            shutil.rmtree(target, ignore_errors=True)
            done = subprocess.run(["cp", "-al", source, target], capture_output=True)
            if done.returncode == 0 and _complete(target):
                return
        if time.time() > deadline:
            pytest.fail("No complete build in %s: run ./build.sh" % source)
        time.sleep(2)


@pytest.fixture(scope="session")
def installed_app(tmp_path_factory):
    """A copy of output/TA-trailwatch (hard links: cheap, and safe from concurrent rebuilds)
    with the protection lookups as an admin edited them."""
    app = tmp_path_factory.mktemp("etc_apps") / "TA-trailwatch"
    _copy_when_built(support.APP_DIR, str(app))
    lookups = app / "lookups"
    for name in ("trailwatch_protected_buckets.csv", "trailwatch_protected_principals.csv"):
        target = lookups / name
        shipped = target.read_text()
        target.unlink()  # break the hard link before writing
        rows = {
            "trailwatch_protected_buckets.csv": [
                "%s,%s,protected,holds payment records" % (support.ACCOUNT_ID, PROTECTED_BUCKET),
                "*,%s,intentionally_public,static website" % WEBSITE_BUCKET,
            ],
            "trailwatch_protected_principals.csv": [
                "%s,arn:aws:iam::%s:user/%s,payment service account"
                % (support.ACCOUNT_ID, support.ACCOUNT_ID, PROTECTED_USER),
            ],
        }[name]
        target.write_text(shipped.rstrip("\n") + "\n" + "\n".join(rows) + "\n")
    # Python caches written next to the shared build must not leak into it.
    yield str(app)
    shutil.rmtree(str(app), ignore_errors=True)


@pytest.fixture
def splunkd():
    double = support.GovernSplunkd()
    double.start()
    double.add_account("prod")
    try:
        yield double
    finally:
        double.stop()
    double.assert_clean()


def _client(url, service):
    return boto3.session.Session().client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=support.KEY_ID, aws_secret_access_key="moto-does-not-check")


@pytest.fixture
def s3(moto_endpoint):
    return _client(moto_endpoint.url, "s3")


@pytest.fixture
def iam(moto_endpoint):
    return _client(moto_endpoint.url, "iam")


@pytest.fixture
def unique():
    return lambda prefix: "%s-%s" % (prefix, uuid.uuid4().hex[:10])
