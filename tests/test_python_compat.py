"""Code in package/bin runs on Splunk's Python: 3.9 (Splunk 9.4) through 3.13 (Splunk 10).

Three independent checks, any of which fails the suite:
- ruff with target py39 (syntax newer than 3.9, undefined names, likely bugs);
- vermin with target 3.9 (standard-library features newer than 3.9, annotations included);
- every module of package/bin imported by the real 3.9 and 3.13 interpreters, with the
  built add-on's lib/ (catches what static tools miss, e.g. annotations evaluated at import).
"""
import os
import subprocess
import sys

from addon import APP_BIN, APP_LIB, ROOT

PACKAGE_BIN = os.path.join(ROOT, "package", "bin")


def _our_python_files():
    for base, _dirs, files in os.walk(PACKAGE_BIN):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(base, name)


def test_ruff_py39():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--target-version", "py39", "--no-cache",
         PACKAGE_BIN],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_vermin_py39():
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    result = subprocess.run(
        [vermin, "-t=3.9-", "--violations", "--no-tips", "--eval-annotations",
         "--no-parse-comments"] + sorted(_our_python_files()),
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_import_on_splunk_pythons(splunk_python):
    modules = []
    trailwatch_dir = os.path.join(APP_BIN, "trailwatch")
    for base, _dirs, files in os.walk(trailwatch_dir):
        for name in sorted(files):
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(base, name), APP_BIN)[:-3]
                module = rel.replace(os.sep, ".")
                modules.append(module[: -len(".__init__")] if module.endswith(".__init__") else module)
    assert "trailwatch.aws.session" in modules
    code = (
        "import importlib, sys\n"
        "sys.path[:0] = [%r, %r]\n"
        "for name in %r:\n"
        "    importlib.import_module(name)\n"
        "print('ok', len(%r))\n" % (APP_LIB, APP_BIN, modules, modules)
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    result = subprocess.run([splunk_python, "-c", code], capture_output=True, text=True,
                            cwd=APP_BIN, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")
