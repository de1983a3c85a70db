"""Alert action "Notify AWS user": tell the person behind an AWS identity what TrailWatch saw,
when, from where, and what was done about it.

Same life cycle as every action (trailwatch.govern.engine): resolve the principal from the alert row ->
refuse protected principals -> read the state (the principal's tags, the address they
resolve to, whether this alert row was already notified, what TrailWatch already did for it)
-> plan the one send -> dry run reports it, otherwise send -> verify that the delivery service
took it (its message id) -> audit event.

Where the message goes: addresses.py (principal tags, then names the caller could not
choose, then <name>@email_domain, then the fallback mailbox); what it says: message.py; how
it is sent: delivery.py (Splunk's mail settings, Amazon SES or an SNS topic).

Idempotent: the notification key (a hash of what identifies the alert row: policy, principal,
account, source IP, API calls, first and last seen) is kept on the action's KV record; a row
already notified (record `done`, or `executing`: the message may have gone out) is not sent
again. Not reversible: a message cannot be recalled, so undo refuses it.

Notify changes nothing in AWS, so of the guardrails only the admin's own choices apply: the
protected-principals lookup and the exempt tag. Root, service and Identity Center roles,
principals of other accounts and the add-on's own identity are people (or teams) to tell.
"""
from trailwatch.govern.notify.action import NAME, NotifyOptions, NotifyUser  # noqa: F401
