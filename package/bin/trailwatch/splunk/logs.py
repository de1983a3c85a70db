"""Loggers for every TrailWatch entry point: one file per component under
$SPLUNK_HOME/var/log/splunk/ta-trailwatch_<component>.log, the level chosen on the Logging
tab, secrets scrubbed. The file names start with the app id in lower case because UCC's
monitoring dashboard reads `index=_internal source=*ta-trailwatch*`."""
import logging
import os

from solnlib import log

from trailwatch.redact import RedactingFilter

NAMESPACE = "ta-trailwatch"
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
           "WARN": logging.WARNING, "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}



def log_directory():
    """$SPLUNK_HOME/var/log/splunk (splunkd sets SPLUNK_HOME for every script it runs)."""
    home = os.environ.get("SPLUNK_HOME")
    return os.path.join(home, "var", "log", "splunk") if home else None


def get_logger(component, level="INFO"):
    """The logger of one component (an input, action or command), ready to use."""
    context = {"namespace": NAMESPACE}
    if log_directory():
        context["directory"] = log_directory()
    log.Logs.set_context(**context)
    logger = log.Logs().get_logger(component)
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    set_level(logger, level)
    return logger


def set_level(logger, level):
    """Apply a Logging-tab level name; unknown names fall back to INFO (and say so)."""
    name = str(level or "INFO").strip().upper()
    if name not in _LEVELS:
        logger.warning("Unknown log level %r in the add-on settings; using INFO.", level)
        name = "INFO"
    logger.setLevel(_LEVELS[name])
    return _LEVELS[name]
