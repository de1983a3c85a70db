"""From a stored account name to a ready boto3 session: the glue every input, search command
and alert action uses (configuration from splunkd + the session factory), in one place."""
import threading

from trailwatch.aws.session import AccountConfig, AccountError, ProxyConfig, build_session
from trailwatch.splunk import config


def open_session(session_key, server_uri, account_name, **kwargs):
    """An AwsSession for stored account `account_name`, through the configured proxy.

    Raises config.ConfigError (account missing, splunkd unreachable) or
    trailwatch.aws.session.AccountError (stored values that cannot work); both messages say
    what to fix and carry no secret. kwargs go to build_session (role_chain, session_name...).
    """
    return SessionProvider(session_key, server_uri, **kwargs).get(account_name)


class SessionProvider(object):
    """Opens each stored account's session once and reuses it (credentials of an assumed role
    refresh themselves); reads the proxy and the account list once. Thread-safe."""

    def __init__(self, session_key, server_uri, **kwargs):
        self._session_key = session_key
        self._server_uri = server_uri
        self._kwargs = kwargs
        self._configs = {}
        self._sessions = {}
        self._account_ids = {}
        self._accounts = None
        self._proxy = None
        self._proxy_loaded = False
        self._lock = threading.RLock()

    def proxy(self):
        """The configured ProxyConfig, or None when no proxy is enabled (read once)."""
        with self._lock:
            if not self._proxy_loaded:
                self._proxy = ProxyConfig.from_conf(
                    config.load_proxy(self._session_key, self._server_uri))
                self._proxy_loaded = True
            return self._proxy

    def stored_accounts(self):
        """{name: fields} of every stored account (read once)."""
        with self._lock:
            if self._accounts is None:
                self._accounts = config.load_accounts(self._session_key, self._server_uri)
            return self._accounts

    def account(self, account_name, fields=None):
        """The AccountConfig of stored account `account_name`, read once (`fields` saves the
        read when known): for a caller that checks or validates it before get()."""
        with self._lock:
            if account_name not in self._configs:
                if fields is None:
                    fields = config.load_account(self._session_key, self._server_uri,
                                                 account_name)
                self._configs[account_name] = AccountConfig.from_conf(account_name, fields)
            return self._configs[account_name]

    def get(self, account_name, fields=None):
        """The session of stored account `account_name` (`fields` saves a read when known)."""
        with self._lock:
            if account_name not in self._sessions:
                self._sessions[account_name] = build_session(
                    self.account(account_name, fields), proxy=self.proxy(), **self._kwargs)
            return self._sessions[account_name]

    def account_for_id(self, aws_account_id):
        """Name of the stored account that acts in AWS account `aws_account_id`, or None.

        The account id in a stored role ARN decides first; accounts without a role are asked
        who they are (sts:GetCallerIdentity, which needs no permission).
        """
        wanted = str(aws_account_id)
        accounts = self.stored_accounts()
        for name, fields in accounts.items():
            if self._account_id(name, fields, ask_aws=False) == wanted:
                return name
        for name, fields in accounts.items():
            if self._account_id(name, fields, ask_aws=True) == wanted:
                return name
        return None

    def _account_id(self, name, fields, ask_aws):
        role = (fields.get("role_arn") or "").split(":")
        if len(role) > 4 and role[4]:
            return role[4]
        if not ask_aws:
            return None
        with self._lock:
            if name not in self._account_ids:
                try:
                    identity = self.get(name, fields).client("sts").get_caller_identity()
                    self._account_ids[name] = identity["Account"]
                except (AccountError, config.ConfigError):
                    self._account_ids[name] = None  # a stored account that cannot work
                except Exception:  # noqa: BLE001 - unreachable or refused: not this account
                    self._account_ids[name] = None
            return self._account_ids[name]
