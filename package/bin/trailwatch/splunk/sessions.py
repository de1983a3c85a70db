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
    fields = config.load_account(session_key, server_uri, account_name)
    proxy = ProxyConfig.from_conf(config.load_proxy(session_key, server_uri))
    return build_session(AccountConfig.from_conf(account_name, fields), proxy=proxy, **kwargs)


class SessionProvider(object):
    """Opens each stored account's session once per process and reuses it (credentials of an
    assumed role refresh themselves). Thread-safe."""

    def __init__(self, session_key, server_uri, **kwargs):
        self._session_key = session_key
        self._server_uri = server_uri
        self._kwargs = kwargs
        self._sessions = {}
        self._lock = threading.Lock()

    def get(self, account_name):
        with self._lock:
            if account_name not in self._sessions:
                self._sessions[account_name] = open_session(
                    self._session_key, self._server_uri, account_name, **self._kwargs)
            return self._sessions[account_name]

    def by_account_id(self, aws_account_id):
        """The stored account whose role or identity belongs to AWS account `aws_account_id`.

        Matches the account id in the stored role ARN first; accounts without a role are
        asked who they are (sts:GetCallerIdentity, no permission needed). None when no
        stored account acts in that AWS account.
        """
        accounts = config.load_accounts(self._session_key, self._server_uri)
        for name, fields in accounts.items():
            role = fields.get("role_arn") or ""
            if role.split(":")[4:5] == [str(aws_account_id)]:
                return self.get(name)
        for name, fields in accounts.items():
            if fields.get("role_arn"):
                continue
            try:
                session = self.get(name)
                identity = session.client("sts").get_caller_identity()
            except (AccountError, config.ConfigError):
                continue
            except Exception:  # an account that cannot reach AWS is not the one we want
                continue
            if identity.get("Account") == str(aws_account_id):
                return session
        return None
