"""Shared test set-up.

Tests run against the *built* add-on (output/TA-trailwatch), the way Splunk runs it:
its bin/ and lib/ go first on sys.path so in-process tests import exactly the bundled,
pinned libraries (boto3, solnlib, splunklib) that ship, not the test venv's copies.
`./build.sh test` builds first when the build is stale. Paths and helpers live in
tests/addon.py.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# tools/: the doubles and runners the tests share with the demo and the benchmarks
# (splunkd_double, splunk_runner, splreplay, trailwatch_demo).
sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from addon import APP_BIN, APP_LIB, splunk_pythons  # noqa: E402

if not os.path.isdir(APP_BIN):
    raise pytest.UsageError(
        "The add-on is not built: run ./build.sh test (it builds first), or ./build.sh"
    )
for _path in (APP_LIB, APP_BIN):
    if _path not in sys.path:
        sys.path.insert(0, _path)


@pytest.fixture(params=[v for v, _ in splunk_pythons()], ids=lambda v: "py" + v)
def splunk_python(request):
    """Path of a Splunk-supported interpreter; skips (saying which) when it is absent."""
    exe = dict(splunk_pythons())[request.param]
    if exe is None:
        pytest.skip("Python %s is not installed on this machine" % request.param)
    return exe


from moto_fixtures import aws_endpoint, moto_endpoint, moto_iam  # noqa: E402,F401
