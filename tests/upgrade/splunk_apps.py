"""Installing add-on packages the way Splunk does, and building a past release from git.

Splunk installs or upgrades an app from its package (Apps > Install app from file with
"Upgrade app", `splunk install app <package> -update 1`, the search head cluster deployer) by
writing the package's files over the app's folder in $SPLUNK_HOME/etc/apps: a file of the
package replaces the file of the same path, files the package lacks stay where they are, and
local/ (which packages never contain) stays.
"""
import glob
import os
import shutil
import subprocess
import tarfile
import tempfile

from addon import APP_ID, ROOT

# The release before lookups moved to the KV store: every admin list and baseline was a CSV
# file in lookups/ that the package shipped.
PREVIOUS_RELEASE = "8460753f6f699c752705085faed5752d4702d3b7"


def install(package, apps_dir):
    """Installs (or upgrades to) ``package`` in ``apps_dir``; returns the app's folder."""
    with tempfile.TemporaryDirectory(prefix="tw-package-") as unpacked:
        with tarfile.open(package) as archive:
            archive.extractall(unpacked)
        source = os.path.join(unpacked, APP_ID)
        if os.path.exists(os.path.join(source, "local")):
            raise AssertionError("%s contains local/: a package must not" % package)
        target = os.path.join(apps_dir, APP_ID)
        shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def current_package():
    """The package ./build.sh made of this tree (dist/TA-trailwatch-<version>.tar.gz)."""
    found = sorted(glob.glob(os.path.join(ROOT, "dist", APP_ID + "-*.tar.gz")))
    if not found:
        raise AssertionError("no package in dist/: run ./build.sh")
    return found[-1]


def build_release(commit, work):
    """Builds the package of ``commit`` with that commit's own build.sh, in a temporary git
    worktree (removed afterwards); returns the package's path under ``work``.

    The worktree uses this tree's virtual environment and development requirements: the
    add-on's content and build script are the release's, the build tools today's."""
    tree = os.path.join(work, "release-src")
    git = ["git", "-C", ROOT]
    added = subprocess.run(git + ["worktree", "add", "--detach", tree, commit],
                           capture_output=True, text=True)
    if added.returncode != 0:
        raise AssertionError("cannot check out release %s (a clone with its history is "
                             "needed): %s" % (commit, added.stderr.strip()))
    try:
        os.symlink(os.path.realpath(os.path.join(ROOT, ".venv")), os.path.join(tree, ".venv"))
        shutil.copy(os.path.join(ROOT, "requirements-dev.txt"), tree)
        built = subprocess.run([os.path.join(tree, "build.sh")], cwd=tree, capture_output=True,
                               text=True, timeout=1200)
        if built.returncode != 0:
            raise AssertionError("building release %s failed:\n%s" % (commit, built.stderr[-3000:]))
        (package,) = glob.glob(os.path.join(tree, "dist", APP_ID + "-*.tar.gz"))
        kept = os.path.join(work, "previous-" + os.path.basename(package))
        shutil.copy(package, kept)
        return kept
    finally:
        subprocess.run(git + ["worktree", "remove", "--force", tree], capture_output=True)
