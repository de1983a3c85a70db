"""Check that a stored account works before it is saved: sts:GetCallerIdentity with its base
credentials (its keys, or the instance/container role or default credential chain of this
Splunk host, see trailwatch.aws.credentials), then sts:AssumeRole (and GetCallerIdentity as
the role) when a role is set, through the proxy.

Every failure becomes an AccountValidationError whose message tells an admin what is wrong
and what to fix, in words, and never contains the secret access key, the external id or the
proxy password.
"""
import logging

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from trailwatch import redact
from trailwatch.aws import credentials as sources
from trailwatch.aws.session import AccountError, build_session, endpoint_url_for

logger = logging.getLogger(__name__)


class AccountValidationError(Exception):
    """Validation failed; str() is the message to show in the form."""

    def __init__(self, message, code=None):
        super(AccountValidationError, self).__init__(message)
        self.code = code


class Identity(object):
    def __init__(self, account_id, arn, user_id, role_arn=None):
        self.account_id = account_id
        self.arn = arn
        self.user_id = user_id
        self.role_arn = role_arn

    def __repr__(self):
        return "Identity(%s)" % self.arn


def _secrets(account, proxy):
    values = [account.secret_access_key, account.external_id]
    if proxy is not None:
        values.extend(proxy.secrets())
    return [v for v in values if v]


def _scrub(text, secrets):
    for secret in secrets:
        text = text.replace(secret, redact.MASK)
    return redact.scrub(text)


def _client_error_message(exc, step, account, proxy):
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    key = account.access_key_id
    if step == "assume":
        role = account.role_arn
        if code in ("AccessDenied", "AccessDeniedException"):
            hint = (" and its trust policy requires an external id that does not match the one "
                    "entered" if account.external_id else
                    " and, if its trust policy requires an external id, enter it")
            who = ("The access key works" if account.uses_stored_keys else
                   "The credentials of %s work" % sources.LABELS[account.credential_source])
            principal = "this IAM user" if account.uses_stored_keys else "that principal"
            return code, (
                "%s, but they are not allowed to assume role %s (AWS says %s). "
                "Check that the role exists, that its trust policy allows %s%s, "
                "and that %s has sts:AssumeRole on the role." % (who, role, code, principal, hint,
                                                                 principal)
            )
        if code == "RegionDisabledException":
            return code, ("STS is not activated in region %s for this account: activate it in "
                          "IAM account settings or choose another default region." % account.region)
    if not account.uses_stored_keys:
        return code, ("AWS refused the credentials of %s for sts:GetCallerIdentity (%s: %s): "
                      "check the role or credentials configured on the host." % (
                          sources.LABELS[account.credential_source], code,
                          error.get("Message", "")))
    if code == "InvalidClientTokenId":
        return code, (
            "AWS does not recognise access key ID %s (InvalidClientTokenId): check that it was "
            "copied whole, that the key still exists and is active, and that it belongs to "
            "partition %s." % (key, account.partition)
        )
    if code == "SignatureDoesNotMatch":
        return code, (
            "The secret access key does not match access key ID %s (SignatureDoesNotMatch): "
            "enter the secret again, exactly as AWS showed it when the key was created." % key
        )
    if code in ("ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"):
        return code, ("The credentials for access key ID %s have expired (%s): create a new "
                      "access key for the IAM user and enter it here." % (key, code))
    if code in ("RequestExpired", "InvalidSignatureException") or "Skew" in code:
        return code, ("AWS rejected the request time (%s): the clock of this Splunk server is "
                      "probably wrong; synchronise it (NTP) and try again." % code)
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return code, ("Access key ID %s is valid but has no permission for sts:%s (AWS says "
                      "%s): check the IAM user's policies and any service control policy."
                      % (key, "AssumeRole" if step == "assume" else "GetCallerIdentity", code))
    if code in ("Throttling", "ThrottlingException", "RequestLimitExceeded"):
        return code, "AWS is throttling requests from this account (%s): try again in a minute." % code
    return code, ("AWS refused the request with %s: %s" % (code, error.get("Message", "")))


def _network_message(exc, account, proxy):
    endpoint = endpoint_url_for("sts") or "the STS endpoint of region %s" % account.region
    if isinstance(exc, ProxyConnectionError):
        return ("Could not connect to the proxy %s: check its host, port and credentials under "
                "Configuration > Proxy." % proxy.display() if proxy else "Could not connect to the proxy.")
    via = (" through proxy %s" % proxy.display()) if proxy is not None else ""
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return ("Timed out talking to %s%s: check that this Splunk server can reach AWS "
                "(firewall, DNS, proxy)." % (endpoint, via))
    return ("Could not reach %s%s: check network access from this Splunk server to AWS "
            "(firewall, DNS, proxy settings)." % (endpoint, via))


def validate_account(account, proxy=None, connect_timeout=10, read_timeout=20):
    """Return the Identity the account acts as, or raise AccountValidationError."""
    secrets = _secrets(account, proxy)
    step = "keys"
    try:
        session = build_session(account, proxy=proxy, max_attempts=2,
                                connect_timeout=connect_timeout, read_timeout=read_timeout)
        base = session.sts_client(session.base_credentials).get_caller_identity()
        identity = Identity(base["Account"], base["Arn"], base["UserId"])
        if account.role_arn:
            step = "assume"
            role = session.client("sts").get_caller_identity()
            identity = Identity(role["Account"], role["Arn"], role["UserId"], account.role_arn)
    except sources.NoHostCredentials as exc:
        raise AccountValidationError(str(exc), "NoCredentials")
    except AccountError as exc:
        raise AccountValidationError(str(exc), "InvalidAccount")
    except ClientError as exc:
        code, message = _client_error_message(exc, step, account, proxy)
        logger.warning("AWS account '%s' failed validation: %s", account.name, code)
        raise AccountValidationError(_scrub(message, secrets), code)
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
            ProxyConnectionError) as exc:
        logger.warning("AWS account '%s' failed validation: %s", account.name, type(exc).__name__)
        raise AccountValidationError(_scrub(_network_message(exc, account, proxy), secrets),
                                     "NetworkError")
    except ResponseParserError:
        logger.warning("AWS account '%s' failed validation: answer was not from AWS", account.name)
        if proxy is not None:
            message = ("The answer did not come from AWS: the proxy %s probably refused the "
                       "request; check the proxy user name and password under Configuration > "
                       "Proxy." % proxy.display())
        else:
            message = ("The answer did not come from AWS STS: check that nothing between this "
                       "Splunk server and AWS intercepts HTTPS traffic.")
        raise AccountValidationError(message, "NotAnAwsResponse")
    except NoCredentialsError:
        raise AccountValidationError("No credentials were given for the account.", "NoCredentials")
    except BotoCoreError as exc:
        logger.warning("AWS account '%s' failed validation: %s", account.name, type(exc).__name__)
        raise AccountValidationError(
            _scrub("Could not validate the account with AWS: %s" % exc, secrets), type(exc).__name__
        )
    logger.info("AWS account '%s' validated: acts as %s (account %s)",
                account.name, identity.arn, identity.account_id)
    return identity
