"""What splunkd does with the one search "Notify AWS user" runs (POST search/jobs,
exec_mode=oneshot): `| inputlookup trailwatch_mail_outbox where _key="<key>" | head 1 |
sendemail <arguments>`, modelled on Splunk's sendemail.py and its documentation:

- the search must have exactly that shape; any other search is not modelled (501), so a test
  notices when the add-on sends SPL the model does not cover. sendemail arguments are those
  of the Search Reference (to, cc, bcc, from, subject, message, footer, content_type,
  sendresults, inline, graceful, ...); an unknown one fails the search as Splunk's parser does;
- inputlookup reads the KV collection with the caller's permissions (a user without read
  access to the collection gets a 403, as from the KV store endpoints);
- sendemail replaces `$result.<field>$` tokens in to, cc, bcc, subject, message and footer
  with the first result's fields, once (sendemail.py's buildSafeMergedValues and the
  template/realize call with conf.recurse = 0); unknown tokens become empty;
- delivery uses Splunk's [email] settings, which splunkd holds and decrypts itself: mail
  server, use_ssl, use_tls (STARTTLS required), auth_username and the password, and
  allowedDomainList (every recipient's domain must be on it, else sendemail raises "Not all
  of the recipient email domains are on the allowed domain list");
- with graceful=false a failure ends the search with an ERROR message
  `command="sendemail", <error> while sending mail to: <to>`.
"""
import base64
import re
import smtplib
from email.mime.text import MIMEText
from email.utils import formatdate, getaddresses

SHAPE = re.compile(r'^\| inputlookup (?P<lookup>[\w]+) where _key="(?P<key>[0-9a-f]{32})" '
                   r'\| head 1 \| sendemail (?P<args>.*)$', re.S)
ARGUMENT = re.compile(r'\s*(\w+)=(?:"([^"]*)"|(\S+))')
SENDEMAIL_ARGUMENTS = {"to", "cc", "bcc", "from", "subject", "message", "footer", "content_type",
                       "sendresults", "inline", "graceful", "format", "priority", "server",
                       "sendpdf", "sendcsv", "use_ssl", "use_tls", "width_sort_columns",
                       "maxinputs", "maxtime"}
REALIZED = ("to", "cc", "bcc", "subject", "message", "footer")
TOKEN = re.compile(r"\$([^$\s]+)\$")


class SearchNotModelled(Exception):
    pass


class SearchFailed(Exception):
    pass


def decrypt(value):
    """splunkd's side of twgovern_support.encrypt_password (only splunkd decrypts)."""
    return base64.b64decode(value[3:]).decode("utf-8") if value.startswith("$7$") else value


def parse(search):
    match = SHAPE.match(search or "")
    if not match:
        raise SearchNotModelled(search)
    args, rest = {}, match.group("args")
    while rest.strip():
        found = ARGUMENT.match(rest)
        if not found:
            raise SearchFailed('Error in \'sendemail\' command: cannot parse "%s"' % rest.strip())
        name, value = found.group(1), found.group(2) if found.group(2) is not None else found.group(3)
        if name not in SENDEMAIL_ARGUMENTS:
            raise SearchFailed("Error in 'sendemail' command: Invalid argument: '%s'" % name)
        args[name] = value
        rest = rest[found.end():]
    return match.group("lookup"), match.group("key"), args


def realize(template, result):
    return TOKEN.sub(lambda m: str(result.get(m.group(1)[len("result."):], ""))
                     if m.group(1).startswith("result.") else "", template)


def deliver(settings, args, result):
    """Send as sendemail.py does; returns nothing, raises SearchFailed."""
    values = {name: realize(args[name], result) if name in REALIZED else args[name] for name in args}
    to, cc = values.get("to", ""), values.get("cc", "")
    recipients = [a for _, a in getaddresses([to, cc, values.get("bcc", "")]) if a]
    if not recipients:
        raise SearchFailed('command="sendemail", No recipient was given.')
    allowed = [d.strip().lower() for d in (settings.get("allowedDomainList") or "").split(",") if d.strip()]
    if allowed and any(a.rpartition("@")[2].lower() not in allowed for a in recipients):
        raise SearchFailed('command="sendemail", Not all of the recipient email domains are on the '
                           'allowed domain list. while sending mail to: %s' % to)
    body = values.get("message", "")
    footer = values.get("footer", "")
    if footer.strip():
        body += "\n\n" + footer
    message = MIMEText(body, "plain", "utf-8")
    message["Subject"] = values.get("subject") or "Splunk Results"
    message["From"] = values.get("from") or settings.get("from") or "splunk"
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Date"] = formatdate(localtime=True)
    host, _, port = (settings.get("mailserver") or "localhost").rpartition(":")
    try:
        if str(settings.get("use_ssl")) in ("1", "true"):
            smtp = smtplib.SMTP_SSL(host, int(port or 465), timeout=30)
        else:
            smtp = smtplib.SMTP(host, int(port or 25), timeout=30)
        try:
            smtp.ehlo()
            if str(settings.get("use_tls")) in ("1", "true"):
                smtp.starttls()
                smtp.ehlo()
            if settings.get("auth_username"):
                smtp.login(settings["auth_username"], decrypt(settings.get("auth_password", "")))
            smtp.sendmail(message["From"], recipients, message.as_string())
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    except (OSError, smtplib.SMTPException) as exc:
        raise SearchFailed('command="sendemail", %s while sending mail to: %s' % (exc, to))


def oneshot(double, ctx, email_settings):
    """Answer POST search/jobs (oneshot) for the notify search; returns (status, JSON body)."""
    search = ctx.param("search") or ""
    double.searches.append({"user": ctx.user, "search": search})
    lookup, key, args = parse(search)
    transforms = double.conf("transforms", None)
    if lookup not in transforms:
        raise SearchFailed("Error in 'inputlookup' command: The lookup table '%s' does not exist "
                           "or is not available." % lookup)
    collection = transforms[lookup].get("collection", lookup)
    caps = double.capabilities_of(ctx.user)
    if not double.authz.may(ctx.user, caps, double.app, "collections/" + collection, "read"):
        return 403, {"messages": [{"type": "ERROR", "text": "User '%s' cannot read: collections/%s"
                                   % (ctx.user, collection)}]}
    rows = [r for r in double.kv_records(collection) if r.get("_key") == key][:1]
    messages = []
    try:
        deliver(email_settings, args, rows[0] if rows else {})
    except SearchFailed as exc:
        messages.append({"type": "ERROR", "text": str(exc)})
    return 200, {"preview": False, "init_offset": 0, "messages": messages,
                 "fields": [{"name": n} for n in sorted(rows[0])] if rows else [],
                 "results": rows}
