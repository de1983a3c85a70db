"""The "Notify AWS user" action class and its checked options (see the package docstring)."""
from trailwatch.govern.core import Action, GovernError, Protected, Target
from trailwatch.govern.mail import not_allowed, sender_address
from trailwatch.govern.notify.addresses import address_list, find_address, is_domain, is_email
from trailwatch.govern.notify.delivery import (DELIVERIES, SNS_TOPIC, delivered, send,
                                               send_step)
from trailwatch.govern.notify.message import actions_done, clean, compose, notification_key
from trailwatch.govern.protection import (EXEMPT_TAG, EXEMPT_VALUE, PRINCIPALS_LOOKUP,
                                          parse_arn, principal_names)
from trailwatch.govern.users import read_principal, resolve_principal

NAME = "trailwatch_notify_user"
DEFAULT_ADDRESS_TAGS = ("email", "e-mail", "mail", "emailaddress", "email_address",
                        "owner_email", "owner", "contact")
# KV record states meaning the message went out (done) or may have (executing: the process
# stopped between saving the record and recording the answer).
SENT_STATES = ("done", "executing")
NOT_REVERSIBLE = "a notification that was sent cannot be recalled."
UNDO_TEXT = ("Not applicable: a notification cannot be recalled once sent "
             "(| trailwatchundo refuses it).")


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
        if self.email_domain and not is_domain(self.email_domain):
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
            match = SNS_TOPIC.match(self.topic_arn)
            if not match:
                raise GovernError("SNS delivery needs the sns_topic_arn option: the ARN of the "
                                  "topic to publish to (%r is not one)." % self.topic_arn,
                                  "ActionConfiguration")
            self.topic_region = match.group(1)


class NotifyUser(Action):
    name = NAME
    label = "Notify AWS user"
    reversible = False
    not_reversible_reason = NOT_REVERSIBLE
    permissions = ("sts:GetCallerIdentity", "iam:GetUser", "iam:GetRole", "iam:ListUserTags",
                   "iam:ListRoleTags", "ses:SendEmail", "sns:Publish")
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
        """The admin's own choices only: the protected-principals lookup (matched against
        the principal's ARN as IAM reports it) and the exempt tag. The tags read here are
        kept on the target for the address (read_state)."""
        if target.kind == "user" and not target.arn and target.name != "root" and target.account_id:
            target.arn = "arn:%s:iam::%s:user/%s" % (target.partition, target.account_id, target.name)
        self._check_lookup(target, protections)
        tags, note = self._tags(ctx, target)
        self._check_lookup(target, protections)  # again, with the ARN IAM reported
        for key, value in tags.items():
            if key.lower() == EXEMPT_TAG and str(value).strip().lower() == EXEMPT_VALUE:
                raise Protected("%s carries the tag %s=%s." % (target.label, EXEMPT_TAG, EXEMPT_VALUE))
        target.extra["tags"] = tags
        target.extra["tags_note"] = note

    @staticmethod
    def _check_lookup(target, protections):
        entry = protections.principal_entry(principal_names(target), target.account_id)
        if entry is not None:
            raise Protected("%s is protected by %s (%s)." % (
                target.label, entry.get("lookup") or PRINCIPALS_LOOKUP, entry.get("reason") or "no reason given"))

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
        if target.kind == "role":
            target.extra.setdefault("role_name", target.name)
        tags, path = read_principal(ctx, target)
        if path is not None:
            target.extra["role_path"] = path
        return tags, None

    def read_state(self, ctx, target):
        opts = NotifyOptions(ctx.options)
        row = ctx.request.row
        address, source, trail = find_address(target, target.extra.get("tags") or {}, opts,
                                              target.extra.get("tags_note"))
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
            state["done_for_alert"] = actions_done(ctx.store, ctx.meta, target, row, (NAME,))
            if opts.delivery == "splunk":
                if ctx.sender is None:
                    raise GovernError("No Splunk mail transport in this context; use the ses or "
                                      "sns delivery.", "ActionConfiguration")
                state["mail"] = ctx.sender.settings().to_dict()
        return state

    def desired(self, state, target, request):
        if state["previous"] is not None:
            return {"sent": True, "recipient": state["previous"]["recipient"], "notes": []}
        opts = NotifyOptions(request.options)
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
        row = request.row
        subject, body = compose(row, target, state["done_for_alert"], opts, request.now,
                                {"search_name": state.get("search_name")}, request.action_id)
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
        return [send_step(state, desired)]

    def execute(self, ctx, step):
        return send(ctx, step, NotifyOptions(ctx.options))

    def read_back(self, ctx, target, before, wanted, responses):
        return delivered(wanted, responses)

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
