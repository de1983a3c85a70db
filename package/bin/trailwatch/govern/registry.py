"""The governance actions by alert-action name."""
from trailwatch.govern.buckets import MakeBucketPrivate, RemoveBucketCollaborator
from trailwatch.govern.notify import NotifyUser
from trailwatch.govern.users import RevokeSessions, SuspendUser

_ACTIONS = {}


def register(action):
    _ACTIONS[action.name] = action
    return action


def get(name):
    try:
        return _ACTIONS[name]
    except KeyError:
        raise KeyError("%r is not a TrailWatch governance action (known: %s)"
                       % (name, ", ".join(sorted(_ACTIONS))))


def all_actions():
    return dict(_ACTIONS)


for _action in (MakeBucketPrivate(), RemoveBucketCollaborator(), SuspendUser(), RevokeSessions(),
                NotifyUser()):
    register(_action)
