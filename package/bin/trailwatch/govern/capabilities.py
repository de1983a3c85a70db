"""Who may act: the Splunk capabilities the governance actions and undo require of the user
who triggered them (docs/roles.md has the matrix).

- A governance alert action run for real needs `trailwatch_govern`; its dry run needs none
  (it reads AWS and reports the plan, it changes nothing).
- `| trailwatchundo` needs `trailwatch_undo`, also for its dry run (the result shows the
  recorded snapshot).

The user is the one whose session key splunkd handed to the script: the person who ran
`| sendalert` or the search, or the owner of a scheduled alert. Their roles and capabilities
come from splunkd's `authentication/current-context` endpoint, read with that session key
(Splunk REST API Reference, Access endpoints: "GET authentication/current-context ... the
current user's context", whose content lists `username`, `roles` and `capabilities`, the
latter already including the capabilities of imported roles).

A refusal is a governance outcome like any other: the row ends `failure` with error code
`MissingCapability` and a sentence naming the capability and the role that has it, and an
audit event is written when the user may write one.
"""
import json
import uuid

from splunklib import binding

import trailwatch
from trailwatch.govern import audit
from trailwatch.govern.core import FAILURE, GovernError
from trailwatch.govern.engine import Result
from trailwatch.splunk.config import parse_server_uri

GOVERN = "trailwatch_govern"
UNDO = "trailwatch_undo"
CONTEXT_PATH = "authentication/current-context"
ERROR_CODE = "MissingCapability"
# The shipped role that has each capability (package/default/authorize.conf).
_ROLE_FOR = {GOVERN: "trailwatch_responder", UNDO: "trailwatch_responder"}
_WHAT = {GOVERN: "run TrailWatch governance actions for real (dry runs need no capability)",
         UNDO: "undo TrailWatch governance actions"}


class UserContext(object):
    """The user behind a session key: name, roles and capabilities."""

    def __init__(self, username, roles, capabilities):
        self.username = username or ""
        self.roles = list(roles or [])
        self.capabilities = frozenset(capabilities or [])

    def has(self, capability):
        return capability in self.capabilities

    @classmethod
    def from_content(cls, content):
        return cls(content.get("username"), _as_list(content.get("roles")),
                   _as_list(content.get("capabilities")))


def _as_list(value):
    if isinstance(value, str):
        return [value] if value else []
    return list(value or [])


def current_user(session_key, server_uri):
    """The UserContext of `session_key` (GovernError when splunkd does not say)."""
    scheme, host, port = parse_server_uri(server_uri)
    context = binding.Context(token=session_key, scheme=scheme, host=host, port=port,
                              owner="nobody", app=trailwatch.APP_NAME)
    try:
        response = context.get(CONTEXT_PATH, output_mode="json")
        entries = json.loads(response.body.read().decode("utf-8")).get("entry") or []
    except binding.HTTPError as exc:
        raise GovernError("Cannot read who triggered this action: splunkd answered HTTP %s "
                          "to %s." % (exc.status, CONTEXT_PATH), ERROR_CODE)
    except (OSError, ValueError) as exc:
        raise GovernError("Cannot read who triggered this action from splunkd (%s: %s)."
                          % (type(exc).__name__, exc), ERROR_CODE)
    if not entries:
        raise GovernError("splunkd's %s named no user." % CONTEXT_PATH, ERROR_CODE)
    return UserContext.from_content(entries[0].get("content") or {})


def refusal(user, capability):
    """None when `user` has `capability`, else the sentence that says what is missing."""
    if user.has(capability):
        return None
    return ("Splunk user %s (roles: %s) lacks the %s capability needed to %s; an admin grants "
            "it with the %s role (Settings > Users)." % (
                user.username or "unknown", ", ".join(user.roles) or "none", capability,
                _WHAT[capability], _ROLE_FOR[capability]))


def check(session_key, server_uri, capability):
    """None when the user behind `session_key` has `capability`, else the refusal sentence
    (also when splunkd cannot say who the user is: no capability is assumed)."""
    try:
        user = current_user(session_key, server_uri)
    except GovernError as exc:
        return "%s Without knowing the user's capabilities nothing is done." % exc
    return refusal(user, capability)


def refuse(action, row, env, reason, dry_run=False, extra=None):
    """The Result of a row refused for a missing capability, its audit event handed to the
    environment's sink (as every outcome's is)."""
    result = Result(action, uuid.uuid4().hex, dry_run)
    result.extra.update(extra or {})
    result.finish(FAILURE, reason, ERROR_CODE)
    audit.emit(env, result, row)
    return result
