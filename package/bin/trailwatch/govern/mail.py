"""Sending e-mail through Splunk's own mail settings (Settings > Server settings > Email
settings, i.e. `alert_actions.conf [email]`), the default delivery of "Notify AWS user".

How, and why this way: splunkd has no REST endpoint that sends a message; the ways in are its
`sendemail` search command (a whole search job per message, with the message text quoted into
SPL) or reading the mail settings and speaking SMTP ourselves. We do the latter, the way
Splunk's own `sendemail.py` does it:

- the settings come from splunkd's `admin/alert_actions/email` endpoint (`mailserver`,
  `from`, `use_ssl`, `use_tls`, `auth_username`, `allowedDomainList`, and the SMTP password
  as `clear_password`), read with the alert's session key;
- since Splunk 8.1.1 `clear_password` holds the *encrypted* value (`$7$...`); it is decrypted
  as sendemail.py decrypts it, with `$SPLUNK_HOME/bin/splunk show-decrypted --value ''` and
  the value in the `ENCRYPTED_PASSWORD` environment variable (never on a command line, never
  logged; the clear value is registered with trailwatch.redact);
- `use_ssl` -> SMTP over TLS (port 465 unless given), `use_tls` -> STARTTLS, required: a
  server that does not offer it is an error, never a silent fall-back to clear text. Server
  certificates are verified against the system's trust store;
- `allowedDomainList` (when set) limits the recipients, as it limits Splunk's own e-mails.

Errors become GovernError with an error code and a sentence saying what to fix.
"""
import json
import os
import smtplib
import socket
import ssl
import subprocess
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from splunklib import binding

import trailwatch
from trailwatch import redact
from trailwatch.govern.core import GovernError, truthy
from trailwatch.splunk.config import parse_server_uri

SETTINGS_PATH = "admin/alert_actions/email"
SETTINGS_PAGE = "Settings > Server settings > Email settings"
ENCRYPTED_PREFIXES = ("$1$", "$7$")
DEFAULT_TIMEOUT = 30


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
    """Splunk's e-mail settings, as the notify action needs them (the password is kept
    encrypted until a message is sent)."""

    def __init__(self, content):
        self.use_ssl = truthy(content.get("use_ssl"))
        self.use_tls = truthy(content.get("use_tls"))
        self.mailserver = (content.get("mailserver") or "localhost").strip()
        self.host, self.port = parse_mailserver(self.mailserver, self.use_ssl)
        self.sender = (content.get("from") or "splunk").strip()
        self.username = (content.get("auth_username") or "").strip()
        self._password = content.get("clear_password") or ""
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
    """Reads Splunk's mail settings over splunkd's REST API and sends through that server."""

    def __init__(self, session_key, server_uri, app=None, splunk_home=None,
                 timeout=DEFAULT_TIMEOUT):
        scheme, host, port = parse_server_uri(server_uri)
        self._ctx = binding.Context(token=session_key, scheme=scheme, host=host, port=port,
                                    owner="nobody", app=app or trailwatch.APP_NAME)
        self.splunk_home = splunk_home or os.environ.get("SPLUNK_HOME") or ""
        self.timeout = timeout
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

    def password(self, settings):
        """The SMTP password in clear, decrypted the way Splunk's sendemail.py does."""
        value = settings._password
        redact.register(value)
        if not value or not value.startswith(ENCRYPTED_PREFIXES):
            return value
        splunk = os.path.join(self.splunk_home, "bin", "splunk.exe" if os.name == "nt" else "splunk")
        if not self.splunk_home or not os.path.exists(splunk):
            raise GovernError(
                "Splunk's SMTP password is stored encrypted and %s is not here to decrypt it "
                "(as Splunk's own sendemail does); on this instance use the ses or sns "
                "delivery." % (splunk or "$SPLUNK_HOME/bin/splunk"), "MailCredentials")
        env = dict(os.environ, ENCRYPTED_PASSWORD=value)
        try:
            done = subprocess.run([splunk, "show-decrypted", "--value", ""], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  timeout=120, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise GovernError("Cannot run %s show-decrypted to decrypt Splunk's SMTP password: "
                              "%s" % (splunk, type(exc).__name__), "MailCredentials")
        clear = done.stdout.decode("utf-8", "replace")
        if clear.endswith("\n"):
            clear = clear[:-1]
        if done.returncode != 0 or not clear:
            raise GovernError("%s show-decrypted could not decrypt Splunk's SMTP password "
                              "(exit status %d)." % (splunk, done.returncode), "MailCredentials")
        redact.register(clear)
        return clear

    def send(self, sender, to, cc, reply_to, subject, body, headers=None):
        """Send one plain-text message; returns {"message_id", "accepted", "refused",
        "server"}. Raises GovernError when the server does not take it for `to`."""
        settings = self.settings()
        message = build_message(sender, to, cc, reply_to, subject, body, headers)
        recipients = list(to) + [a for a in cc if a not in to]
        where = "%s:%d" % (settings.host, settings.port)
        try:
            smtp = self._connect(settings)
        except GovernError:
            raise
        except ssl.SSLError as exc:
            raise GovernError("TLS with Splunk's mail server %s failed (%s): its certificate "
                              "must be valid for that name and trusted by this host." % (
                                  where, exc), "SSLError")
        except (OSError, smtplib.SMTPException) as exc:
            raise GovernError("Cannot reach Splunk's mail server %s (%s: %s): check the "
                              "mailserver in %s." % (where, type(exc).__name__, exc,
                                                     SETTINGS_PAGE), "SMTPConnectError")
        try:
            try:
                if settings.username:
                    smtp.login(settings.username, self.password(settings))
                refused = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
            finally:
                try:
                    smtp.quit()
                except (OSError, smtplib.SMTPException):
                    smtp.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise GovernError("Splunk's mail server %s rejected the SMTP user %s (%s %s): "
                              "correct the username and password in %s." % (
                                  where, settings.username, exc.smtp_code, _text(exc.smtp_error),
                                  SETTINGS_PAGE), "SMTPAuthenticationError")
        except smtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join("%s: %s %s" % (a, c, _text(m)) for a, (c, m) in sorted(exc.recipients.items()))
            raise GovernError("Splunk's mail server %s refused every recipient (%s)." % (
                where, detail), "SMTPRecipientsRefused")
        except smtplib.SMTPSenderRefused as exc:
            raise GovernError("Splunk's mail server %s refused the sender %s (%s %s): use a "
                              "sender the server accepts (the action's sender option or "
                              "'from' in %s)." % (where, exc.sender, exc.smtp_code,
                                                  _text(exc.smtp_error), SETTINGS_PAGE),
                              "SMTPSenderRefused")
        except smtplib.SMTPResponseException as exc:
            raise GovernError("Splunk's mail server %s did not take the message (%s %s)." % (
                where, exc.smtp_code, _text(exc.smtp_error)), type(exc).__name__)
        except (OSError, smtplib.SMTPException) as exc:
            raise GovernError("Sending through Splunk's mail server %s failed (%s: %s)." % (
                where, type(exc).__name__, exc), type(exc).__name__)
        refused = {a: "%s %s" % (c, _text(m)) for a, (c, m) in (refused or {}).items()}
        lost = [a for a in to if a in refused]
        if lost:
            raise GovernError("Splunk's mail server %s refused %s (%s)." % (
                where, ", ".join(lost), "; ".join(refused[a] for a in lost)),
                "SMTPRecipientsRefused")
        return {"message_id": message["Message-ID"], "server": where,
                "accepted": [a for a in recipients if a not in refused], "refused": refused}

    def _connect(self, settings):
        context = ssl.create_default_context()
        if settings.use_ssl:
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=self.timeout,
                                    context=context)
            smtp.ehlo()
            return smtp
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=self.timeout)
        smtp.ehlo()
        if settings.use_tls:
            if not smtp.has_extn("starttls"):
                smtp.close()
                raise GovernError(
                    "Splunk's e-mail settings require STARTTLS (use_tls) but the mail server "
                    "%s:%d does not offer it; nothing was sent in clear text." % (
                        settings.host, settings.port), "StartTlsNotOffered")
            smtp.starttls(context=context)
            smtp.ehlo()
        return smtp


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def build_message(sender, to, cc, reply_to, subject, body, headers=None):
    """A plain-text UTF-8 message with a Message-ID in the sender's domain."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


def sender_address(configured, settings=None):
    """The From address: the action's sender option, else Splunk's `from`; like Splunk, a
    bare name gets `@<this host>`."""
    sender = (configured or "").strip() or (settings.sender if settings is not None else "splunk")
    if "@" not in sender:
        sender = "%s@%s" % (sender, socket.gethostname() or "localhost")
    elif sender.endswith("@"):
        sender += "localhost"
    return sender
