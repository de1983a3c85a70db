"""The message of "Notify AWS user": what was seen, when, from where, and what was done
(plain text), and the key that makes two alert rows the same notification."""
import hashlib
import json
import re

from trailwatch.govern.users import parse_time

KEY_FIELDS = ("policy_id", "policy", "aws_account_id", "src_ip", "event_names", "first_seen",
              "last_seen")
STATUS_WORDS = {"done": "done", "failed": "attempted, failed", "executing": "in progress",
                "undone": "done, then undone"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean(value, limit=500):
    """One line of alert text: multivalue fields joined, control characters out, bounded."""
    if value is None:
        return ""
    text = ", ".join(p.strip() for p in str(value).splitlines() if p.strip())
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


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


def actions_done(store, meta, target, row, exclude=()):
    """Sentences for the TrailWatch actions the same alert run (sid) recorded on this
    principal or on the bucket the row names (not those of the actions named in `exclude`)."""
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
        if name in exclude:
            continue
        label = known[name].label if name in known else name
        steps = "; ".join(s.get("description", "") for s in record.get("plan") or [] if isinstance(s, dict))
        sentences.append("%s on %s: %s%s" % (
            label, record.get("target_label"), STATUS_WORDS.get(record.get("status"), record.get("status")),
            " (%s)" % steps if steps else ""))
    return sentences
