"""Alert action "Notify AWS user": tell the person behind an AWS identity what TrailWatch saw,
when, from where, and what was done about it.

Same life cycle as every action (engine.py): resolve the principal from the alert row ->
refuse protected principals -> read the state (the principal's tags, the address they
resolve to, whether this alert row was already notified, what TrailWatch already did for it)
-> plan the one send -> dry run reports it, otherwise send -> verify that the delivery service
took it (its message id) -> audit event.

Address, first found wins:
1. the principal's tags (`address_tags`, default email, e-mail, mail, emailaddress,
   email_address, owner_email, owner, contact; keys compared case-insensitively), read with
   iam:ListUserTags or iam:ListRoleTags (an assumed-role session: its role's tags);
2. a session name (IAM Identity Center and most SAML set-ups name the session after the
   user's e-mail) or an IAM user / federated user name that is an e-mail address;
3. `<user, session or federated user name>@<email_domain>` when `email_domain` is set;
4. `fallback_recipient` (the SOC mailbox).

Delivery: `splunk` (default; Splunk's own mail settings, see mail.py: no AWS permission),
`ses` (SESv2 SendEmail: ses:SendEmail) or `sns` (Publish to a topic: sns:Publish; the address
goes in the message attribute `recipient`, for subscription filter policies).

Idempotent: the notification key (a hash of what identifies the alert row: policy, principal,
account, source IP, API calls, first and last seen) is kept on the action's KV record; a row
already notified (record `done`, or `executing`: the message may have gone out) is not sent
again. Not reversible: a message cannot be recalled, so undo refuses it.

Notify changes nothing in AWS, so of the guardrails only the admin's own choices apply: the
protected-principals lookup and the exempt tag. Root, service and Identity Center roles,
principals of other accounts and the add-on's own identity are people (or teams) to tell.
"""
import hashlib
import json
import re
from email.utils import getaddresses

from trailwatch.govern.core import (Action, GovernError, Protected, Step, Target,
                                    describe_exception)
from trailwatch.govern.mail import not_allowed, sender_address
from trailwatch.govern.permissions import method_of
from trailwatch.govern.protection import EXEMPT_TAG, EXEMPT_VALUE, PRINCIPALS_LOOKUP, parse_arn
from trailwatch.govern.users import parse_time, resolve_principal

NAME = "trailwatch_notify_user"
DELIVERIES = ("splunk", "ses", "sns")
DEFAULT_ADDRESS_TAGS = ("email", "e-mail", "mail", "emailaddress", "email_address",
                        "owner_email", "owner", "contact")
# KV record states meaning the message went out (done) or may have (executing: the process
# stopped between saving the record and recording the answer).
SENT_STATES = ("done", "executing")
KEY_FIELDS = ("policy_id", "policy", "aws_account_id", "src_ip", "event_names", "first_seen",
              "last_seen")
NOT_REVERSIBLE = "a notification that was sent cannot be recalled."
UNDO_TEXT = ("Not applicable: a notification cannot be recalled once sent "
             "(| trailwatchundo refuses it).")
STATUS_WORDS = {"done": "done", "failed": "attempted, failed", "executing": "in progress",
                "undone": "done, then undone"}

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(r"^%s(?:\.%s)*$" % (_ATOM, _ATOM))
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(r"^(?=.{1,253}$)%s(?:\.%s)+$" % (_LABEL, _LABEL))
# Names that can become <name>@<email_domain>: what mailbox names look like, not all RFC 5322
# allows (a session named "i-0abc/odd" is no one's mailbox).
_MAILBOX_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,62}[A-Za-z0-9])?$")
_SNS_TOPIC = re.compile(r"^arn:[\w-]+:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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


def clean(value, limit=500):
    """One line of alert text: multivalue fields joined, control characters out, bounded."""
    if value is None:
        return ""
    text = ", ".join(p.strip() for p in str(value).splitlines() if p.strip())
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- options
class NotifyOptions(object):
    """The action's options, checked (a wrong value is an ActionConfiguration failure, also
    in dry run)."""

    def __init__(self, options):
        self.delivery = (options.get("delivery") or "splunk").strip().lower()
        if self.delivery not in DELIVERIES:
            raise GovernError("The delivery option is %r; use one of %s." % (
                self.delivery, ", ".join(DELIVERIES)), "ActionConfiguration")
        tags = options.get("address_tags")
        self.address_tags = [t.strip() for t in (tags.split(",") if tags else DEFAULT_ADDRESS_TAGS)
                             if t.strip()]
        self.email_domain = (options.get("email_domain") or "").strip().lstrip("@").lower()
        if self.email_domain and not _DOMAIN.match(self.email_domain):
            raise GovernError("The email_domain option %r is not a domain name." % self.email_domain,
                              "ActionConfiguration")
        fallback = address_list(options.get("fallback_recipient"), "fallback_recipient")
        self.fallback = fallback[0] if fallback else ""
        self.cc = address_list(options.get("cc"), "cc")
        reply_to = address_list(options.get("reply_to"), "reply_to")
        self.reply_to = reply_to[0] if reply_to else self.fallback
        self.sender = (options.get("sender") or "").strip()
        if self.sender and "@" in self.sender and not is_email(self.sender):
            raise GovernError("The sender option %r is not an e-mail address." % self.sender,
                              "ActionConfiguration")
        self.ses_region = (options.get("ses_region") or "").strip()
        self.topic_arn = (options.get("sns_topic_arn") or "").strip()
        self.what_was_done = clean(options.get("what_was_done"), 1000)
        if self.delivery == "ses" and not is_email(self.sender):
            raise GovernError("SES delivery needs the sender option: an address verified in "
                              "Amazon SES (the From of the message).", "ActionConfiguration")
        if self.delivery == "sns":
            match = _SNS_TOPIC.match(self.topic_arn)
            if not match:
                raise GovernError("SNS delivery needs the sns_topic_arn option: the ARN of the "
                                  "topic to publish to (%r is not one)." % self.topic_arn,
                                  "ActionConfiguration")
            self.topic_region = match.group(1)


# --------------------------------------------------------------------------- address
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
    if name and is_email(name):
        trail.append("%s: %s" % (what, name))
        return name, what.replace(" ", "_"), trail
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


def notification_key(row, target, meta):
    """What identifies an alert row, hashed: the same finding is notified once."""
    identity = {field: clean(row.get(field), 2000) for field in KEY_FIELDS}
    identity["target"] = target.label
    if not identity["first_seen"] and not identity["last_seen"]:
        # No times: only this alert run's results count as the same row.
        identity["sid"] = (meta or {}).get("sid", "")
        identity["_time"] = clean(row.get("_time"))
    text = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- message
def when_text(row, now):
    first, last = parse_time(row.get("first_seen")), parse_time(row.get("last_seen"))

    def show(moment, raw):
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else clean(raw)

    first_text = show(first, row.get("first_seen"))
    last_text = show(last, row.get("last_seen"))
    if first_text and last_text and first_text != last_text:
        return "between %s and %s" % (first_text, last_text)
    if first_text or last_text:
        return "at %s" % (first_text or last_text)
    return "shortly before %s (the alert carries no times)" % now.strftime("%Y-%m-%d %H:%M UTC")


def compose(row, target, done, opts, now, meta, action_id):
    """(subject, body) in plain text: what was seen, when, from where, what was done."""
    def f(name):
        return clean(row.get(name))

    policy = f("policy") or f("policy_id") or "TrailWatch detection"
    who = f("user") or target.name
    severity = f("severity").lower()
    subject = "[TrailWatch] %s: activity of your AWS identity %s" % (policy, who)
    if severity in ("high", "critical"):
        subject = "[TrailWatch] [%s] %s: activity of your AWS identity %s" % (
            severity.upper(), policy, who)
    subject = clean(subject, 200)

    seen = ["  %s" % (f("description") or policy)]
    detail = policy + (" (%s)" % f("policy_id") if f("policy_id") and f("policy") else "")
    if severity:
        detail += ", severity %s" % severity
    seen.append("  Detection: %s" % detail)
    account = f("aws_account_id") or target.account_id or ""
    seen.append("  Identity: %s%s" % (f("user_arn") or target.label,
                                      " in AWS account %s" % account if account else ""))
    if f("event_names"):
        count = f("count")
        seen.append("  API calls: %s%s" % (f("event_names"), " (%s events)" % count if count else ""))
    if f("mitre_attack_id"):
        seen.append("  MITRE ATT&CK: %s" % f("mitre_attack_id"))

    where = []
    if f("src_ip"):
        country = f("src_country")
        where.append("source IP address %s%s" % (f("src_ip"), " (%s)" % country if country else ""))
    if f("region"):
        where.append("AWS region %s" % f("region"))

    lines = ["Hello,", "",
             "TrailWatch, the AWS security monitoring your security team runs in Splunk, saw "
             "activity by an AWS identity that you own or use.", "",
             "What was seen"] + seen + ["", "When", "  " + when_text(row, now), "",
                                         # not "From ...": SMTP would send it as ">From"
                                         "Where from",
                                         "  " + ("; ".join(where) if where else "not recorded in the alert"),
                                         "", "What was done"]
    if done:
        lines.extend("  - %s" % item for item in done)
    if opts.what_was_done:
        lines.append("  - %s" % opts.what_was_done)
    if not done and not opts.what_was_done:
        lines.append("  - Nothing has been changed automatically; your security team has been "
                     "told and may contact you.")
    lines += ["", "What to do",
              "  If this was you, %s so the alert can be closed." % (
                  "reply to this message" if opts.reply_to else "tell your security team"),
              "  If it was not you, contact your security team at once: someone else may be "
              "using your credentials.", "",
              "Reference: alert \"%s\", notification %s." % (
                  clean((meta or {}).get("search_name")) or "TrailWatch", action_id)]
    return subject, "\n".join(lines) + "\n"


def actions_done(store, meta, target, row):
    """Sentences for the TrailWatch actions the same alert run (sid) recorded on this
    principal or on the bucket the row names."""
    sid = (meta or {}).get("sid")
    if store is None or not sid:
        return []
    labels = [target.label]
    if target.arn and target.arn not in labels:
        labels.append(target.arn)
    if clean(row.get("bucket_name")):
        labels.append("s3://%s" % clean(row.get("bucket_name")))
    # Plain field equality: the query language every KV store version documents.
    records = [r for r in store.find({"sid": sid, "kind": "action"}, limit=200)
               if r.get("target_label") in labels]
    from trailwatch.govern import registry  # registry imports this module

    known = registry.all_actions()
    sentences = []
    for record in sorted(records, key=lambda r: r.get("created") or ""):
        name = record.get("action")
        if name == NAME:
            continue
        label = known[name].label if name in known else name
        steps = "; ".join(s.get("description", "") for s in record.get("plan") or [] if isinstance(s, dict))
        sentences.append("%s on %s: %s%s" % (
            label, record.get("target_label"), STATUS_WORDS.get(record.get("status"), record.get("status")),
            " (%s)" % steps if steps else ""))
    return sentences


def sns_subject(subject):
    """SNS subjects: ASCII, no line breaks, under 100 characters."""
    text = subject.encode("ascii", "replace").decode("ascii")
    return text if len(text) < 100 else text[:96] + "..."


# --------------------------------------------------------------------------- the action
class NotifyUser(Action):
    name = NAME
    label = "Notify AWS user"
    reversible = False
    not_reversible_reason = NOT_REVERSIBLE
    permissions = ("sts:GetCallerIdentity", "iam:ListUserTags", "iam:ListRoleTags",
                   "ses:SendEmail", "sns:Publish")
    options = ("user_arn_field", "iam_user_field", "role_name_field", "delivery",
               "address_tags", "email_domain", "fallback_recipient", "cc", "reply_to", "sender",
               "ses_region", "sns_topic_arn", "what_was_done")

    def resolve(self, row, options):
        arn = (row.get(options.get("user_arn_field") or "user_arn") or "").strip()
        parsed = parse_arn(arn) if arn else None
        if parsed and parsed[3].startswith("federated-user/"):
            partition, _service, account, resource = parsed
            return Target("federated", resource.split("/", 1)[1], account, arn, partition)
        return resolve_principal(row, options)

    def protection(self, ctx, target, protections):
        if target.kind == "user" and not target.arn and target.name != "root" and target.account_id:
            target.arn = "arn:%s:iam::%s:user/%s" % (target.partition, target.account_id, target.name)
        names = [target.arn, target.name, target.extra.get("role_name"), target.extra.get("role_arn")]
        entry = protections.principal_entry(names, target.account_id)
        if entry is not None:
            raise Protected("%s is protected by %s (%s)." % (
                target.label, PRINCIPALS_LOOKUP, entry.get("reason") or "no reason given"))
        tags, note = self._tags(ctx, target)
        for key, value in tags.items():
            if key.lower() == EXEMPT_TAG and str(value).strip().lower() == EXEMPT_VALUE:
                raise Protected("%s carries the tag %s=%s." % (target.label, EXEMPT_TAG, EXEMPT_VALUE))
        ctx.options["_tags"] = tags
        ctx.options["_tags_note"] = note

    def _tags(self, ctx, target):
        """({key: value}, None) or ({}, why the tags were not read). AWS errors end the row:
        without the tags the exempt tag cannot be checked."""
        if target.kind == "federated":
            return {}, "not read (federated users have no IAM tags)"
        if target.kind == "user" and (target.name == "root" or target.extra.get("user_type") == "Root"):
            return {}, "not read (the root user has no tags)"
        if target.account_id and ctx.account_id and target.account_id != ctx.account_id:
            return {}, "not read (the principal is in AWS account %s, the add-on acts in %s)" % (
                target.account_id, ctx.account_id)
        iam = ctx.client("iam")
        try:
            if target.kind == "user":
                found = iam.list_user_tags(UserName=target.name)["Tags"]
            else:
                found = iam.list_role_tags(RoleName=target.extra.get("role_name") or target.name)["Tags"]
        except Exception as exc:
            raise describe_exception(exc, "iam", "ListUserTags" if target.kind == "user" else "ListRoleTags",
                                     target)
        return {t["Key"]: t["Value"] for t in found}, None

    def read_state(self, ctx, target):
        opts = NotifyOptions(ctx.options)
        row = ctx.options.get("_row") or {}
        address, source, trail = find_address(target, ctx.options.get("_tags") or {}, opts,
                                              ctx.options.get("_tags_note"))
        key = notification_key(row, target, ctx.meta)
        state = {"recipient": address, "resolved_by": source, "resolution": trail,
                 "cc": [a for a in opts.cc if a != address], "delivery": opts.delivery,
                 "notification_key": key, "previous": None, "done_for_alert": [],
                 "search_name": (ctx.meta or {}).get("search_name", "")}
        if ctx.store is not None:
            sent = [r for r in ctx.store.find({"action": NAME, "notification_key": key})
                    if r.get("status") in SENT_STATES]
            if sent:
                record = sent[0]
                state["previous"] = {"action_id": record.get("_key"), "status": record.get("status"),
                                     "recipient": record.get("recipient") or "",
                                     "created": record.get("created") or ""}
        if state["previous"] is None:
            state["done_for_alert"] = actions_done(ctx.store, ctx.meta, target, row)
            if opts.delivery == "splunk":
                if ctx.sender is None:
                    raise GovernError("No Splunk mail transport in this context; use the ses or "
                                      "sns delivery.", "ActionConfiguration")
                state["mail"] = ctx.sender.settings().to_dict()
        return state

    def desired(self, state, target, options):
        if state["previous"] is not None:
            return {"sent": True, "recipient": state["previous"]["recipient"], "notes": []}
        opts = NotifyOptions(options)
        recipient = state["recipient"]
        if not recipient and opts.delivery != "sns":
            raise GovernError("No address to notify for %s: %s. Tag the principal (for example "
                              "email=<address>), set email_domain, or set fallback_recipient." % (
                                  target.label, "; ".join(state["resolution"])), "NoRecipient")
        to = [recipient] if recipient else []
        cc = list(state["cc"])
        if opts.delivery == "splunk":
            sender = sender_address(opts.sender or state["mail"]["from"])
            refused = not_allowed(to + cc, state["mail"]["allowed_domains"])
            if refused:
                raise GovernError(
                    "%s outside Splunk's allowedDomainList (%s): Splunk's e-mail settings do not "
                    "allow mail to those domains; add the domain there or send to another "
                    "address." % (", ".join(refused), ", ".join(state["mail"]["allowed_domains"])),
                    "DomainNotAllowed")
        else:
            sender = opts.sender
        row = options.get("_row") or {}
        subject, body = compose(row, target, state["done_for_alert"], opts, options["_now"],
                                {"search_name": state.get("search_name")},
                                options.get("_action_id", ""))
        wanted = {"sent": True, "recipient": recipient, "cc": cc, "delivery": opts.delivery,
                  "sender": sender, "reply_to": opts.reply_to, "subject": subject, "body": body,
                  "notes": []}
        if opts.delivery == "sns":
            wanted["topic_arn"] = opts.topic_arn
            wanted["attributes"] = {"recipient": recipient or "", "aws_account_id": target.account_id or "",
                                    "principal": target.label, "policy_id": clean(row.get("policy_id")),
                                    "severity": clean(row.get("severity"))}
        return wanted

    def plan(self, state, desired, target):
        if state["previous"] is not None:
            return []
        delivery = desired["delivery"]
        to, cc = ([desired["recipient"]] if desired["recipient"] else []), desired["cc"]
        where = "%s (found by %s)" % (desired["recipient"], state["resolved_by"]) if desired["recipient"] else "the topic's subscribers"
        if delivery == "splunk":
            params = {"mailserver": state["mail"]["mailserver"], "from": desired["sender"],
                      "to": to, "cc": cc, "reply_to": desired["reply_to"],
                      "subject": desired["subject"], "body": desired["body"]}
            return [Step("smtp", "SendMail", params, "send e-mail %r to %s through Splunk's mail "
                         "server %s" % (desired["subject"], where, state["mail"]["mailserver"]))]
        if delivery == "ses":
            destination = {"ToAddresses": to}
            if cc:
                destination["CcAddresses"] = cc
            params = {"FromEmailAddress": desired["sender"], "Destination": destination,
                      "Content": {"Simple": {
                          "Subject": {"Data": desired["subject"], "Charset": "UTF-8"},
                          "Body": {"Text": {"Data": desired["body"], "Charset": "UTF-8"}}}}}
            if desired["reply_to"]:
                params["ReplyToAddresses"] = [desired["reply_to"]]
            return [Step("sesv2", "SendEmail", params, "send e-mail %r to %s with Amazon SES as %s"
                         % (desired["subject"], where, desired["sender"]))]
        attributes = {name: {"DataType": "String", "StringValue": value}
                      for name, value in sorted(desired["attributes"].items()) if value}
        topic = desired["topic_arn"]
        params = {"TopicArn": topic, "Subject": sns_subject(desired["subject"]),
                  "Message": desired["body"], "MessageAttributes": attributes}
        return [Step("sns", "Publish", params, "publish %r for %s to SNS topic %s"
                     % (desired["subject"], where, topic))]

    def execute(self, ctx, step):
        if step.service == "smtp":
            p = step.params
            return ctx.sender.send(p["from"], p["to"], p["cc"], p["reply_to"], p["subject"],
                                   p["body"], {"X-TrailWatch-Action-Id": ctx.options.get("_action_id", "")})
        opts = NotifyOptions(ctx.options)
        if step.service == "sns":
            region, resource = opts.topic_region, "SNS topic %s" % step.params["TopicArn"]
        else:
            region = opts.ses_region or None
            resource = "SES identity %s" % step.params["FromEmailAddress"]
        try:
            client = ctx.client(step.service, region)
            return getattr(client, method_of(step.operation))(**step.params)
        except Exception as exc:
            raise describe_exception(exc, step.service, step.operation, None, resource)

    def read_back(self, ctx, target, before, wanted, responses):
        answer = responses[0] if responses else {}
        message_id = answer.get("message_id") or answer.get("MessageId")
        after = {"sent": bool(message_id), "recipient": wanted["recipient"],
                 "delivery": wanted["delivery"], "message_id": message_id or ""}
        if "accepted" in answer:
            after["accepted"] = answer["accepted"]
            after["refused"] = answer.get("refused") or {}
        return after

    def differences(self, actual, wanted):
        if not actual.get("sent"):
            return ["the delivery service returned no message id"]
        return []

    def no_change_reason(self, state, target):
        previous = state["previous"]
        return ("Already notified %s about this alert row (action %s, %s, status %s); not sent "
                "again." % (previous["recipient"] or "the topic", previous["action_id"],
                            previous["created"], previous["status"]))

    def record_fields(self, target, snapshot):
        return {"notification_key": snapshot.get("notification_key", ""),
                "recipient": snapshot.get("recipient") or ""}

    def extra_result(self, state, wanted, target):
        return {"recipient": wanted.get("recipient") or state.get("recipient") or "",
                "resolved_by": state.get("resolved_by") or "",
                "delivery": state.get("delivery") or "", "undo": UNDO_TEXT}

    def rollback_text(self, target, snapshot):
        return UNDO_TEXT
