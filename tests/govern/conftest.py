"""Fixtures of the governance tests: an installed copy of the built add-on whose protection
lookups an admin has edited, the splunkd double with the add-on's configuration, and boto3
clients on the shared moto server (for set-up and for asserting on AWS state)."""
import os
import shutil
import subprocess
import uuid

import boto3
import pytest

import twgovern_support as support

PROTECTED_BUCKET = "tw-protected-data"
WEBSITE_BUCKET = "tw-public-website"
PROTECTED_USER = "svc-payments"


@pytest.fixture(scope="session")
def installed_app(tmp_path_factory):
    """A copy of output/TA-trailwatch (hard links: cheap, and safe from concurrent rebuilds)
    with the protection lookups as an admin edited them."""
    if not os.path.isdir(support.APP_DIR):
        pytest.fail("The add-on is not built: run ./build.sh")
    app = tmp_path_factory.mktemp("etc_apps") / "TA-trailwatch"
    subprocess.run(["cp", "-al", support.APP_DIR, str(app)], check=True)
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
