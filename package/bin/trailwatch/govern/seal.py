"""Integrity seal of the governance action records.

Undo writes back what a record says (a snapshot of policies, ACLs, keys), so a record someone
edited in the KV store could make undo write anything anywhere. Every record is therefore
sealed when it is saved: an HMAC-SHA256 over all its fields (as stored, in a canonical
order), keyed with a random secret that only the add-on's code reads: it is kept encrypted in
Splunk's credential store (storage/passwords, realm `trailwatch_governance`, name
`record_seal_key`), created on first use. A record whose seal is missing or wrong is refused
by undo. Editing the KV collection is not enough to forge one: that also needs the secret,
which only users allowed to read the app's stored credentials (list_storage_passwords) can read.
"""
import hashlib
import hmac
import json
import secrets

from splunklib import binding

from trailwatch import redact
from trailwatch.govern.core import GovernError

SEAL_FIELD = "seal"
KEY_REALM = "trailwatch_governance"
KEY_NAME = "record_seal_key"
_PREFIX = "hmac-sha256:"


class RecordSeal(object):
    """Seals and checks records (dicts of the stored fields) with the key `key_source()`
    returns (bytes), read once."""

    def __init__(self, key_source):
        self._key_source = key_source
        self._key = None

    def _digest(self, doc):
        if self._key is None:
            self._key = self._key_source()
        fields = {k: v for k, v in doc.items()
                  if k != SEAL_FIELD and (k == "_key" or not k.startswith("_"))}
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return _PREFIX + hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def sealed(self, doc):
        """A copy of `doc` with its seal."""
        doc = dict(doc)
        doc[SEAL_FIELD] = self._digest(doc)
        return doc

    def check(self, doc):
        """GovernError (RecordTampered) unless `doc` carries its valid seal."""
        if hmac.compare_digest(str(doc.get(SEAL_FIELD) or ""), self._digest(doc)):
            return
        why = "has no integrity seal" if not doc.get(SEAL_FIELD) else "does not match its integrity seal"
        raise GovernError(
            "Governance record %s %s: it was changed outside TrailWatch (or written by a "
            "version without seals), so it is not trusted and nothing was changed in AWS. "
            "Compare it with the action's audit event (sourcetype trailwatch:action) and "
            "restore by hand if needed." % (doc.get("_key"), why), "RecordTampered")

    def is_valid(self, doc):
        try:
            self.check(doc)
        except GovernError:
            return False
        return True


class CredentialStoreKey(object):
    """The seal key from splunkd's credential store (created on first use); callable."""

    def __init__(self, context):
        self._ctx = context

    def _path(self):
        # splunklib URL-encodes the path itself; the entity is named realm:name: (no
        # character of ours needs escaping).
        return "storage/passwords/%s:%s:" % (KEY_REALM, KEY_NAME)

    def _read(self):
        try:
            response = self._ctx.get(self._path(), output_mode="json")
        except binding.HTTPError as exc:
            if exc.status == 404:
                return None
            raise _key_error(exc)
        entries = json.loads(response.body.read().decode("utf-8")).get("entry") or []
        value = entries[0]["content"].get("clear_password") if entries else None
        return value or None

    def __call__(self):
        value = self._read()
        if value is None:
            try:
                self._ctx.post("storage/passwords", name=KEY_NAME, realm=KEY_REALM,
                               password=secrets.token_hex(32))
            except binding.HTTPError as exc:
                if exc.status != 409:  # 409: another run created it first; read theirs
                    raise _key_error(exc)
            value = self._read()
        if not value:
            raise GovernError("The governance record seal key is missing from Splunk's "
                              "credential store after it was created.", "SealKey")
        redact.register(value)
        return value.encode("utf-8")


def _key_error(exc):
    return GovernError(
        "Cannot read or create the governance record seal key in Splunk's credential store "
        "(storage/passwords, HTTP %s): the user running the action needs the "
        "list_storage_passwords capability (and, the first time, the right to store "
        "credentials in the app, as saving an account does); nothing was changed in AWS." % exc.status, "SealKey")
