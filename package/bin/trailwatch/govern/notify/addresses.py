"""Where "Notify AWS user" sends its message. Address, first found wins:

1. the principal's tags (`address_tags`, default email, e-mail, mail, emailaddress,
   email_address, owner_email, owner, contact; keys compared case-insensitively), read with
   iam:ListUserTags or iam:ListRoleTags (an assumed-role session: its role's tags);
2. the principal's name when it is an e-mail address;
3. `<name>@<email_domain>` when `email_domain` is set;
4. `fallback_recipient` (the SOC mailbox).

Names are trusted only as far as the person who chose them. An IAM user's name is chosen by
the account's IAM administrators, and the session name of an IAM Identity Center role (path
/aws-reserved/sso.amazonaws.com/) by IAM Identity Center (the user's sign-in name): both are
used as they are. Any other assumed-role session name is chosen by whoever called AssumeRole,
and a federated user's name by whoever called GetFederationToken, so an attacker can name
their session `attacker@evil.example`: such names give an address only inside
`email_domain` (steps 2 and 3), otherwise the search goes on to the fallback recipient.
"""
import re
from email.utils import getaddresses

from trailwatch.govern.core import GovernError

IDENTITY_CENTER_PATH = "/aws-reserved/sso.amazonaws.com/"

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(r"^%s(?:\.%s)*$" % (_ATOM, _ATOM))
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(r"^(?=.{1,253}$)%s(?:\.%s)+$" % (_LABEL, _LABEL))
# Names that can become <name>@<email_domain>: what mailbox names look like, not all RFC 5322
# allows (a session named "i-0abc/odd" is no one's mailbox).
_MAILBOX_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,62}[A-Za-z0-9])?$")


def is_email(text):
    local, at, domain = (text or "").rpartition("@")
    return bool(at and local and len(local) <= 64 and len(text) <= 254
                and _LOCAL_PART.match(local) and _DOMAIN.match(domain))


def addresses_in(value):
    """E-mail addresses found in a tag value ("a@x.com", "Alice <a@x.com>", "a@x; b@y")."""
    found = []
    for _name, address in getaddresses([str(value or "").replace(";", ",")]):
        if is_email(address) and address not in found:
            found.append(address)
    return found


def address_list(text, option):
    """Comma-separated addresses of an option; GovernError naming a bad one."""
    found = []
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not is_email(part):
            raise GovernError("The %s option holds %r, which is not an e-mail address." % (
                option, part), "ActionConfiguration")
        if part not in found:
            found.append(part)
    return found


def is_domain(text):
    return bool(_DOMAIN.match(text or ""))


def find_address(target, tags, opts, tags_note=None):
    """(address or None, how it was found, [sentence per step tried]); pure."""
    trail = []
    # 1. tags
    if tags_note:
        trail.append("tags: %s" % tags_note)
    else:
        by_key = {}
        for key, value in (tags or {}).items():
            by_key.setdefault(key.strip().lower(), (key, value))
        for wanted in opts.address_tags:
            if wanted.lower() in by_key:
                key, value = by_key[wanted.lower()]
                found = addresses_in(value)
                if found:
                    trail.append("tags: %s=%s" % (key, found[0]))
                    return found[0], "tag:%s" % key, trail
        trail.append("tags: none of %s holds an e-mail address" % ", ".join(opts.address_tags))
    # 2. a name that is an e-mail address
    name, what = _person_name(target)
    trusted = name_is_trusted(target)
    if name and is_email(name):
        if trusted or _in_domain(name, opts.email_domain):
            trail.append("%s: %s" % (what, name))
            return name, what.replace(" ", "_"), trail
        trail.append("%s %r: not used, the caller chose it and it is outside email_domain (%s)"
                     % (what, name, opts.email_domain or "not set"))
    else:
        trail.append("%s %r is not an e-mail address" % (what, name) if name else
                     "name: a %s is not a person's name" % _kind_text(target))
    # 3. <name>@<domain>
    if not opts.email_domain:
        trail.append("email_domain: not set")
    elif name and _MAILBOX_NAME.match(name) and ".." not in name:
        address = "%s@%s" % (name, opts.email_domain)
        trail.append("email_domain: %s" % address)
        return address, "email_domain", trail
    else:
        trail.append("email_domain: %r cannot be the local part of an address" % (name or ""))
    # 4. fallback
    if opts.fallback:
        trail.append("fallback_recipient: %s" % opts.fallback)
        return opts.fallback, "fallback_recipient", trail
    trail.append("fallback_recipient: not set")
    return None, None, trail


def name_is_trusted(target):
    """Was the principal's name chosen by an administrator or by AWS (not by the caller)?
    IAM user names and IAM Identity Center session names are; other session names and
    federated user names are not. `role_path` comes from iam:GetRole (read_principal)."""
    if target.kind == "user":
        return True
    if target.kind == "session":
        return target.extra.get("role_path") == IDENTITY_CENTER_PATH
    return False


def _in_domain(address, domain):
    return bool(domain) and address.rpartition("@")[2].lower() == domain.lower()


def _person_name(target):
    if target.kind == "session":
        return target.extra.get("session_name") or target.name, "session name"
    if target.kind == "user" and target.name != "root":
        return target.name, "user name"
    if target.kind == "federated":
        return target.name, "federated user name"
    return None, None


def _kind_text(target):
    if target.kind == "user":
        return "root user"
    return target.kind

