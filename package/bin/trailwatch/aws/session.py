"""Turn a stored TrailWatch account into a boto3 session: the one place every input, search
command and alert action gets AWS credentials from.

What a session gets:
- the account's base credentials from its credential source (trailwatch.aws.credentials):
  by default its stored long-term access keys, through a credential chain of its own
  (environment variables, ~/.aws files or instance roles of the Splunk host are never picked
  up by mistake); or, when the account says so, the instance/container role of the Splunk
  host or the host's default credential chain;
- optionally one or more roles assumed in turn (the account's role, then any extra roles,
  "role chaining"), each with its external id, refreshed automatically before expiry;
- the add-on's proxy, adaptive retries, a TrailWatch user agent;
- endpoints of the account's partition (aws, aws-us-gov, aws-cn), and `AWS_ENDPOINT_URL` /
  `AWS_ENDPOINT_URL_<SERVICE>` when set (tests point those at moto on 127.0.0.1).

Python 3.9 compatible: runs on the interpreter Splunk ships.
"""
import datetime
import logging
import os
import re
import threading

import boto3
import botocore.credentials
import botocore.session
from botocore.config import Config

from trailwatch import __version__, redact

PARTITIONS = {
    "aws": {"default_region": "us-east-1", "label": "AWS"},
    "aws-us-gov": {"default_region": "us-gov-west-1", "label": "AWS GovCloud (US)"},
    "aws-cn": {"default_region": "cn-north-1", "label": "AWS China"},
}
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ROLE_ARN_RE = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]")

# AWS caps a role session at 1 hour when the role is assumed with role credentials (chaining).
DEFAULT_ROLE_DURATION = 3600
MASK = "********"


class AccountError(ValueError):
    """A stored account or proxy setting that cannot work; the message says what to fix."""


def partition_of_region(region):
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


class ProxyConfig(object):
    """The add-on's HTTP(S) proxy (Configuration > Proxy)."""

    def __init__(self, host, port, scheme="http", username=None, password=None):
        self.host = proxy_host(host)
        self.port = int(port)
        self.scheme = scheme or "http"
        self.username = username or None
        self.password = password or None
        redact.register(*self.secrets())

    def secrets(self):
        """The password as typed and as written into the proxy URL (percent-encoded): an
        error about the URL may quote either."""
        if not self.password:
            return []
        from urllib.parse import quote

        return [self.password, quote(self.password, safe="")]

    @classmethod
    def from_conf(cls, fields):
        """None when the proxy is disabled or not configured."""
        fields = fields or {}
        if str(fields.get("proxy_enabled", "")).strip().lower() not in ("1", "true", "yes", "t", "y"):
            return None
        host = (fields.get("proxy_url") or "").strip()
        port = str(fields.get("proxy_port") or "").strip()
        if not host or not port:
            raise AccountError(
                "The proxy is enabled but its host or port is empty: set both under "
                "Configuration > Proxy, or disable the proxy."
            )
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise AccountError("Proxy port %r is not a port number (1-65535)." % port)
        scheme = (fields.get("proxy_type") or "http").strip().lower()
        if scheme not in ("http", "https"):
            raise AccountError(
                "Proxy type %r is not supported: AWS calls can go through an http or https "
                "proxy only." % scheme
            )
        return cls(host, port, scheme, fields.get("proxy_username"), fields.get("proxy_password"))

    def url(self):
        """Proxy URL including credentials, for botocore only: never log it."""
        from urllib.parse import quote

        auth = ""
        if self.username:
            auth = quote(self.username, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        return "%s://%s%s:%d" % (self.scheme, auth, self._host_for_url(), self.port)

    def display(self):
        """Proxy URL safe for logs and error messages (no password)."""
        user = (self.username + "@") if self.username else ""
        return "%s://%s%s:%d" % (self.scheme, user, self._host_for_url(), self.port)

    def _host_for_url(self):
        if ":" in self.host and not self.host.startswith("["):
            return "[%s]" % self.host
        return self.host

    def __repr__(self):
        return "ProxyConfig(%s)" % self.display()


_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def proxy_host(host):
    """The proxy host as URL parsers accept it: a DNS name, an IPv4 address or an IPv6
    address (brackets optional).  Raises AccountError naming the host otherwise, so that a
    host the form let through never reaches an HTTP library whose error would quote the
    whole proxy URL, credentials included."""
    import ipaddress

    text = (host or "").strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        if ":" in bare:
            return str(ipaddress.IPv6Address(bare))
        if bare == text and bare.replace(".", "").isdigit():
            return str(ipaddress.IPv4Address(bare))
    except ValueError:
        pass
    else:
        labels = bare.rstrip(".").split(".") if bare == text else []
        if labels and len(bare) <= 253 and all(_HOST_LABEL_RE.match(label) for label in labels):
            return bare
    raise AccountError(
        "Proxy host %r is not a host name, an IPv4 address or an IPv6 address: correct it "
        "under Configuration > Proxy." % text[:300])


class AccountConfig(object):
    """A stored AWS account (Configuration > Accounts), validated for shape."""

    def __init__(self, name, access_key_id, secret_access_key, role_arn=None, external_id=None,
                 partition="aws", region=None, credential_source=None):
        from trailwatch.aws import credentials

        self.name = name
        self.credential_source = credentials.source_of(credential_source)
        self.access_key_id = (access_key_id or "").strip()
        self.secret_access_key = secret_access_key or ""
        self.role_arn = (role_arn or "").strip() or None
        self.external_id = (external_id or "").strip() or None
        self.partition = (partition or "aws").strip()
        self.region = (region or "").strip() or None
        self._check()

    @classmethod
    def from_conf(cls, name, fields):
        return cls(
            name,
            fields.get("aws_access_key_id"),
            fields.get("aws_secret_access_key"),
            role_arn=fields.get("role_arn"),
            external_id=fields.get("external_id"),
            partition=fields.get("partition"),
            region=fields.get("region"),
            credential_source=fields.get("credential_source"),
        )

    @property
    def uses_stored_keys(self):
        return self.credential_source == "access_keys"

    def _check(self):
        label = "AWS account '%s'" % self.name
        if self.uses_stored_keys:
            self._check_keys(label)
        else:
            # Keys left over from before the source was switched are never used.
            self.access_key_id, self.secret_access_key = "", ""
        self._check_location(label)

    def _check_keys(self, label):
        if not self.access_key_id:
            raise AccountError("%s has no access key ID." % label)
        if not re.match(r"^[A-Z0-9]{16,128}$", self.access_key_id):
            raise AccountError(
                "%s: access key ID %r is not an access key ID (16-128 upper-case letters "
                "and digits, such as AKIAIOSFODNN7EXAMPLE)." % (label, self.access_key_id)
            )
        if not self.secret_access_key:
            raise AccountError("%s has no secret access key." % label)

    def _check_location(self, label):
        if self.partition not in PARTITIONS:
            raise AccountError(
                "%s: partition %r is not one of %s." % (label, self.partition, ", ".join(PARTITIONS))
            )
        if self.region is None:
            self.region = PARTITIONS[self.partition]["default_region"]
        if not _REGION_RE.match(self.region):
            raise AccountError("%s: %r is not an AWS region code such as us-east-1." % (label, self.region))
        if partition_of_region(self.region) != self.partition:
            raise AccountError(
                "%s: region %s is not in partition %s (%s); choose a region of that partition, "
                "such as %s." % (label, self.region, self.partition,
                                 PARTITIONS[self.partition]["label"],
                                 PARTITIONS[self.partition]["default_region"])
            )
        if self.role_arn:
            match = _ROLE_ARN_RE.match(self.role_arn)
            if not match:
                raise AccountError(
                    "%s: role %r is not an IAM role ARN such as "
                    "arn:aws:iam::123456789012:role/TrailWatch." % (label, self.role_arn)
                )
            if match.group(1) != self.partition:
                raise AccountError(
                    "%s: role %s belongs to partition %s but the account is in %s."
                    % (label, self.role_arn, match.group(1), self.partition)
                )

    def __repr__(self):
        return "AccountConfig(name=%r, credential_source=%r, access_key_id=%r, " \
               "secret_access_key=%r, role_arn=%r, partition=%r, region=%r)" % (
                   self.name, self.credential_source, self.access_key_id,
                   MASK if self.secret_access_key else "", self.role_arn, self.partition,
                   self.region)


class RoleLink(object):
    """One assumed role in a chain, with how often it was (re)assumed."""

    def __init__(self, role_arn, external_id=None, session_name="trailwatch",
                 duration_seconds=DEFAULT_ROLE_DURATION):
        if not _ROLE_ARN_RE.match(role_arn or ""):
            raise AccountError("%r is not an IAM role ARN." % (role_arn,))
        self.role_arn = role_arn
        self.external_id = external_id or None
        self.session_name = role_session_name(session_name)
        self.duration_seconds = int(duration_seconds)
        self.assume_count = 0
        self.last_expiry = None

    def __repr__(self):
        return "RoleLink(%s, external_id=%s, assumed=%d)" % (
            self.role_arn, "set" if self.external_id else "none", self.assume_count)


def role_session_name(text):
    """A RoleSessionName AWS accepts (2-64 chars of [\\w+=,.@-]) that names TrailWatch."""
    name = _SESSION_NAME_BAD.sub("-", text or "trailwatch")[:64]
    return name if len(name) >= 2 else "trailwatch"


def endpoint_url_for(service):
    """Endpoint override from the environment (AWS's own convention), or None."""
    specific = "AWS_ENDPOINT_URL_" + re.sub(r"[^A-Z0-9]", "_", service.upper())
    return os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL") or None


def client_config(proxy=None, max_attempts=8, connect_timeout=10, read_timeout=60):
    kwargs = {
        "retries": {"mode": "adaptive", "max_attempts": max_attempts},
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        "user_agent_appid": "TrailWatch-%s" % __version__,
    }
    if proxy is not None:
        url = proxy.url()
        kwargs["proxies"] = {"http": url, "https": url}
    return Config(**kwargs)


def quiet_library_loggers():
    """Keep AWS SDK loggers at INFO or above whatever the add-on's log level: at DEBUG botocore
    logs whole responses, which include the temporary credentials AssumeRole returns."""
    for name in ("botocore", "boto3", "s3transfer", "urllib3"):
        library_logger = logging.getLogger(name)
        if library_logger.getEffectiveLevel() < logging.INFO:
            library_logger.setLevel(logging.INFO)


class _StaticProvider(botocore.credentials.CredentialProvider):
    """Hands botocore exactly the credentials we give it, nothing from the host."""

    METHOD = "trailwatch"
    CANONICAL_NAME = "TrailWatch"

    def __init__(self, credentials):
        super(_StaticProvider, self).__init__()
        self._credentials = credentials

    def load(self):
        return self._credentials


def _botocore_session(credentials, region):
    session = botocore.session.Session()
    session.set_config_variable("region", region)
    session.set_config_variable("sts_regional_endpoints", "regional")
    session.register_component(
        "credential_provider",
        botocore.credentials.CredentialResolver([_StaticProvider(credentials)]),
    )
    return session


class AwsSession(object):
    """A boto3 session bound to one account (and role chain), with TrailWatch's settings."""

    def __init__(self, account, proxy=None, role_chain=(), session_name=None,
                 max_attempts=8, connect_timeout=10, read_timeout=60, clock=None):
        quiet_library_loggers()
        self.account = account
        self._clock = clock
        self.proxy = proxy
        self.region = account.region
        self.partition = account.partition
        self.config = client_config(proxy, max_attempts, connect_timeout, read_timeout)
        name = session_name or ("trailwatch-" + account.name)
        links = []
        if account.role_arn:
            links.append(RoleLink(account.role_arn, account.external_id, name))
        for extra in role_chain:
            if isinstance(extra, RoleLink):
                links.append(extra)
            else:
                role_arn, external_id = extra
                links.append(RoleLink(role_arn, external_id, name))
        self.role_links = links
        self._lock = threading.Lock()
        redact.register(account.secret_access_key, account.external_id,
                        *(proxy.secrets() if proxy is not None else ()))
        for link in links:
            redact.register(link.external_id)

        from trailwatch.aws import credentials as sources

        credentials = sources.base_credentials(account)
        self.base_credentials = credentials
        for link in links:
            credentials = self._assuming(link, credentials)
        self.credentials = credentials
        self.boto3 = boto3.session.Session(
            botocore_session=_botocore_session(credentials, self.region)
        )

    def client(self, service, region=None, **kwargs):
        """A boto3 client for `service` in `region` (default: the account's region)."""
        region = region or self.region
        if partition_of_region(region) != self.partition:
            raise AccountError(
                "Region %s is not in partition %s of AWS account '%s'."
                % (region, self.partition, self.account.name)
            )
        kwargs.setdefault("config", self.config)
        kwargs.setdefault("endpoint_url", endpoint_url_for(service))
        return self.boto3.client(service, region_name=region, **kwargs)

    def sts_client(self, credentials):
        """STS client signing with `credentials` (used to assume roles and to validate)."""
        frozen = credentials.get_frozen_credentials()
        session = _botocore_session(
            botocore.credentials.Credentials(frozen.access_key, frozen.secret_key, frozen.token),
            self.region,
        )
        return boto3.session.Session(botocore_session=session).client(
            "sts", region_name=self.region, config=self.config,
            endpoint_url=endpoint_url_for("sts"),
        )

    def _assuming(self, link, source_credentials):
        def refresh():
            sts = self.sts_client(source_credentials)
            params = {
                "RoleArn": link.role_arn,
                "RoleSessionName": link.session_name,
                "DurationSeconds": link.duration_seconds,
            }
            if link.external_id:
                params["ExternalId"] = link.external_id
            response = sts.assume_role(**params)["Credentials"]
            expiry = response["Expiration"]
            if isinstance(expiry, datetime.datetime):
                expiry = expiry.isoformat()
            redact.register(response["SecretAccessKey"], response["SessionToken"])
            with self._lock:
                link.assume_count += 1
                link.last_expiry = expiry
            return {
                "access_key": response["AccessKeyId"],
                "secret_key": response["SecretAccessKey"],
                "token": response["SessionToken"],
                "expiry_time": expiry,
            }

        # Deferred: nothing is called until the first AWS request needs credentials; botocore
        # refreshes them 15 minutes before expiry (advisory) and must refresh at 10 minutes.
        kwargs = {"time_fetcher": self._clock} if self._clock is not None else {}
        return botocore.credentials.DeferredRefreshableCredentials(
            refresh_using=refresh, method="assume-role", **kwargs
        )

    def describe(self):
        """Where the credentials come from, without secrets (for logs)."""
        from trailwatch.aws import credentials as sources

        parts = [sources.describe(self.account, self.base_credentials)]
        parts.extend("role %s" % link.role_arn for link in self.role_links)
        text = " -> ".join(parts)
        if self.proxy is not None:
            text += " via proxy " + self.proxy.display()
        return text


def build_session(account, proxy=None, role_chain=(), **kwargs):
    """The session factory: every input, command and action calls this.

    `account` is an AccountConfig (or a (name, fields) pair read from the account conf),
    `proxy` a ProxyConfig or None, `role_chain` extra roles to assume after the account's own
    role, as RoleLink objects or (role_arn, external_id) pairs.
    """
    if isinstance(account, tuple):
        account = AccountConfig.from_conf(account[0], account[1])
    return AwsSession(account, proxy=proxy, role_chain=role_chain, **kwargs)
