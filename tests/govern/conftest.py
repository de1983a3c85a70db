"""Fixtures of the governance tests: an installed copy of the built add-on, the splunkd double
with the add-on's configuration and the protection lists an admin filled, and boto3
clients on the shared moto server (for set-up and for asserting on AWS state)."""
import glob
import os
import pathlib
import shutil
import tarfile
import time
import uuid

import boto3
import botocore.loaders
import botocore.session
import pytest

import twgovern_support as support


# Files a complete build has.
_BUILT_MARKERS = ("bin/trailwatch_make_bucket_private.py", "bin/trailwatchundo.py",
                  "default/alert_actions.conf", "lib/boto3/__init__.py", "lib/splunktaucclib",
                  "lookups/trailwatch_protected_principals_default.csv", "appserver/static/js/build/globalConfig.json")


def _complete(app_dir):
    return all(os.path.exists(os.path.join(app_dir, m)) for m in _BUILT_MARKERS)


def _install_package(parent, wait=240):
    """Install dist/TA-trailwatch-<version>.tar.gz (what ships) under `parent`, as Splunk
    would. Other engineers rebuild output/ and dist/ while tests run: wait for a whole
    package and retry when it changes under us."""
    deadline = time.time() + wait
    while True:
        packages = sorted(glob.glob(os.path.join(support.ROOT, "dist", "TA-trailwatch-*.tar.gz")))
        if packages:
            shutil.rmtree(os.path.join(parent, "TA-trailwatch"), ignore_errors=True)
            try:
                with tarfile.open(packages[-1]) as archive:
                    archive.extractall(parent)
                if _complete(os.path.join(parent, "TA-trailwatch")):
                    return os.path.join(parent, "TA-trailwatch")
            except (OSError, tarfile.TarError, EOFError):
                pass
        if time.time() > deadline:
            pytest.fail("No complete package in dist/: run ./build.sh")
        time.sleep(2)


@pytest.fixture(scope="session")
def installed_app(tmp_path_factory):
    """The built package installed in a temporary etc/apps."""
    app = pathlib.Path(_install_package(str(tmp_path_factory.mktemp("etc_apps"))))
    yield str(app)
    shutil.rmtree(str(app), ignore_errors=True)


# The protection lists as an admin filled them: rows of the KV store collections the
# governance actions read through splunkd's REST API.
PROTECTED_ROWS = {
    "trailwatch_protected_buckets": [
        {"aws_account_id": support.ACCOUNT_ID, "bucket_name": support.PROTECTED_BUCKET,
         "protection": "protected", "reason": "holds payment records"},
        {"aws_account_id": "*", "bucket_name": support.WEBSITE_BUCKET,
         "protection": "intentionally_public", "reason": "static website"},
    ],
    "trailwatch_protected_principals": [
        {"aws_account_id": support.ACCOUNT_ID,
         "principal": "arn:aws:iam::%s:user/%s" % (support.ACCOUNT_ID, support.PROTECTED_USER),
         "reason": "payment service account"},
        {"aws_account_id": support.ACCOUNT_ID,
         "principal": "arn:aws:iam::%s:user%s%s" % (support.ACCOUNT_ID, support.ADMIN_PATH,
                                                   support.PATH_PROTECTED_USER),
         "reason": "administrator (protected by its ARN, with its path)"},
    ],
}


@pytest.fixture
def splunkd(installed_app):
    double = support.GovernSplunkd(installed_app)
    double.start()
    double.add_account("prod")
    for collection, rows in PROTECTED_ROWS.items():
        for row in rows:
            double.kv_insert(collection, row)
    try:
        yield double
    finally:
        double.stop()
    double.assert_clean()


def _client(url, service, app_dir):
    # Service models are read from the installed copy: output/ may be rebuilt meanwhile.
    core = botocore.session.Session()
    core.register_component("data_loader", botocore.loaders.Loader(
        extra_search_paths=[os.path.join(app_dir, "lib", "botocore", "data")],
        include_default_search_paths=False))
    return boto3.session.Session(botocore_session=core).client(
        service, endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=support.KEY_ID, aws_secret_access_key="moto-does-not-check")


@pytest.fixture
def s3(moto_endpoint, installed_app):
    return _client(moto_endpoint.url, "s3", installed_app)


@pytest.fixture
def iam(moto_endpoint, installed_app):
    return _client(moto_endpoint.url, "iam", installed_app)


@pytest.fixture
def ses(moto_endpoint, installed_app):
    return _client(moto_endpoint.url, "ses", installed_app)


@pytest.fixture
def sns(moto_endpoint, installed_app):
    return _client(moto_endpoint.url, "sns", installed_app)


@pytest.fixture
def smtp():
    """A loopback SMTP server (smtp_loopback.py) that requires authentication."""
    from smtp_loopback import LoopbackSmtp

    server = LoopbackSmtp(users={"splunk-relay": "relay-Passw0rd!"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def unique():
    return lambda prefix: "%s-%s" % (prefix, uuid.uuid4().hex[:10])
