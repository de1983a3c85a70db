"""Fixtures of the input tests: a started splunkd double holding an account, moto on
127.0.0.1 (reset for each test), the LookupEvents fake, a SPLUNK_HOME for logs."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from inputs_helpers import install_app, make_splunk_home, store_account  # noqa: E402
from lookup_events_fake import LookupEventsFake  # noqa: E402
from moto_fixtures import MotoServer  # noqa: E402
from splunkd_double.fixtures import splunkd  # noqa: E402,F401


@pytest.fixture(scope="session")
def moto_server():
    """A moto of our own (other tests' buckets and users must not show up in snapshots),
    with AWS managed IAM policies loaded."""
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    try:
        server = MotoServer(auth=False)
    finally:
        if previous is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server):
    moto_server.reset()
    return moto_server


@pytest.fixture
def lookup_fake():
    fake = LookupEventsFake()
    yield fake
    fake.stop()


@pytest.fixture
def splunk_home(tmp_path):
    return make_splunk_home(tmp_path)


@pytest.fixture
def installed(splunkd):  # noqa: F811
    """The splunkd double as after installing the add-on and saving account 'prod'."""
    install_app(splunkd)
    store_account(splunkd)
    return splunkd
