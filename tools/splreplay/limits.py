"""The limits.conf settings splreplay applies, with Splunk's defaults.

Each setting is one Splunk documents in limits.conf.spec (Admin Manual, "limits.conf"); the
default is the one the spec gives. ``--limits FILE`` reads a limits.conf-shaped file whose
settings override these, as an admin's ``local/limits.conf`` does. A stanza or setting
splreplay does not apply is refused by name, so an override can never be silently ignored.
"""
from .conf import Conf
from .errors import ConfigError

# (stanza, setting) -> (default, what it bounds). Integers only.
DEFAULTS = {
    # [kv] maxchars: "Truncate _raw to this size and then do auto KV." Default 10240.
    ("kv", "maxchars"): (10240, "characters of _raw that automatic JSON extraction reads"),
    # [spath] extraction_cutoff: "For 'extract-all' spath extraction mode, only apply
    # extraction to the first <integer> number of bytes." Default 5000.
    ("spath", "extraction_cutoff"): (5000, "bytes that extract-all JSON extraction reads"),
    # [stats] max_stream_window: "For the streamstats command, the maximum allow window
    # size." Default 10000; the streamstats manual page: without window= or time_window=
    # this 10,000-event window applies.
    ("stats", "max_stream_window"): (10000, "events in a streamstats window"),
    # [eventstats] maxresultrows: the number of results eventstats keeps statistics for;
    # results past it get no fields. Default 50000.
    ("eventstats", "maxresultrows"): (50000, "results eventstats adds fields to"),
}


class Limits:
    def __init__(self, overrides=None):
        self.values = {k: v[0] for k, v in DEFAULTS.items()}
        if overrides:
            self.values.update(overrides)

    def get(self, stanza, name):
        return self.values[(stanza, name)]

    @property
    def json_cutoff(self):
        """Bytes of _raw automatic JSON extraction reads.

        The spec documents both limits for search-time extraction and does not say which one
        KV_MODE=json stops at first; splreplay applies the stricter (the smaller)."""
        return min(self.get("kv", "maxchars"), self.get("spath", "extraction_cutoff"))

    @classmethod
    def from_file(cls, path):
        conf = Conf("limits")
        try:
            conf.merge_file(path)
        except OSError as exc:
            raise ConfigError("--limits %s: %s" % (path, exc.strerror or exc)) from None
        overrides = {}
        for stanza in conf.stanzas:
            for key, value in conf.own(stanza).items():
                if (stanza, key) not in DEFAULTS:
                    known = ", ".join("[%s] %s" % k for k in sorted(DEFAULTS))
                    raise ConfigError("--limits %s: [%s] %s is not a setting splreplay applies "
                                      "(it applies: %s)" % (path, stanza, key, known))
                try:
                    number = int(value)
                except ValueError:
                    raise ConfigError("--limits %s: [%s] %s = %r is not an integer"
                                      % (path, stanza, key, value)) from None
                if number < 1:
                    raise ConfigError("--limits %s: [%s] %s must be 1 or more, got %d"
                                      % (path, stanza, key, number))
                overrides[(stanza, key)] = number
        return cls(overrides)
