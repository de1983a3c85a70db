"""How "Notify AWS user" delivers its message: `splunk` (default; Splunk's own mail settings,
see trailwatch.govern.mail: no AWS permission), `ses` (SESv2 SendEmail: ses:SendEmail) or
`sns` (Publish to a topic: sns:Publish; the address goes in the message attribute
`recipient`, for subscription filter policies). One planned call per message; its answer
(a message id) is what shows the delivery service took it."""
import re

from trailwatch.govern.core import Step, describe_exception
from trailwatch.govern.permissions import method_of

DELIVERIES = ("splunk", "ses", "sns")
SNS_TOPIC = re.compile(r"^arn:[\w-]+:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}(\.fifo)?$")


def send_step(state, desired):
    """The one Step that delivers the message `desired` describes."""
    delivery = desired["delivery"]
    to, cc = ([desired["recipient"]] if desired["recipient"] else []), desired["cc"]
    where = ("%s (found by %s)" % (desired["recipient"], state["resolved_by"])
             if desired["recipient"] else "the topic's subscribers")
    if delivery == "splunk":
        params = {"mailserver": state["mail"]["mailserver"], "from": desired["sender"],
                  "to": to, "cc": cc, "reply_to": desired["reply_to"],
                  "subject": desired["subject"], "body": desired["body"]}
        return Step("smtp", "SendMail", params, "send e-mail %r to %s through Splunk's mail "
                    "server %s" % (desired["subject"], where, state["mail"]["mailserver"]))
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
        return Step("sesv2", "SendEmail", params, "send e-mail %r to %s with Amazon SES as %s"
                    % (desired["subject"], where, desired["sender"]))
    attributes = {name: {"DataType": "String", "StringValue": value}
                  for name, value in sorted(desired["attributes"].items()) if value}
    topic = desired["topic_arn"]
    params = {"TopicArn": topic, "Subject": sns_subject(desired["subject"]),
              "Message": desired["body"], "MessageAttributes": attributes}
    return Step("sns", "Publish", params, "publish %r for %s to SNS topic %s"
                % (desired["subject"], where, topic))


def send(ctx, step, opts):
    """Make the Step: Splunk's mail transport, or the guarded SES / SNS client."""
    if step.service == "smtp":
        p = step.params
        return ctx.sender.send(p["from"], p["to"], p["cc"], p["reply_to"], p["subject"],
                               p["body"], {"X-TrailWatch-Action-Id": ctx.request.action_id})
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


def delivered(wanted, responses):
    """The state after the send, from the delivery service's answer."""
    answer = responses[0] if responses else {}
    message_id = answer.get("message_id") or answer.get("MessageId")
    after = {"sent": bool(message_id), "recipient": wanted["recipient"],
             "delivery": wanted["delivery"], "message_id": message_id or ""}
    if "accepted" in answer:
        after["accepted"] = answer["accepted"]
        after["refused"] = answer.get("refused") or {}
    return after


def sns_subject(subject):
    """SNS subjects: ASCII, no line breaks, under 100 characters."""
    text = subject.encode("ascii", "replace").decode("ascii")
    return text if len(text) < 100 else text[:96] + "..."
