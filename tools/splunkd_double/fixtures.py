"""pytest fixtures for the splunkd double. Import them into a conftest.py:

    from splunkd_double.fixtures import splunkd, splunkd_https  # noqa: F401

(or, in a test module, ``splunkd = splunkd_double.fixtures.splunkd``).

Each test gets a fresh, started double. At teardown the fixture fails the test when the
double received a request it does not implement (501) or hit a bug (500): a script under
test must not depend on splunkd behaviour the double does not model. A test that probes
unimplemented endpoints on purpose calls ``splunkd.allow_unimplemented()``.
"""
import pytest

from .server import SplunkdDouble


def _serve(https):
    double = SplunkdDouble(https=https)
    double.start()
    try:
        yield double
    finally:
        double.stop()
    if not double._allow_unimplemented:
        double.assert_clean()
    else:
        assert not double.errors, "splunkd double failed:\n" + "\n".join(double.errors)


@pytest.fixture
def splunkd():
    """A started splunkd double on http://127.0.0.1:<port> (app TA-trailwatch, admin/changeme)."""
    yield from _serve(https=False)


@pytest.fixture
def splunkd_https():
    """The same on https, with a throwaway self-signed certificate (``.cert_file``)."""
    yield from _serve(https=True)
