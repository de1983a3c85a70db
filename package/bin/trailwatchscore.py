#!/usr/bin/env python
"""trailwatchscore: score a count against the entity's baseline (robust z and Poisson tail).

Splunk runs this script (search command protocol v2); the logic is in
trailwatch.detect.countscore. See searchbnf.conf for usage.
"""
import sys

import import_declare_test  # noqa: F401  (puts the add-on's lib/ on sys.path)

from splunklib.searchcommands import Configuration, Option, StreamingCommand, dispatch

from trailwatch.detect import countscore, options


@Configuration(distributed=True)
class TrailwatchScoreCommand(StreamingCommand):
    """Streaming: each row carries its own count and baseline (from stats and lookup), so rows
    are scored independently. No required_fields: the rows keep every field for the alert."""

    count = Option(default="count", doc="Field with the count to score (default count).")
    median = Option(default="median", doc="Field with the baseline median (default median).")
    mad = Option(default="mad", doc="Field with the baseline median absolute deviation (default mad).")
    mean = Option(default="mean", doc="Field with the baseline mean, for the Poisson tail (default mean).")
    days = Option(default="days", doc="Field with the number of days of baseline data (default days).")
    floor = Option(default="1", doc="Absolute minimum count that may alert (default 1).")
    k = Option(default="3.5", doc="Robust z threshold (default 3.5).")
    p = Option(default="0.001", doc="Poisson tail probability threshold (default 0.001).")
    min_days = Option(default="7", doc="Days of baseline needed before alerting (default 7).")
    method = Option(default="either", doc="either, both, robust or poisson (default either).")
    label = Option(default="events", doc="What is counted, used in the reason (default events).")
    prefix = Option(default="score_", doc="Prefix of the output fields (default score_).")

    def prepare(self):
        name = "trailwatchscore"
        try:
            self.fields = [options.field(name, opt, getattr(self, opt))
                           for opt in ("count", "median", "mad", "mean", "days")]
            self.scorer = countscore.Scorer(
                floor=options.number(name, "floor", self.floor, minimum=0),
                k=options.number(name, "k", self.k, minimum=0),
                p_threshold=options.number(name, "p", self.p, minimum=0, maximum=1),
                min_days=options.number(name, "min_days", self.min_days, minimum=0, integer=True),
                method=options.choice(name, "method", self.method, countscore.METHODS),
                label=str(self.label))
            self.out = [options.field(name, "prefix", self.prefix) + x
                        for x in ("anomalous", "state", "robust_z", "poisson_p", "reason")]
        except options.OptionError as exc:
            self.write_error(str(exc))
            raise SystemExit(1)

    seen_count = False

    def stream(self, records):
        # Rows of one entity and hour repeat the same inputs (the search scores each event
        # after eventstats): the Scorer scores each distinct input once and hands back the
        # output values already as text.
        f_count, f_median, f_mad, f_mean, f_days = self.fields
        o_anomalous, o_state, o_z, o_p, o_reason = self.out
        row = self.scorer.row
        seen = self.seen_count
        for record in records:
            get = record.get
            count = get(f_count)
            if not seen and count is not None and count != "":
                seen = self.seen_count = True
            (record[o_anomalous], record[o_state], record[o_z], record[o_p],
             record[o_reason]) = row(count, get(f_median), get(f_mad), get(f_mean), get(f_days))
            yield record
        if self._finished and not self.seen_count:
            self.write_warning("trailwatchscore: no record has a value in the count field %r"
                               % self.fields[0])


if __name__ == "__main__":
    dispatch(TrailwatchScoreCommand, sys.argv, sys.stdin, sys.stdout, __name__)
