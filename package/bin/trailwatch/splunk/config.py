"""The add-on's runtime configuration, read from splunkd: AWS accounts, proxy, log level.

Every input, search command, alert action and REST handler reads its configuration here and
nowhere else. The values come from the conf files the Configuration page (UCC) writes:

* ``ta_trailwatch_account.conf``, one stanza per account;
* ``ta_trailwatch_settings.conf``, stanzas ``proxy`` and ``logging``.

UCC keeps encrypted fields (secret access key, external ID, proxy password) out of the conf
file: the stanza holds ``******`` and Splunk's credential store holds the clear values, in
realm ``__REST_CREDENTIAL__#TA-trailwatch#configs/conf-<file>``. solnlib's ConfManager reads
both through splunkd's REST API and hands back decrypted stanzas.

The functions return stored values as strings ("" when empty) and leave judging them to
the code that uses them (trailwatch.aws.session's AccountConfig and ProxyConfig). Problems
reaching or reading splunkd, and missing accounts, raise ``ConfigError``, whose message says
what to fix. Secrets never appear in a log record or an exception message.

Runs on the Python of Splunk 9.4 (3.9) through Splunk 10 (3.13).
"""
import logging
from urllib.parse import urlsplit

from solnlib.conf_manager import ConfManager
from solnlib.credentials import CredentialNotExistException
from solnlib.soln_exceptions import ConfManagerException, ConfStanzaNotExistException
from splunklib.binding import HTTPError

import trailwatch

ACCOUNT_FIELDS = (
    "credential_source",
    "aws_access_key_id",
    "aws_secret_access_key",
    "role_arn",
    "external_id",
    "partition",
    "region",
)
PROXY_STANZA = "proxy"
PROXY_FIELDS = (
    "proxy_enabled",
    "proxy_type",
    "proxy_url",
    "proxy_port",
    "proxy_username",
    "proxy_password",
)
LOGGING_STANZA = "logging"
LOG_LEVEL_FIELD = "loglevel"
DEFAULT_LOG_LEVEL = "INFO"
# Names logging.Logger.setLevel accepts (UCC's logging tab offers DEBUG .. CRITICAL and WARN).
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL")
DEFAULT_SPLUNKD_PORT = 8089

_ACCOUNTS_PAGE = "Configuration > Accounts"
_PROXY_PAGE = "Configuration > Proxy"

logger = logging.getLogger(__name__)


class ConfigError(Exception):
    """The add-on's configuration is missing or cannot be read; the message says what to fix
    (and never contains a secret)."""


def parse_server_uri(server_uri):
    """(scheme, host, port) of a splunkd URI such as ``https://127.0.0.1:8089``."""
    text = (server_uri or "").strip()
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == -1:
        raise ConfigError(
            "The splunkd address %r is not of the form https://host:port." % text
        )
    return parts.scheme.lower(), parts.hostname, port or DEFAULT_SPLUNKD_PORT


def realm_of(conf_file):
    """The credential-store realm UCC uses for the encrypted fields of ``conf_file``."""
    return "__REST_CREDENTIAL__#%s#configs/conf-%s" % (trailwatch.APP_NAME, conf_file)


def load_account(session_key, server_uri, name):
    """The decrypted fields of AWS account ``name``: ``name`` and ACCOUNT_FIELDS."""
    if not name or not str(name).strip():
        raise ConfigError(
            "No AWS account is selected: choose one of the accounts under %s." % _ACCOUNTS_PAGE
        )
    name = str(name).strip()
    missing = ConfigError(
        "AWS account '%s' is not configured: add it under %s." % (name, _ACCOUNTS_PAGE)
    )
    conf = _conf_file(session_key, server_uri, trailwatch.ACCOUNT_CONF)
    if conf is None:
        raise missing
    subject = "AWS account '%s'" % name
    try:
        with _reading(server_uri, subject, _ACCOUNTS_PAGE):
            stanza = conf.get(name)
    except _Absent:
        raise missing from None
    return _account(name, stanza)


def load_accounts(session_key, server_uri):
    """{name: decrypted fields} of every configured AWS account ({} when there is none)."""
    conf = _conf_file(session_key, server_uri, trailwatch.ACCOUNT_CONF)
    if conf is None:
        return {}
    try:
        with _reading(server_uri, "one of the AWS accounts", _ACCOUNTS_PAGE):
            stanzas = conf.get_all()
    except _Absent:
        return {}
    return {name: _account(name, stanza) for name, stanza in sorted(stanzas.items())}


def load_proxy(session_key, server_uri):
    """The proxy settings (PROXY_FIELDS, password decrypted); {} when no proxy is set up."""
    conf = _conf_file(session_key, server_uri, trailwatch.SETTINGS_CONF)
    if conf is None:
        return {}
    try:
        with _reading(server_uri, "the proxy settings", _PROXY_PAGE):
            stanza = conf.get(PROXY_STANZA)
    except _Absent:
        return {}
    proxy = {field: _text(stanza.get(field)) for field in PROXY_FIELDS}
    enabled = proxy["proxy_enabled"].strip().lower() in ("1", "true", "yes", "t", "y")
    if not enabled and not proxy["proxy_url"].strip():
        return {}
    return proxy


def load_log_level(session_key, server_uri):
    """The add-on's log level (Configuration > Logging), DEFAULT_LOG_LEVEL when unset."""
    conf = _conf_file(session_key, server_uri, trailwatch.SETTINGS_CONF)
    if conf is None:
        return DEFAULT_LOG_LEVEL
    try:
        with _reading(server_uri, "the logging settings", "Configuration > Logging"):
            stanza = conf.get(LOGGING_STANZA)
    except _Absent:
        return DEFAULT_LOG_LEVEL
    level = _text(stanza.get(LOG_LEVEL_FIELD)).strip().upper()
    if level not in LOG_LEVELS:
        if level:
            logger.warning("Unknown log level %r in %s.conf; using %s.",
                           level, trailwatch.SETTINGS_CONF, DEFAULT_LOG_LEVEL)
        return DEFAULT_LOG_LEVEL
    return level


# --------------------------------------------------------------------------- internals
class _Absent(Exception):
    """The stanza asked for does not exist."""


class _reading(object):
    """Turns what solnlib and splunklib raise while reading a stanza into ``_Absent`` or
    ``ConfigError``; messages name the thing read, never a value."""

    def __init__(self, server_uri, subject, page):
        self.server_uri = server_uri
        self.subject = subject
        self.page = page

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, ConfStanzaNotExistException):
            raise _Absent() from None
        if isinstance(exc, CredentialNotExistException):
            raise ConfigError(
                "The secret of %s is missing from Splunk's credential store: enter it again "
                "under %s." % (self.subject, self.page)
            ) from None
        if isinstance(exc, (ValueError, KeyError, TypeError)):
            # The stored credential is not the JSON object UCC writes, or lacks a field.
            raise ConfigError(
                "The stored secret of %s cannot be read: enter it again under %s."
                % (self.subject, self.page)
            ) from None
        _raise_splunkd_error(exc, self.server_uri, self.subject)
        return False


def _raise_splunkd_error(exc, server_uri, subject):
    if isinstance(exc, HTTPError):
        if exc.status == 401:
            raise ConfigError(
                "splunkd at %s refused the session key while reading %s (HTTP 401): the "
                "session has expired or the key is wrong." % (server_uri, subject)
            ) from None
        raise ConfigError(
            "splunkd at %s answered HTTP %s %s while reading %s."
            % (server_uri, exc.status, exc.reason, subject)
        ) from None
    if isinstance(exc, OSError):
        raise ConfigError(
            "Cannot reach splunkd at %s to read %s (%s)." % (server_uri, subject, type(exc).__name__)
        ) from None


def _conf_file(session_key, server_uri, conf_file):
    """solnlib's ConfFile for ``conf_file`` in the add-on, or None when the file does not exist."""
    if not session_key:
        raise ConfigError("No splunkd session key was given: the add-on cannot read its settings.")
    scheme, host, port = parse_server_uri(server_uri)
    try:
        manager = ConfManager(
            session_key,
            trailwatch.APP_NAME,
            owner="nobody",
            scheme=scheme,
            host=host,
            port=port,
            realm=realm_of(conf_file),
        )
        return manager.get_conf(conf_file)
    except ConfManagerException:
        return None
    except ValueError:  # solnlib rejected the scheme, host or port
        raise ConfigError(
            "The splunkd address %r is not of the form https://host:port." % server_uri
        ) from None
    except Exception as exc:  # splunklib/requests errors: reported without their details
        _raise_splunkd_error(exc, server_uri, "%s.conf" % conf_file)
        raise


def _text(value):
    return "" if value is None else str(value)


def _account(name, stanza):
    account = {"name": name}
    for field in ACCOUNT_FIELDS:
        account[field] = _text(stanza.get(field))
    return account
