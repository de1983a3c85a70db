"""AWS errors an input meets, classified and said in an admin's words.

Every message names the account, the call (as the IAM action an admin grants) and where
(region, queue, bucket/key), says what AWS answered (its error code) and what to fix. No
message carries a secret: AWS error messages do not echo secrets, and the input's loggers
scrub registered secrets as a safety net (trailwatch.redact).

Python 3.9 to 3.13.
"""
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
    ReadTimeoutError,
)

CREDENTIALS = "credentials"
PERMISSION = "permission"
THROTTLING = "throttling"
NOT_FOUND = "not-found"
NETWORK = "network"
REGION = "region"
OTHER = "other"

_CREDENTIAL_CODES = frozenset((
    "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
    "InvalidAccessKeyId", "ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired",
    "InvalidSignatureException", "IncompleteSignature", "AuthFailure", "RequestExpired",
    "InvalidToken", "MissingAuthenticationToken",
))
_PERMISSION_CODES = frozenset((
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
    "Forbidden", "KMS.AccessDeniedException", "OperationNotPermittedException",
))
_THROTTLING_CODES = frozenset((
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "LimitExceededException", "ProvisionedThroughputExceededException",
))
_REGION_CODES = frozenset(("OptInRequired", "UnrecognizedRegion", "InvalidRegion",
                           "RegionDisabledException"))
_NETWORK_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                   ProxyConnectionError, ConnectionClosedError)


def error_code(exc):
    if isinstance(exc, ClientError):
        return (exc.response.get("Error") or {}).get("Code") or "Unknown"
    return type(exc).__name__


def http_status(exc):
    if isinstance(exc, ClientError):
        return (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return None


def classify(exc):
    code = error_code(exc)
    if isinstance(exc, _NETWORK_ERRORS):
        return NETWORK
    if code in _CREDENTIAL_CODES:
        return CREDENTIALS
    if code in _PERMISSION_CODES or http_status(exc) == 403:
        return PERMISSION
    if code in _THROTTLING_CODES or http_status(exc) == 429:
        return THROTTLING
    if code in _REGION_CODES:
        return REGION
    if code.startswith("NoSuch") or code.endswith("NotFound") or "NonExistent" in code \
            or code == "QueueDoesNotExist" or http_status(exc) == 404:
        return NOT_FOUND
    return OTHER


def is_transient(exc):
    """Worth retrying a little later: throttling, network trouble, AWS-side 5xx."""
    kind = classify(exc)
    if kind in (THROTTLING, NETWORK):
        return True
    status = http_status(exc)
    return isinstance(status, int) and status >= 500


def describe(exc, account, action, where=""):
    """One sentence for the log: what failed, what AWS said, what to do."""
    code = error_code(exc)
    kind = classify(exc)
    place = (" " + where) if where else ""
    who = "AWS account '%s'" % account
    if kind == CREDENTIALS:
        return ("AWS rejected the credentials of %s calling %s%s (%s): check the access key "
                "and secret under Configuration > Accounts (the key may be deleted, inactive or "
                "expired)." % (who, action, place, code))
    if kind == PERMISSION:
        return ("%s is not allowed to call %s%s (%s): grant %s in the IAM policy of the account "
                "(see policies/trailwatch-collection-policy.json), and check service control "
                "policies, resource policies and KMS key policies." % (who, action, place, code, action))
    if kind == THROTTLING:
        return ("AWS kept throttling %s on %s%s (%s) after retrying; the input stops here and "
                "continues from its checkpoint on the next run." % (who, action, place, code))
    if kind == REGION:
        return ("%s cannot call %s%s (%s): the region is not enabled for the account, or not in "
                "its partition; enable it or remove it from the input." % (who, action, place, code))
    if kind == NETWORK:
        return ("Could not reach AWS for %s%s (%s): check network access from this Splunk server "
                "(firewall, DNS, proxy under Configuration > Proxy)." % (action, place, code))
    if kind == NOT_FOUND:
        return "%s%s: AWS says %s (%s)." % (action, place, _message(exc) or "it does not exist", code)
    if isinstance(exc, ClientError):
        return "%s%s failed for %s: %s (%s)." % (action, place, who, _message(exc) or code, code)
    if isinstance(exc, BotoCoreError):
        return "%s%s failed for %s: %s." % (action, place, who, exc)
    return "%s%s failed for %s: %s: %s." % (action, place, who, type(exc).__name__, exc)


def _message(exc):
    if isinstance(exc, ClientError):
        return (exc.response.get("Error") or {}).get("Message") or ""
    return ""
