"""Test double of `splunk.admin`: the parts splunktaucclib's AdminExternalHandler uses."""

ACTION_CREATE = 1
ACTION_LIST = 2
ACTION_EDIT = 4
ACTION_REMOVE = 8
ACTION_MEMBERS = 16
ACTION_RELOAD = 32

CONTEXT_NONE = 0
CONTEXT_APP_ONLY = 1
CONTEXT_APP_AND_USER = 2

EAI_ENTRY_ACL = "eai:acl"


class ArgsList(object):
    def __init__(self):
        self.requiredArgs = []
        self.optionalArgs = []

    def addReqArg(self, name):
        self.requiredArgs.append(name)

    def addOptArg(self, name):
        self.optionalArgs.append(name)


class CallerArgs(object):
    def __init__(self, id=None, data=None):
        self.id = id
        # Splunk hands every argument over as a list of strings.
        self.data = {k: (v if isinstance(v, list) else [v]) for k, v in (data or {}).items()}


class ConfItem(dict):
    def __init__(self):
        super(ConfItem, self).__init__()
        self.metadata = {}

    def setMetadata(self, key, value):
        self.metadata[key] = value


class ConfInfo(dict):
    def __getitem__(self, name):
        if name not in self:
            dict.__setitem__(self, name, ConfItem())
        return dict.__getitem__(self, name)


class MConfigHandler(object):
    """Constructed by tests as splunkd would: action, caller arguments, session key."""

    def __init__(self, requestedAction, callerArgs, sessionKey, appName="TA-trailwatch",
                 userName="admin"):
        self.requestedAction = requestedAction
        self.callerArgs = callerArgs
        self.supportedArgs = ArgsList()
        self.appName = appName
        self.userName = userName
        self._sessionKey = sessionKey
        self.setup()

    def setup(self):
        pass

    def getSessionKey(self):
        return self._sessionKey


def init(handler_class, ctxInfo=CONTEXT_APP_ONLY):
    raise NotImplementedError(
        "splunk.admin.init is splunkd's dispatcher; tests construct the handler directly"
    )
