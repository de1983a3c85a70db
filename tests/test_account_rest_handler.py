"""The Accounts tab's REST handler, driven the way splunkd drives it.

The handler module ucc-gen generated (bin/ta_trailwatch_rh_account.py, which loads our
AccountHandler) runs in-process with a test double of Splunk's `splunk.admin` module
(tests/fake_splunk); everything it stores or reads goes over HTTP to the splunkd double, and
AWS is moto enforcing IAM authentication.
"""
import importlib
import os
import sys

import pytest
from moto_fixtures import ACCOUNT_ID
from splunkd_double.fixtures import splunkd  # noqa: F401

from addon import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "fake_splunk"))

from splunk import admin  # noqa: E402  (the test double)

CONF = "ta_trailwatch_account"
SETTINGS = "ta_trailwatch_settings"


@pytest.fixture
def handler_module(splunkd, monkeypatch, tmp_path):  # noqa: F811
    # splunkd runs the handler as the main script from $SPLUNK_HOME/etc/apps/<app>/bin, and
    # splunktaucclib derives the app name from that path.
    splunk_home = tmp_path / "splunk"
    (splunk_home / "etc" / "apps").mkdir(parents=True)
    (splunk_home / "etc" / "apps" / "TA-trailwatch").symlink_to(os.path.join(ROOT, "output",
                                                                            "TA-trailwatch"))
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(
        splunk_home / "etc" / "apps" / "TA-trailwatch" / "bin" / "ta_trailwatch_rh_account.py"),
        raising=False)  # under pytest-xdist, __main__ (the worker's) has no __file__
    monkeypatch.setenv("SPLUNK_HOME", str(splunk_home))
    monkeypatch.setenv("SPLUNKD_URI", splunkd.uri)
    splunkd.create_conf(CONF)
    splunkd.create_conf(SETTINGS)
    module = importlib.import_module("ta_trailwatch_rh_account")
    return module


def call(module, splunkd, action, name, fields):  # noqa: F811
    handler_class = type("AccountHandler", (module.AccountHandler,), {"endpoint": module.endpoint})
    handler = handler_class(action, admin.CallerArgs(name, fields), splunkd.session_key)
    conf_info = admin.ConfInfo()
    if action == admin.ACTION_CREATE:
        handler.handleCreate(conf_info)
    else:
        handler.handleEdit(conf_info)
    return conf_info


def account_fields(key, secret, **extra):
    fields = {"aws_access_key_id": key, "aws_secret_access_key": secret, "partition": "aws",
              "region": "us-east-1", "role_arn": "", "external_id": ""}
    fields.update(extra)
    return fields


def test_create_validates_and_stores_the_secret_encrypted(handler_module, splunkd, moto_iam,  # noqa: F811
                                                          aws_endpoint):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("rh-create")
    call(handler_module, splunkd, admin.ACTION_CREATE, "prod", account_fields(key, secret))
    stored = splunkd.stanza(CONF, "prod")
    assert stored["aws_access_key_id"] == key
    assert stored["aws_secret_access_key"] != secret  # the conf file holds a mask only
    assert splunkd.ucc_stanza(CONF, "prod")["aws_secret_access_key"] == secret
    # Saving an account also prepares the governance record seal key, which responders (who
    # may read stored credentials but not create them) need before their first action.
    (seal,) = [p for p in splunkd.passwords()
               if (p["realm"], p["username"]) == ("trailwatch_governance", "record_seal_key")]
    assert len(seal["clear_password"]) == 64


def test_create_with_a_bad_secret_is_refused_and_nothing_is_stored(handler_module, splunkd,  # noqa: F811
                                                                   moto_iam, aws_endpoint):
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("rh-bad")
    from splunktaucclib.rest_handler.error import RestError

    with pytest.raises(RestError) as err:
        call(handler_module, splunkd, admin.ACTION_CREATE, "bad",
             account_fields(key, "Typo" + secret[4:]))
    assert err.value.status == 400
    assert "secret access key does not match access key ID %s" % key in err.value.message
    assert secret[4:] not in err.value.message
    assert "bad" not in splunkd.conf(CONF)
    assert not [p for p in splunkd.passwords() if secret[4:] in p["clear_password"]]


def test_edit_without_retyping_the_secret(handler_module, splunkd, moto_iam, aws_endpoint):  # noqa: F811
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("rh-edit", ["sts:AssumeRole"])
    role = moto_iam.make_role("RhEdit", "arn:aws:iam::%s:user/rh-edit" % ACCOUNT_ID,
                              external_id="rh-ext-1")
    call(handler_module, splunkd, admin.ACTION_CREATE, "prod", account_fields(key, secret))
    # The form sends the mask back for the untouched secret, and adds a role.
    call(handler_module, splunkd, admin.ACTION_EDIT, "prod",
         account_fields(key, "******", role_arn=role, external_id="rh-ext-1", region="eu-west-1"))
    after = splunkd.ucc_stanza(CONF, "prod")
    assert after["aws_secret_access_key"] == secret
    assert after["role_arn"] == role
    assert after["external_id"] == "rh-ext-1"
    assert after["region"] == "eu-west-1"


def test_edit_with_a_wrong_external_id_is_refused(handler_module, splunkd, moto_iam, aws_endpoint):  # noqa: F811
    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("rh-ext", ["sts:AssumeRole"])
    role = moto_iam.make_role("RhExt", "arn:aws:iam::%s:user/rh-ext" % ACCOUNT_ID,
                              external_id="right-ext-9")
    call(handler_module, splunkd, admin.ACTION_CREATE, "prod",
         account_fields(key, secret, role_arn=role, external_id="right-ext-9"))
    from splunktaucclib.rest_handler.error import RestError

    with pytest.raises(RestError) as err:
        call(handler_module, splunkd, admin.ACTION_EDIT, "prod",
             account_fields(key, "******", role_arn=role, external_id="wrong-ext-9"))
    assert "not allowed to assume role %s" % role in err.value.message
    assert splunkd.ucc_stanza(CONF, "prod")["external_id"] == "right-ext-9"


def test_validation_uses_the_configured_proxy(handler_module, splunkd, moto_iam, aws_endpoint):  # noqa: F811
    from http_proxy import ForwardProxy

    aws_endpoint(moto_iam.url)
    key, secret = moto_iam.make_user("rh-proxy")
    proxy = ForwardProxy(credentials=("svc", "ProxyPass-77"))
    try:
        splunkd.add_ucc_stanza(SETTINGS, "proxy", {
            "proxy_enabled": "1", "proxy_type": "http", "proxy_url": "127.0.0.1",
            "proxy_port": str(proxy.port), "proxy_username": "svc",
            "proxy_password": "ProxyPass-77"}, encrypted=("proxy_password",))
        call(handler_module, splunkd, admin.ACTION_CREATE, "prod", account_fields(key, secret))
        assert len(proxy.forwarded) == 1
    finally:
        proxy.close()
