"""The four modular inputs as Splunk runs them: the adapter between splunklib's modular-input
protocol (input definition XML on stdin, event stream on stdout) and the collection code in
trailwatch.ingest.

The helper modules ucc-gen's entry scripts import (bin/trailwatch_input_*.py) call
``validate`` (``--validate-arguments``, when an admin saves an input) and ``run`` (each run).
A run:

1. opens the input's log, ``$SPLUNK_HOME/var/log/splunk/ta_trailwatch_<type>_<name>.log``, at
   the level of Configuration > Logging (read from splunkd with the definition's
   ``server_uri`` and ``session_key``, never with solnlib's host-less defaults);
2. reads the account and proxy through trailwatch.splunk.sessions.SessionProvider, checks the
   account's credentials with AWS (a clear message when they are wrong), then takes the AWS
   session from the same provider;
3. runs the input's collection with a RunContext: events to stdout
   (trailwatch.ingest.xml_stream), checkpoints in the KV store, solnlib's logging vocabulary
   (``modular_input_start``/``events_ingested``/``modular_input_end``, ``exc_l`` labels) for
   UCC's monitoring dashboard.

A configuration problem ends that input's run with one clear log line; an unexpected error
is logged with its traceback; neither ever writes a secret.

Python 3.9 to 3.13.
"""
import logging
import signal
import sys
import threading

from solnlib import log

from trailwatch.aws.session import AccountError
from trailwatch.aws.validation import AccountValidationError, validate_account
from trailwatch.ingest import cloudtrail_api, cloudtrail_sqs, iam_inventory, s3_posture
from trailwatch.ingest.input_settings import InputSettingsError
from trailwatch.ingest.run_context import RunContext
from trailwatch.ingest.xml_stream import EventStreamWriter
from trailwatch.splunk import config, logs
from trailwatch.splunk.input_checkpoints import CheckpointError, KvCheckpoints
from trailwatch.splunk.sessions import SessionProvider

INPUTS = {
    cloudtrail_api.INPUT_TYPE: cloudtrail_api,
    cloudtrail_sqs.INPUT_TYPE: cloudtrail_sqs,
    s3_posture.INPUT_TYPE: s3_posture,
    iam_inventory.INPUT_TYPE: iam_inventory,
}


class _Stop(object):
    """Sets the run's stop event on SIGTERM (Splunk stopping or disabling the input)."""

    def __init__(self):
        self.event = threading.Event()
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self.event

    def _handle(self, signum, frame):
        self.event.set()

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False


def _share_handlers(logger):
    """Records of the add-on's library modules (logging.getLogger("trailwatch...")) go to the
    input's log file too, at its level, instead of stderr."""
    package = logging.getLogger("trailwatch")
    package.setLevel(logger.level)
    package.propagate = False
    for handler in logger.handlers:
        if handler not in package.handlers:
            package.addHandler(handler)


def _short_name(stanza):
    return stanza.split("://", 1)[-1]


def validate(input_type, definition):
    """``--validate-arguments``: raise ValueError with the message the form shows."""
    module = INPUTS[input_type]
    params = definition.parameters
    try:
        settings = module.Settings.parse(params)
        metadata = definition.metadata
        provider = SessionProvider(metadata.get("session_key"), metadata.get("server_uri"))
        settings.check_account(provider.account(settings.account))
    except (InputSettingsError, config.ConfigError, AccountError) as exc:
        raise ValueError(str(exc)) from None


def run(input_type, inputs, out=None):
    """Run every stanza of the input definition (Splunk passes one per process)."""
    writer = EventStreamWriter(out if out is not None else sys.stdout.buffer)
    metadata = inputs.metadata
    with _Stop() as stop:
        try:
            for stanza, params in inputs.inputs.items():
                run_stanza(input_type, stanza, params, metadata, writer, stop)
        finally:
            writer.close()


def run_stanza(input_type, stanza, params, metadata, writer, stop):
    module = INPUTS[input_type]
    name = _short_name(stanza)
    server_uri = metadata.get("server_uri")
    session_key = metadata.get("session_key")
    logger = logs.get_logger("%s_%s" % (input_type, name))
    try:
        logs.set_level(logger, config.load_log_level(session_key, server_uri))
    except config.ConfigError as exc:
        logger.warning("Could not read the log level (%s); logging at INFO.", exc)
    _share_handlers(logger)
    log.modular_input_start(logger, name)
    logger.debug("Input %s: parameters %s.", stanza,
                 ", ".join("%s=%s" % item for item in sorted(params.items())
                           if not item[0].startswith("__")))
    try:
        _run(module, input_type, stanza, name, params, metadata, writer, stop, logger)
    except Exception as exc:  # noqa: BLE001 - logged with its traceback, the process ends well
        log.log_exception(logger, exc, "Input Error",
                          msg_before="Input %s failed unexpectedly: " % stanza)
    finally:
        log.modular_input_end(logger, name)


def _run(module, input_type, stanza, name, params, metadata, writer, stop, logger):
    server_uri = metadata.get("server_uri")
    session_key = metadata.get("session_key")
    index = (params.get("index") or "").strip() or None
    provider = SessionProvider(session_key, server_uri, session_name="trailwatch-%s" % name)
    try:
        settings = module.Settings.parse(params)
        account = provider.account(settings.account)
        settings.check_account(account)
        proxy = provider.proxy()
    except (InputSettingsError, config.ConfigError, AccountError) as exc:
        log.log_configuration_error(logger, exc, full_msg=False,
                                    msg_before="Input %s cannot run: " % stanza)
        return
    try:
        identity = validate_account(account, proxy)
    except AccountValidationError as exc:
        log.log_authentication_error(
            logger, exc, full_msg=False,
            msg_before="Input %s cannot use AWS account '%s': " % (stanza, account.name))
        return
    try:
        checkpoints = KvCheckpoints(session_key, server_uri, input_type, name)
    except (CheckpointError, config.ConfigError) as exc:
        log.log_server_error(logger, exc, full_msg=False,
                             msg_before="Input %s cannot run: " % stanza)
        return
    session = provider.get(account.name)
    logger.info("Input %s collects with %s, AWS account id %s.", stanza, session.describe(),
                identity.account_id)

    def ingested(sourcetype, count, source):
        log.events_ingested(logger, stanza, sourcetype, count, index or "default",
                            account=account.name, license_usage_source=source)

    ctx = RunContext(input_type, name, session, account.name, identity.account_id, writer,
                     checkpoints, logger, index=index, ingested=ingested, stop=stop)
    module.run(ctx, settings)
