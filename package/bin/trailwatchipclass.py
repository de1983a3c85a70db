#!/usr/bin/env python
"""trailwatchipclass: label an IP field with its category, list and provider from CIDR lookups.

Splunk runs this script (search command protocol v2); the logic is in
trailwatch.detect.ipranges. See searchbnf.conf for usage. The admin's ranges come from the
KV store collection trailwatch_ip_ranges (splunkd's REST API, with the search's session),
the feeds from lookups/trailwatch_ip_feed_*.csv.
"""
import gc
import os
import sys

import import_declare_test  # noqa: F401  (puts the add-on's lib/ on sys.path)

from splunklib.searchcommands import Configuration, Option, StreamingCommand, dispatch

from trailwatch.detect import ipranges, options
from trailwatch.splunk import kv_lookups

LOOKUPS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lookups")


@Configuration(distributed=False)
class TrailwatchIpClassCommand(StreamingCommand):
    """Streaming, on the search head: each record is labelled on its own, and the admin's
    ranges are in the search head's KV store (the searches deduplicate events before this
    command, so it runs on the search head anyway). No required_fields: it enriches records
    and must pass every field on to the commands after it."""

    field = Option(default="src_ip", doc="Field holding the IP address (default src_ip).")
    prefix = Option(default="ip_", doc="Prefix of the output fields (default ip_).")

    seen_field = False

    def prepare(self):
        try:
            self.field = options.field("trailwatchipclass", "field", self.field)
            self.prefix = options.field("trailwatchipclass", "prefix", self.prefix)
        except options.OptionError as exc:
            self.write_error(str(exc))
            raise SystemExit(1)
        info = self._metadata.searchinfo
        admin_rows = []
        try:
            admin_rows = kv_lookups.read_collection(info.session_key, info.splunkd_uri,
                                                    kv_lookups.IP_RANGES)
        except kv_lookups.KvLookupError as exc:
            self.write_warning("trailwatchipclass: the admin's IP ranges were not applied: %s"
                               % exc)
        self.classifier, files = ipranges.load_classifier(LOOKUPS_DIR, admin_rows)
        # The ranges live as long as the process: keep the cyclic garbage collector from
        # walking hundreds of thousands of them again and again while records stream by.
        gc.collect()
        gc.freeze()
        if not files and not admin_rows:
            self.write_warning("trailwatchipclass: no IP ranges: the KV store lookup %s is empty "
                               "and no %s is in %s"
                               % (ipranges.ADMIN_LOOKUP, ipranges.FEED_LOOKUP_GLOB, LOOKUPS_DIR))
        for problem in self.classifier.file_errors:
            self.write_warning("trailwatchipclass: skipped a lookup: %s" % problem)
        for problem in self.classifier.errors[:3]:
            self.write_warning("trailwatchipclass: skipped a range: %s" % problem)
        if len(self.classifier.errors) > 3:
            self.write_warning("trailwatchipclass: %d more ranges skipped"
                               % (len(self.classifier.errors) - 3))

    def stream(self, records):
        field = self.field
        names = (self.prefix + "category", self.prefix + "list", self.prefix + "provider")
        out_category, out_list, out_provider = names
        classify = self.classifier.classify
        first = True
        for record in records:
            value = record.get(field)
            label = None
            if value:
                self.seen_field = True
                if value.__class__ is list:
                    for item in value:
                        label = classify(item)
                        if label:
                            break
                else:
                    label = classify(value)
            if first:
                # Declares the output fields for this chunk's header (splunklib otherwise
                # takes the header from the first record), so unlabelled records need no
                # empty values.
                first = False
                for name, text in zip(names, label or (None, None, None)):
                    self.add_field(record, name, text)
            elif label:
                record[out_category], record[out_list], record[out_provider] = label
            yield record
        if not self.seen_field and self._finished:
            self.write_warning("trailwatchipclass: no record has a value in field %r" % field)


if __name__ == "__main__":
    dispatch(TrailwatchIpClassCommand, sys.argv, sys.stdin, sys.stdout, __name__)
