"""A loopback splunkd for tests: the REST endpoints the add-on's scripts call at run time,
answered in splunkd's documented shapes so the real splunklib and solnlib work unchanged.

    from splunkd_double import SplunkdDouble

    with SplunkdDouble() as splunkd:            # http://127.0.0.1:<free port>
        splunkd.add_ucc_stanza("ta_trailwatch_account", "prod", {...})
        run_something(splunkd.uri, splunkd.session_key)
        assert splunkd.unimplemented == []

or, in a conftest: ``from splunkd_double.fixtures import splunkd, splunkd_https``.
See server.py for the endpoints served and the test API.
"""
from .server import (
    APP,
    CRED_END_MARK,
    CRED_SEP,
    ENCRYPTED_TOKEN,
    UCC_ENCRYPTED_FIELDS,
    RecordedRequest,
    SplunkdDouble,
    password_entity_name,
    ucc_realm,
)

__all__ = [
    "APP",
    "CRED_END_MARK",
    "CRED_SEP",
    "ENCRYPTED_TOKEN",
    "UCC_ENCRYPTED_FIELDS",
    "RecordedRequest",
    "SplunkdDouble",
    "password_entity_name",
    "ucc_realm",
]
