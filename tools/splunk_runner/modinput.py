"""Running the built add-on's modular inputs the way splunkd does, and reading what they wrote.

splunkd starts ``$SPLUNK_HOME/etc/apps/<app>/bin/<input>.py`` with cwd ``bin/``, the input
definition XML on stdin (server_uri, session_key, checkpoint_dir, one <configuration> stanza
with its params), and reads the XML event stream from stdout; ``--scheme`` and
``--validate-arguments`` (a validation definition on stdin, ``<error><message>`` on stdout
and exit code 1 when refused).

``app_dir`` is the built add-on (default: output/TA-trailwatch of this repository).
"""
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from splunk_runner import BUILT_APP

ACCOUNT_CONF = "ta_trailwatch_account"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


# ---------------------------------------------------------------------------- definitions
def _params_xml(params):
    parts = []
    for name, value in params.items():
        if isinstance(value, (list, tuple)):
            values = "".join("<value>%s</value>" % escape(str(v)) for v in value)
            parts.append("<param_list name=%s>%s</param_list>" % (quoteattr(name), values))
        else:
            parts.append("<param name=%s>%s</param>" % (quoteattr(name), escape(str(value))))
    return "".join(parts)


def input_definition(splunkd, input_type, name, params, checkpoint_dir):
    """The XML splunkd writes to a modular input's stdin for one stanza."""
    stanza = "%s://%s" % (input_type, name)
    full = {"host": "forwarder-1", "interval": "300", "python.version": "python3",
            "disabled": "0"}
    full.update(params)
    return (
        "<input><server_host>forwarder-1</server_host><server_uri>%s</server_uri>"
        "<session_key>%s</session_key><checkpoint_dir>%s</checkpoint_dir><configuration>"
        "<stanza name=%s>%s</stanza></configuration></input>"
        % (escape(splunkd.uri), escape(splunkd.session_key), escape(str(checkpoint_dir)),
           quoteattr(stanza), _params_xml(full))
    ).encode()


def validation_definition(splunkd, name, params, checkpoint_dir="/tmp"):
    return (
        "<items><server_host>forwarder-1</server_host><server_uri>%s</server_uri>"
        "<session_key>%s</session_key><checkpoint_dir>%s</checkpoint_dir>"
        "<item name=%s>%s</item></items>"
        % (escape(splunkd.uri), escape(splunkd.session_key), escape(str(checkpoint_dir)),
           quoteattr(name), _params_xml(params))
    ).encode()


# ---------------------------------------------------------------------------- environment
def install_app(splunkd, app_dir=BUILT_APP):
    """What a fresh install gives splunkd: the add-on's default confs and its declared KV
    collections (splunkd creates those from collections.conf)."""
    splunkd.load_conf_dir(os.path.join(app_dir, "default"))
    with open(os.path.join(app_dir, "default", "collections.conf")) as handle:
        for name in re.findall(r"^\[([^\]]+)\]", handle.read(), re.M):
            splunkd.kv_create_collection(name)


def store_account(splunkd, name="prod", key_id=KEY_ID, secret=SECRET, role_arn=""):
    splunkd.add_ucc_stanza(ACCOUNT_CONF, name, {
        "aws_access_key_id": key_id, "aws_secret_access_key": secret, "role_arn": role_arn,
        "external_id": "", "partition": "aws", "region": "us-east-1",
    })


def input_env(splunk_home, aws_url, cloudtrail_url=None):
    """Environment of the input process: SPLUNK_HOME, AWS endpoints on 127.0.0.1, nothing
    of the host's AWS configuration or proxies."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k.lower() not in
           ("http_proxy", "https_proxy", "no_proxy", "pythonpath")}
    env.update({
        "SPLUNK_HOME": str(splunk_home),
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    if cloudtrail_url:
        env["AWS_ENDPOINT_URL_CLOUDTRAIL"] = cloudtrail_url
    return env


def make_splunk_home(tmp_path):
    home = tmp_path / "splunk"
    (home / "var" / "log" / "splunk").mkdir(parents=True)
    (home / "var" / "lib" / "splunk" / "modinputs").mkdir(parents=True)
    return home


def app_bin(app_dir=BUILT_APP):
    return os.path.join(app_dir, "bin")


def script_args(python, input_type, *args, app_dir=BUILT_APP):
    return [python, os.path.join(app_bin(app_dir), input_type + ".py")] + list(args)


def run_input(python, input_type, stdin, env, args=(), timeout=120, app_dir=BUILT_APP):
    return subprocess.run(script_args(python, input_type, *args, app_dir=app_dir), input=stdin,
                          capture_output=True, cwd=app_bin(app_dir), env=env, timeout=timeout)


# ---------------------------------------------------------------------------- the stream
_EVENT_RE = re.compile(rb"<event\b.*?</event>", re.S)


def parse_stream(data):
    """Events of a modular-input XML stream, as Splunk reads them.

    A stream cut short (SIGKILL) may end inside an event: Splunk discards an unfinished
    event, and so does this parser. Every complete event must be well-formed XML."""
    if isinstance(data, str):
        data = data.encode()
    events = []
    for match in _EVENT_RE.finditer(data):
        element = ET.fromstring(match.group())
        event = {"stanza": element.get("stanza"), "unbroken": element.get("unbroken")}
        for child in element:
            event[child.tag] = child.text if child.tag != "done" else True
        event.setdefault("data", "")
        if event["data"] is None:
            event["data"] = ""
        events.append(event)
    return events


def event_ids(events):
    return [json.loads(e["data"]).get("eventID") for e in events]
