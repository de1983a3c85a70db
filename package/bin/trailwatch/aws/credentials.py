"""Where a stored account's own (base) credentials come from, before any role is assumed.

Three sources, chosen per account (Configuration > Accounts, "Credentials"):

- `access_keys` (the default, also for accounts saved before the choice existed): the access
  key ID and secret access key stored with the account, and nothing from the Splunk host.
- `instance_role`: the role of the machine or container Splunk runs on: the ECS/EKS container
  credentials endpoint when the container has one (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` /
  `_FULL_URI`), else the EC2 instance profile from the instance metadata service (IMDSv2
  with a session token, falling back to v1 unless the host disables it). No key is stored.
- `default_chain`: botocore's default credential chain on this host: environment variables,
  shared credentials and config files (profiles, SSO, web identity, credential processes),
  then the container and instance roles. For hosts whose credentials are managed outside
  Splunk (for example IAM Roles Anywhere through a credential process).

Any source may be followed by the account's role (and external id), assumed by
trailwatch.aws.session. Credentials of the last two sources refresh themselves.
"""
import botocore.credentials
import botocore.session

from trailwatch.aws.session import AccountError

ACCESS_KEYS = "access_keys"
INSTANCE_ROLE = "instance_role"
DEFAULT_CHAIN = "default_chain"
SOURCES = (ACCESS_KEYS, INSTANCE_ROLE, DEFAULT_CHAIN)
LABELS = {ACCESS_KEYS: "stored access keys",
          INSTANCE_ROLE: "the instance or container role of this Splunk host",
          DEFAULT_CHAIN: "the default AWS credential chain of this Splunk host"}
# botocore's provider names (CredentialProvider.METHOD) of the host's role, in the order the
# default chain tries them.
_ROLE_PROVIDERS = ("container-role", "iam-role")


class NoHostCredentials(AccountError):
    """The host offered no credentials for an account that takes them from the host."""


def source_of(fields_value):
    """The credential source a stored value names ("" for accounts saved before the choice)."""
    value = (fields_value or "").strip() or ACCESS_KEYS
    if value not in SOURCES:
        raise AccountError("Credential source %r is not one of %s." % (value, ", ".join(SOURCES)))
    return value


def base_credentials(account):
    """botocore Credentials for `account` (an AccountConfig) from its source."""
    if account.credential_source == ACCESS_KEYS:
        return botocore.credentials.Credentials(
            account.access_key_id, account.secret_access_key, method="trailwatch-account")
    session = botocore.session.Session()
    session.set_config_variable("region", account.region)
    resolver = botocore.credentials.create_credential_resolver(session, region_name=account.region)
    if account.credential_source == INSTANCE_ROLE:
        found = None
        for name in _ROLE_PROVIDERS:
            found = resolver.get_provider(name).load()
            if found is not None:
                break
    else:
        found = resolver.load_credentials()
    if found is None:
        raise NoHostCredentials(_none_found(account))
    return found


def _none_found(account):
    label = "AWS account '%s'" % account.name
    if account.credential_source == INSTANCE_ROLE:
        return ("%s uses the instance or container role of this Splunk host, but the host has "
                "none: neither an ECS/EKS container credentials endpoint nor an EC2 instance "
                "profile answered (is an IAM role attached to the instance, is the metadata "
                "service reachable and its hop limit at least 2 for containers?). Attach a "
                "role, or store access keys for this account." % label)
    return ("%s uses the default AWS credential chain of this Splunk host, but it found no "
            "credentials (environment, ~/.aws files of the user Splunk runs as, container or "
            "instance role). Configure one of those for the splunk user, or store access keys "
            "for this account." % label)


def describe(account, credentials=None):
    """Where the base credentials come from, without secrets (for logs and messages)."""
    if account.credential_source == ACCESS_KEYS:
        return "account '%s' (key %s)" % (account.name, account.access_key_id)
    method = getattr(credentials, "method", None)
    return "account '%s' (%s%s)" % (account.name, LABELS[account.credential_source],
                                    ": %s" % method if method else "")
