"""Where the built add-on is and how to run its scripts: shared by every test module.

(Tests import these names from here, not from conftest: several conftest.py files exist.)
"""
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_ID = "TA-trailwatch"
APP_DIR = os.path.join(ROOT, "output", APP_ID)
APP_BIN = os.path.join(APP_DIR, "bin")
APP_LIB = os.path.join(APP_DIR, "lib")


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


def run_app_script(python, script, args=(), stdin=None, env=None, timeout=120):
    """Run a script from the built add-on's bin/ as splunkd would (cwd = bin/)."""
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    full_env.update(env or {})
    return subprocess.run(
        [python, os.path.join(APP_BIN, script)] + list(args),
        input=stdin, capture_output=True, cwd=APP_BIN, env=full_env, timeout=timeout,
    )

