"""Reading an input stanza's parameters: every value checked, every problem said in words.

Splunk hands a modular input its stanza's parameters as strings (``--validate-arguments``
when an admin saves the input, and on every run). The same checks run in both places, so a
stanza that was edited by hand in inputs.conf fails with the same message as the form.

Python 3.9 to 3.13, standard library only.
"""
import re

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
QUEUE_URL_RE = re.compile(r"^https?://[A-Za-z0-9.:\[\]-]+/(\d{12})/([\w-]{1,80}(?:\.fifo)?)$")
LOOKUP_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName",
               "EventSource", "AccessKeyId")


class InputSettingsError(ValueError):
    """A parameter that cannot work; the message names the field and what to enter."""


def text(params, name, default=""):
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return str(value).strip()


def required(params, name, label):
    value = text(params, name)
    if not value:
        raise InputSettingsError("%s is required." % label)
    return value


def integer(params, name, label, default, low, high):
    value = text(params, name)
    if value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InputSettingsError(
            "%s must be a whole number from %d to %d, not %r." % (label, low, high, value)
        ) from None
    if not low <= number <= high:
        raise InputSettingsError(
            "%s must be a whole number from %d to %d, not %d." % (label, low, high, number)
        )
    return number


def region(value, label="Region"):
    value = (value or "").strip()
    if not REGION_RE.match(value):
        raise InputSettingsError(
            "%s %r is not an AWS region code such as us-east-1." % (label, value)
        )
    return value


def regions(params, name="regions", label="Regions"):
    """The regions of a multi-select (comma separated; '|' also accepted), in order, once."""
    raw = text(params, name)
    found = []
    for part in re.split(r"[,|\s]+", raw):
        if part and part not in found:
            found.append(region(part, "Region"))
    if not found:
        raise InputSettingsError("%s: choose at least one AWS region." % label)
    return found


def lookup_attribute(params, name="lookup_attribute"):
    """None, or the (AttributeKey, AttributeValue) pair of a 'Key=Value' filter."""
    value = text(params, name)
    if not value:
        return None
    key, sep, wanted = value.partition("=")
    key, wanted = key.strip(), wanted.strip()
    if not sep or key not in LOOKUP_KEYS or not wanted:
        raise InputSettingsError(
            "Lookup attribute %r must be Key=Value with Key one of %s." % (value, ", ".join(LOOKUP_KEYS))
        )
    if len(wanted) > 2000:
        raise InputSettingsError("Lookup attribute value is longer than 2000 characters.")
    return key, wanted


def queue_url(params, name="queue_url"):
    value = required(params, name, "SQS queue URL")
    if not QUEUE_URL_RE.match(value):
        raise InputSettingsError(
            "SQS queue URL %r must look like https://sqs.us-east-1.amazonaws.com/123456789012/"
            "queue-name." % value
        )
    return value


# S3 bucket naming rules (general purpose buckets): 3-63 characters, lower-case letters,
# digits, '.' and '-', starting and ending with a letter or digit.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")


def bucket_names(params, name, label):
    """A comma separated list of S3 bucket names, in order, once (empty: none given)."""
    found = []
    for part in re.split(r"[,\s]+", text(params, name)):
        if not part or part in found:
            continue
        if not BUCKET_RE.match(part):
            raise InputSettingsError(
                "%s: %r is not an S3 bucket name (3 to 63 lower-case letters, digits, '.' "
                "and '-')." % (label, part))
        found.append(part)
    return found


def account_id(params, name, label, default=None):
    """A 12-digit AWS account ID, or ``default`` when the field is empty."""
    value = text(params, name)
    if not value:
        return default
    if not ACCOUNT_ID_RE.match(value):
        raise InputSettingsError("%s must be a 12-digit AWS account ID, not %r." % (label, value))
    return value


def queue_account(url):
    """The 12-digit account ID in an SQS queue URL."""
    match = QUEUE_URL_RE.match(url or "")
    return match.group(1) if match else None


def queue_name(url):
    match = QUEUE_URL_RE.match(url or "")
    return match.group(2) if match else url


class AccountSettings(object):
    """Settings of an input whose only parameter is the stored account (posture, inventory)."""

    def __init__(self, account):
        self.account = account

    @classmethod
    def parse(cls, params):
        return cls(required(params, "account", "AWS account"))

    def check_account(self, account):
        return None
