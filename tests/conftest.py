"""Shared test set-up.

Tests run against the *built* add-on (output/TA-trailwatch), the way Splunk runs it:
its bin/ and lib/ go first on sys.path so in-process tests import exactly the bundled,
pinned libraries (boto3, solnlib, splunklib) that ship, not the test venv's copies.
`./build.sh test` builds first when the build is stale.
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_ID = "TA-trailwatch"
APP_DIR = os.path.join(ROOT, "output", APP_ID)
APP_BIN = os.path.join(APP_DIR, "bin")
APP_LIB = os.path.join(APP_DIR, "lib")

if not os.path.isdir(APP_BIN):
    raise pytest.UsageError(
        "The add-on is not built: run ./build.sh test (it builds first), or ./build.sh"
    )
for _path in (APP_LIB, APP_BIN):
    if _path not in sys.path:
        sys.path.insert(0, _path)

sys.path.insert(0, os.path.join(ROOT, "tests"))


def splunk_pythons():
    """Interpreters Splunk runs add-ons with (3.9 on Splunk 9.x, 3.13 on Splunk 10)."""
    found = []
    versions_dir = os.path.expanduser("~/.pyenv/versions")
    for version in ("3.9", "3.13"):
        exe = None
        # pyenv's real interpreters first: its shims fail unless the version is activated.
        if os.path.isdir(versions_dir):
            for name in sorted(os.listdir(versions_dir)):
                path = os.path.join(versions_dir, name, "bin", "python" + version)
                if name.startswith(version + ".") and os.path.exists(path):
                    exe = path
        if exe is None:
            which = shutil.which("python" + version)
            if which and "/shims/" not in which:
                exe = which
        found.append((version, exe))
    return found


@pytest.fixture(params=[v for v, _ in splunk_pythons()], ids=lambda v: "py" + v)
def splunk_python(request):
    """Path of a Splunk-supported interpreter; skips (saying which) when it is absent."""
    exe = dict(splunk_pythons())[request.param]
    if exe is None:
        pytest.skip("Python %s is not installed on this machine" % request.param)
    return exe


def run_app_script(python, script, args=(), stdin=None, env=None, timeout=120):
    """Run a script from the built add-on's bin/ as splunkd would (cwd = bin/)."""
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    full_env.update(env or {})
    return subprocess.run(
        [python, os.path.join(APP_BIN, script)] + list(args),
        input=stdin, capture_output=True, cwd=APP_BIN, env=full_env, timeout=timeout,
    )


from moto_fixtures import aws_endpoint, moto_endpoint, moto_iam  # noqa: E402,F401
