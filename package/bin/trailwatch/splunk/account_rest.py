"""Logic behind the Accounts tab's REST handler (bin/trailwatch_account_rh.py).

On create and on edit the handler hands us the submitted fields; we merge them with what is
stored (an unchanged encrypted field comes back from the form as the mask, so the stored,
decrypted value is used instead), build the account, read the proxy settings, and validate
against AWS. A rejection's message goes to the form as is.
"""
import logging

from trailwatch.aws.session import AccountConfig, AccountError, ProxyConfig
from trailwatch.aws.validation import AccountValidationError, validate_account

logger = logging.getLogger(__name__)

# What splunktaucclib puts in place of an encrypted value when it returns a stanza.
FORM_MASK = "******"
ENCRYPTED_FIELDS = ("aws_secret_access_key", "external_id")
ACCOUNT_FIELDS = ("credential_source", "aws_access_key_id", "aws_secret_access_key", "role_arn",
                  "external_id", "partition", "region")


class AccountRejected(Exception):
    """The account cannot be saved; str() says why and what to fix."""


def merge_fields(payload, stored):
    """Fields to validate: the submitted ones, completed from the stored stanza on edit."""
    stored = stored or {}
    merged = {}
    for field in ACCOUNT_FIELDS:
        if field in payload:
            value = payload[field]
            if field in ENCRYPTED_FIELDS and value == FORM_MASK:
                value = stored.get(field, "")
                if value == FORM_MASK:
                    raise AccountRejected(
                        "The stored %s could not be read back; enter it again." % field.replace("_", " ")
                    )
        else:
            value = stored.get(field, "")
        merged[field] = value or ""
    return merged


def validate_payload(name, payload, stored, proxy_fields, validator=validate_account):
    """Raise AccountRejected unless the account, as it would be saved, works with AWS."""
    fields = merge_fields(payload, stored)
    try:
        account = AccountConfig.from_conf(name, fields)
        proxy = ProxyConfig.from_conf(proxy_fields)
    except AccountError as exc:
        raise AccountRejected(str(exc))
    try:
        identity = validator(account, proxy)
    except AccountValidationError as exc:
        raise AccountRejected(str(exc))
    logger.info("Saving AWS account '%s' (acts as %s)", name, identity.arn)
    return identity


def prepare_governance(session_key, server_uri):
    """Create the governance record seal key (trailwatch.govern.seal) if it does not exist yet,
    while a TrailWatch admin saves an account: the responders who run the actions may read the
    add-on's stored credentials but not create them. A failure is logged, not fatal: the
    first action run by a user who may store credentials creates the key as well."""
    from trailwatch.govern.core import GovernError
    from trailwatch.govern.seal import CredentialStoreKey
    from trailwatch.govern.splunkd import _context

    try:
        CredentialStoreKey(_context(session_key, server_uri))()
    except GovernError as exc:
        logger.warning("The governance record seal key could not be prepared: %s", exc)
