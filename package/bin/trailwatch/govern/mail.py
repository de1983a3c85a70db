"""Sending e-mail through Splunk itself, the default delivery of "Notify AWS user": Splunk's
own `sendemail` command delivers with Splunk's mail settings (Settings > Server settings >
Email settings, `alert_actions.conf [email]`), so TrailWatch never holds the SMTP password
and never runs the `splunk` binary.

How the message reaches sendemail without becoming SPL:
1. the message (to, cc, from, subject, body) is saved as one document in the KV store
   collection `trailwatch_mail_outbox`, under a random key;
2. one search runs, always the same text but for that key (32 hexadecimal digits, made
   here): `| inputlookup trailwatch_mail_outbox where _key="<key>" | head 1 | sendemail
   to="$result.mail_to$" ... message="$result.mail_body$"`. Splunk's sendemail replaces the
   `$result.<field>$` tokens of its arguments with the fields of the first result (its
   buildSafeMergedValues / template/realize step), once, without re-reading what it put in;
   the message text is data from the KV store from start to end;
3. the document is deleted.
A failure of sendemail (relay unreachable, recipient refused, STARTTLS missing) is an ERROR
message of that search, which becomes a GovernError with Splunk's words.

The settings are still read from splunkd's `admin/alert_actions/email` endpoint, for what
the action needs before sending: the `from` address and `allowedDomainList` (Splunk refuses
recipients outside it), and the mail server's name for the plan and the audit event.
Splunk's sendemail cannot set Reply-To or other headers: a reply-to address is named at the
end of the body instead.

Errors become GovernError with an error code and a sentence saying what to fix.
"""
import json
import re
import socket
import time
import uuid

from splunklib import binding

import trailwatch
from trailwatch.govern.core import GovernError, truthy
from trailwatch.splunk.config import parse_server_uri
from trailwatch.timefmt import iso_utc

SETTINGS_PATH = "admin/alert_actions/email"
SETTINGS_PAGE = "Settings > Server settings > Email settings"
OUTBOX = "trailwatch_mail_outbox"
# What varies: the outbox key (hexadecimal, made by send()), whether a cc argument is given,
# and a from argument when the action's sender differs from Splunk's `from`. sendemail fills
# to, cc, subject and message from $result.<field>$ tokens; it does not do that for `from`,
# which is therefore written as text, and only when it is a plain address (letters, digits
# and ._%+- before the @; no quote, backslash or $ can reach the search).
SEARCH = ('| inputlookup %s where _key="%%s" | head 1 | sendemail to="$result.mail_to$"%%s%%s '
          'subject="$result.mail_subject$" message="$result.mail_body$" content_type=plain '
          'sendresults=false inline=false footer=" " graceful=false' % OUTBOX)
CC_ARGUMENT = ' cc="$result.mail_cc$"'
FROM_ARGUMENT = ' from="%s"'
_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def parse_mailserver(text, use_ssl=False):
    """(host, port) of Splunk's `mailserver` setting (host[:port], [ipv6]:port)."""
    text = (text or "").strip() or "localhost"
    default_port = 465 if use_ssl else 25
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if port and not port.isdigit():
        raise GovernError("Splunk's mailserver setting %r is not host[:port] (%s)." % (
            text, SETTINGS_PAGE), "MailSettings")
    return host, int(port) if port else default_port


def domains_allowed(allowed_list):
    """The domains of Splunk's `allowedDomainList` (lower case); empty: any domain."""
    return [d.strip().lower().lstrip("@") for d in (allowed_list or "").split(",") if d.strip()]


def not_allowed(addresses, allowed):
    """The addresses whose domain is outside `allowed` (none when `allowed` is empty)."""
    if not allowed:
        return []
    return [a for a in addresses if a.rpartition("@")[2].lower() not in allowed]


class MailSettings(object):
    """Splunk's e-mail settings, as the notify action needs them (never the password)."""

    def __init__(self, content):
        self.use_ssl = truthy(content.get("use_ssl"))
        self.use_tls = truthy(content.get("use_tls"))
        self.mailserver = (content.get("mailserver") or "localhost").strip()
        self.host, self.port = parse_mailserver(self.mailserver, self.use_ssl)
        self.sender = (content.get("from") or "splunk").strip()
        self.username = (content.get("auth_username") or "").strip()
        self.allowed_domains = domains_allowed(content.get("allowedDomainList"))

    @property
    def security(self):
        return "SSL" if self.use_ssl else ("STARTTLS" if self.use_tls else "no TLS")

    def describe(self):
        return "%s:%d (%s%s)" % (self.host, self.port, self.security,
                                 ", as %s" % self.username if self.username else "")

    def to_dict(self):
        """Secret-free view for audit events."""
        return {"mailserver": "%s:%d" % (self.host, self.port), "security": self.security,
                "auth_username": self.username, "from": self.sender,
                "allowed_domains": self.allowed_domains}


class SplunkMail(object):
    """Reads Splunk's mail settings over splunkd's REST API and sends through Splunk's
    sendemail (see the module's docstring)."""

    def __init__(self, session_key, server_uri, app=None):
        scheme, host, port = parse_server_uri(server_uri)
        self._ctx = binding.Context(token=session_key, scheme=scheme, host=host, port=port,
                                    owner="nobody", app=app or trailwatch.APP_NAME)
        self._settings = None

    def settings(self):
        if self._settings is None:
            try:
                response = self._ctx.get(SETTINGS_PATH, output_mode="json")
            except binding.HTTPError as exc:
                raise GovernError(
                    "Cannot read Splunk's e-mail settings (%s answered HTTP %s): the owner of "
                    "the alert must be allowed to read them (%s), or choose the ses or sns "
                    "delivery." % (SETTINGS_PATH, exc.status, SETTINGS_PAGE), "MailSettings")
            except OSError as exc:
                raise GovernError("Cannot reach splunkd for its e-mail settings: %s" % exc,
                                  "MailSettings")
            entries = json.loads(response.body.read().decode("utf-8")).get("entry") or []
            if not entries:
                raise GovernError("splunkd returned no [email] settings (%s)." % SETTINGS_PATH,
                                  "MailSettings")
            self._settings = MailSettings(entries[0].get("content") or {})
        return self._settings

    def send(self, sender, to, cc, reply_to, subject, body, headers=None):
        """Have Splunk's sendemail send one plain-text message; returns {"message_id" (the
        outbox reference), "accepted", "refused", "server"}. Raises GovernError when Splunk
        does not send it. `headers` cannot be passed to sendemail and are not sent."""
        settings = self.settings()
        key = uuid.uuid4().hex
        document = outbox_document(key, sender, to, cc, reply_to, subject, body)
        path = "storage/collections/data/%s" % OUTBOX
        try:
            self._ctx.post(path, body=json.dumps(document),
                           headers=[("Content-Type", "application/json")])
        except binding.HTTPError as exc:
            raise GovernError(
                "Cannot put the message in the KV store collection %s (HTTP %s): the user who "
                "triggered the action needs write access to it (the trailwatch_responder role "
                "has it)." % (OUTBOX, exc.status), "MailOutbox")
        from_argument = None if sender == sender_address(None, settings) else sender
        try:
            messages = self._run(search_for(key, bool(cc), from_argument))
        finally:
            try:
                self._ctx.delete("%s/%s" % (path, key))
            except (binding.HTTPError, OSError):
                pass  # a leftover document is harmless: it is only read by its own key
        errors = [m.get("text", "") for m in messages
                  if str(m.get("type", "")).upper() in ("ERROR", "FATAL")]
        if errors:
            raise GovernError("Splunk's sendemail did not send the message through %s: %s" % (
                settings.mailserver, " ".join(errors)), "SendemailFailed")
        recipients = list(to) + [a for a in cc if a not in to]
        return {"message_id": "trailwatch-outbox:%s" % key, "server": settings.mailserver,
                "accepted": recipients, "refused": {}}

    def _run(self, search):
        try:
            response = self._ctx.post("search/jobs", search=search, exec_mode="oneshot",
                                      output_mode="json")
        except binding.HTTPError as exc:
            detail = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else ""
            raise GovernError("splunkd refused the sendemail search (HTTP %s): %s" % (
                exc.status, _messages_text(detail)), "SendemailFailed")
        except OSError as exc:
            raise GovernError("Cannot reach splunkd to run sendemail: %s" % exc, "SendemailFailed")
        text = response.body.read().decode("utf-8")
        return (json.loads(text) if text.strip() else {}).get("messages") or []


def search_for(key, with_cc, sender=None):
    """The sendemail search for outbox document `key` (hexadecimal only); `sender` (a plain
    address) when the message must not come from Splunk's own `from`."""
    if len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
        raise ValueError("outbox keys are 32 hexadecimal digits")
    if sender and not _PLAIN_ADDRESS.match(sender):
        raise GovernError("Splunk's sendemail takes the sender address as search text, so it must "
                          "be a plain address (letters, digits and ._%%+- before the @): %r is "
                          "not; set the action's sender option to such an address or leave it "
                          "empty to use Splunk's." % sender, "ActionConfiguration")
    return SEARCH % (key, CC_ARGUMENT if with_cc else "", FROM_ARGUMENT % sender if sender else "")


def outbox_document(key, sender, to, cc, reply_to, subject, body):
    """The KV document sendemail reads its arguments from."""
    if reply_to:
        body = "%s\n\nReplies: %s (please write to this address).\n" % (body.rstrip("\n"), reply_to)
    return {"_key": key, "mail_to": ", ".join(to), "mail_cc": ", ".join(cc),
            "mail_from": sender, "mail_subject": subject, "mail_body": body,
            "created": iso_utc(time.time())}  # mail_from: a record of it; sendemail does not read it


def _messages_text(body):
    try:
        return " ".join(m.get("text", "") for m in json.loads(body).get("messages") or [])
    except ValueError:
        return body[:300]


def sender_address(configured, settings=None):
    """The From address: the action's sender option, else Splunk's `from`; like Splunk, a
    bare name gets `@<this host>`."""
    sender = (configured or "").strip() or (settings.sender if settings is not None else "splunk")
    if "@" not in sender:
        sender = "%s@%s" % (sender, socket.gethostname() or "localhost")
    elif sender.endswith("@"):
        sender += "localhost"
    return sender
