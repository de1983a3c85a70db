"""The package `./build.sh` produces: what Splunk needs is there, nothing it must not carry."""
import configparser
import json
import os
import re
import stat
import tarfile

import pytest

from addon import APP_ID, ROOT

with open(os.path.join(ROOT, "globalConfig.json")) as _handle:
    VERSION = json.load(_handle)["meta"]["version"]
PACKAGE = os.path.join(ROOT, "dist", "%s-%s.tar.gz" % (APP_ID, VERSION))

NATIVE = (".so", ".pyd", ".dll", ".dylib", ".exe", ".a", ".o")
FORBIDDEN_LIBS = ("grpc", "grpcio", "google", "opentelemetry", "protobuf")


@pytest.fixture(scope="module")
def package():
    assert os.path.isfile(PACKAGE), "run ./build.sh first: %s is missing" % PACKAGE
    with tarfile.open(PACKAGE, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        texts = {}
        for name in ("default/app.conf", "app.manifest", "default/restmap.conf",
                     "lib/botocore/session.py", "lib/requirements.txt"):
            texts[name] = tar.extractfile(members[APP_ID + "/" + name]).read().decode()
    return members, texts


def test_single_top_level_folder_named_after_the_app(package):
    members, _ = package
    assert {name.split("/")[0] for name in members} == {APP_ID}


def test_contains_what_splunk_needs(package):
    members, _ = package
    for path in ("default/app.conf", "app.manifest", "README.txt", "LICENSES/Apache-2.0.txt",
                 "metadata/default.meta", "default/restmap.conf", "default/web.conf",
                 "default/data/ui/views/configuration.xml", "default/data/ui/nav/default.xml",
                 "bin/trailwatch/__init__.py", "bin/trailwatch/aws/session.py",
                 "bin/trailwatch_account_rh.py", "bin/ta_trailwatch_rh_account.py",
                 "bin/import_declare_test.py", "lib/boto3/__init__.py",
                 "lib/splunklib/__init__.py", "lib/solnlib/__init__.py",
                 "lib/splunktaucclib/__init__.py", "appserver/static/js/build/globalConfig.json"):
        assert APP_ID + "/" + path in members, path


def test_app_conf_identity_and_version(package):
    _, texts = package
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read_string(texts["default/app.conf"])
    assert conf["package"]["id"] == APP_ID
    assert conf["launcher"]["version"] == VERSION
    assert conf["ui"]["label"] == "TrailWatch for AWS"
    assert conf["id"]["version"] == VERSION
    assert json.loads(texts["app.manifest"])["info"]["id"]["version"] == VERSION


def test_python_required_covers_splunk_9_and_10(package):
    _, texts = package
    values = re.findall(r"^python\.required\s*=\s*(.+)$", texts["default/restmap.conf"], re.M)
    assert values and all(v.strip() == "3.9, 3.13" for v in values)


def test_no_bytecode_native_binaries_or_grpc(package):
    members, _ = package
    for name in members:
        parts = name.split("/")
        assert "__pycache__" not in parts, name
        assert not name.endswith(".pyc"), name
        assert not name.endswith(NATIVE), name
        if len(parts) > 2 and parts[1] == "lib":
            assert parts[2].split("-")[0].split(".")[0].lower() not in FORBIDDEN_LIBS, name


def test_no_world_writable_files_and_no_links(package):
    members, _ = package
    for name, member in members.items():
        assert not member.mode & stat.S_IWOTH, name
        assert not member.issym() and not member.islnk(), name
        if name.split("/")[1:2] == ["lib"] and member.isfile():
            assert not member.mode & 0o111, "executable library file: " + name


def test_no_development_files(package):
    members, _ = package
    for name in members:
        parts = name.split("/") + [""]
        assert parts[1] not in ("local", "tests", "tools", ".git", "output", "dist"), name
        assert not name.endswith(("local.meta", ".pytest_cache")), name


def test_bundled_libraries_match_the_pins(package):
    members, texts = package
    pins = {}
    for line in texts["lib/requirements.txt"].splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-.]", "_", name.lower())] = version
    found = {}
    for name in members:
        match = re.match(r"^%s/lib/([^/]+)-([^-/]+)\.dist-info/$" % APP_ID, name + "/")
        if match:
            found[re.sub(r"[-.]", "_", match.group(1).lower())] = match.group(2)
    assert found == pins


def test_botocore_has_no_udp_monitoring(package):
    _, texts = package
    assert "SOCK_DGRAM" not in texts["lib/botocore/session.py"]
    assert "TrailWatch: client-side monitoring (UDP) removed" in texts["lib/botocore/session.py"]
