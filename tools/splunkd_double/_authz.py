"""Users, roles, capabilities and object permissions, as splunkd enforces them on the endpoints
the add-on calls. What is modelled, and the Splunk documentation it follows:

- Roles come from ``authorize.conf`` ``[role_<name>]`` stanzas: ``<capability> = enabled``
  and ``importRoles`` (a role has the capabilities of the roles it imports, transitively;
  authorize.conf.spec). The built-in roles below carry, of Splunk's default authorize.conf,
  the capabilities these endpoints check; an app's ``[role_admin]`` adds to admin's.
- ``GET authentication/current-context`` answers the user's ``username``, ``roles`` and
  ``capabilities`` (REST API Reference, Access endpoints).
- ``storage/passwords``: reading needs ``list_storage_passwords`` and read access to the
  credential, creating or changing one needs ``edit_storage_passwords`` and write access;
  ``admin_all_objects`` needs neither ("Manage credentials used by apps and data inputs",
  Splunk Cloud Platform Admin Manual: the capability table, "Must have Read/Write access").
  Denied: 403.
- ``storage/collections/data/<collection>``: read (GET) and write (POST, DELETE) access to
  the collection's ``[collections/<name>]`` metadata stanza, as Splunk's own
  etc/system/metadata/default.meta restricts its collections (``[collections/
  JsonWebTokensV1] access = read : [ admin ], write : [ admin ]``). Denied: 403.
- ``POST receivers/simple`` needs ``edit_tcp``. The REST reference says only that input
  endpoints need "role and/or capability-based authorization"; client libraries name
  ``edit_tcp``, and where the documentation leaves doubt the double is the stricter one.

Object permissions come from an app's ``metadata/default.meta``: the object's own stanza
(``[collections/x]``), else its type's (``[collections]``), else the app's (``[]``); a
stanza without ``access`` falls through to the next. Only the roles a user holds directly
count for object permissions (stricter than honouring imported roles, which the
documentation does not settle), and ``admin_all_objects`` passes every object check.
"""
from __future__ import annotations

import re

# Of Splunk's etc/system/default/authorize.conf: the capabilities these endpoints check.
BUILTIN_ROLES = {
    "user": {"import": [], "capabilities": {"search", "rest_properties_get", "get_metadata",
                                              "change_own_password", "list_inputs"}},
    "power": {"import": ["user"], "capabilities": {"rtsearch", "schedule_search",
                                                   "edit_sourcetypes"}},
    "admin": {"import": ["power", "user"],
              "capabilities": {"admin_all_objects", "list_storage_passwords",
                               "edit_storage_passwords", "edit_tcp", "change_authentication",
                               "edit_user", "edit_roles", "list_settings", "edit_token_http"}},
    "splunk-system-role": {"import": ["admin"], "capabilities": set()},
    "can_delete": {"import": [], "capabilities": {"delete_by_keyword"}},
}
DEFAULT_ACCESS = {"read": ["*"], "write": ["admin"]}  # etc/system/metadata/default.meta []
_ACCESS = re.compile(r"(read|write)\s*:\s*\[([^\]]*)\]")


def parse_access(text):
    """``read : [ a, b ], write : [ c ]`` -> {"read": [...], "write": [...]}."""
    found = {}
    for kind, names in _ACCESS.findall(text or ""):
        found[kind] = [n.strip() for n in names.split(",") if n.strip()]
    return found


class Authz:
    """Roles of users, capabilities of roles, access to objects."""

    def __init__(self):
        self.user_roles = {}  # user -> [role]
        self.meta = {}  # app -> {stanza: {"read": [...], "write": [...]}}

    def roles_of(self, user):
        return list(self.user_roles.get(user, []))

    def role_definitions(self, authorize_confs):
        """{role: {"import": [...], "capabilities": set}}: built-ins plus every app's
        authorize.conf (``authorize_confs``: list of {stanza: fields})."""
        roles = {name: {"import": list(r["import"]), "capabilities": set(r["capabilities"])}
                 for name, r in BUILTIN_ROLES.items()}
        for stanzas in authorize_confs:
            for stanza, fields in stanzas.items():
                if not stanza.startswith("role_"):
                    continue
                role = roles.setdefault(stanza[len("role_"):], {"import": [], "capabilities": set()})
                for key, value in fields.items():
                    if key == "importRoles":
                        role["import"].extend(r.strip() for r in value.split(";") if r.strip())
                    elif value.strip().lower() == "enabled":
                        role["capabilities"].add(key)
                    elif value.strip().lower() == "disabled":
                        role["capabilities"].discard(key)
        return roles

    def capabilities_of(self, user, authorize_confs):
        roles = self.role_definitions(authorize_confs)
        found, seen, todo = set(), set(), self.roles_of(user)
        while todo:
            name = todo.pop()
            if name in seen or name not in roles:
                continue
            seen.add(name)
            found |= roles[name]["capabilities"]
            todo.extend(roles[name]["import"])
        return found

    def access(self, app, stanza):
        """{"read": [...], "write": [...]} of object ``stanza`` (such as
        ``collections/trailwatch_governance_actions``) in ``app``."""
        stanzas = self.meta.get(app, {})
        candidates = [stanza, stanza.split("/", 1)[0], ""]
        result = {}
        for name in candidates:
            for kind, roles in stanzas.get(name, {}).items():
                result.setdefault(kind, roles)
        for kind, roles in DEFAULT_ACCESS.items():
            result.setdefault(kind, roles)
        return result

    def may(self, user, capabilities, app, stanza, kind):
        if "admin_all_objects" in capabilities:
            return True
        allowed = self.access(app, stanza).get(kind, [])
        return "*" in allowed or any(role in allowed for role in self.roles_of(user))
