"""Command line: ``python -m splreplay --app DIR --events PATH [--search NAME]... [--all]
[--spl QUERY] [--now ISO8601] [--state DIR] [--geoip MMDB] [--limits FILE] [--format jsonl|table]``.

stdout carries only result rows (one JSON object per line with ``search_name``); every
diagnostic goes to stderr. Exit codes: 0 the searches ran (whatever the number of rows);
2 bad usage, events file or configuration; 3 SPL that is malformed or not implemented;
4 a search failed while running.
"""
import argparse
import os
import sys

from .errors import ReplayError
from .limits import Limits
from .output import write_jsonl, write_table
from .runner import Replay, parse_now


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("splreplay: error: %s\n" % message)
        sys.exit(2)


def build_parser():
    p = _Parser(prog="splreplay",
                description="Replay CloudTrail records through the add-on's saved searches.")
    p.add_argument("--app", required=True, help="the built add-on folder (default/, lookups/, bin/)")
    p.add_argument("--events", action="append", default=[], metavar="PATH",
                   help="a CloudTrail file or a folder of them (.json, .jsonl, .gz)")
    p.add_argument("--search", action="append", default=[], metavar="NAME",
                   help="a saved search by its exact name (repeatable)")
    p.add_argument("--all", action="store_true", help="every saved search, in file order")
    p.add_argument("--spl", metavar="QUERY", help="an ad-hoc search (search_name=adhoc)")
    p.add_argument("--now", metavar="ISO8601",
                   help="the time now() and relative time modifiers resolve against "
                        "(default: the latest event time)")
    p.add_argument("--state", metavar="DIR", help="where outputlookup writes lookups (and "
                                                  "where lookups are read from first)")
    p.add_argument("--geoip", metavar="MMDB", help="a GeoIP2/GeoLite2 City database for iplocation")
    p.add_argument("--limits", metavar="FILE",
                   help="a limits.conf-shaped file overriding Splunk's default limits")
    p.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.search and not args.all and not args.spl:
        sys.stderr.write("splreplay: error: give --search NAME, --all or --spl QUERY\n")
        return 2
    if args.geoip and not os.path.isfile(args.geoip):
        sys.stderr.write("splreplay: error: --geoip %s: no such file\n" % args.geoip)
        return 2
    out = sys.stdout
    try:
        if args.state:
            os.makedirs(os.path.join(args.state, "lookups"), exist_ok=True)
        limits = Limits.from_file(args.limits) if args.limits else None
        replay = Replay(args.app, state_dir=args.state, geoip=args.geoip, limits=limits)
        events = replay.load_events(args.events)
        now = parse_now(args.now) if args.now else replay.default_now(events)
        names = list(replay.app.saved_search_names()) if args.all else list(args.search)
        jobs = [(name, replay.compile_saved(name, now)) for name in names]
        if args.spl:
            jobs.append(("adhoc", replay.compile(args.spl, "adhoc", now)))
        writer = write_table if args.format == "table" else write_jsonl
        for name, pipeline in jobs:
            rows = replay.run(pipeline, events)
            writer(rows, name, out)
            out.flush()
    except ReplayError as exc:
        sys.stderr.write("splreplay: error: %s\n" % exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0
