"""python -m twcontent render --out FILE | validate | docs [--check]"""
import argparse
import os
import sys

from . import docs, model, render


def main(argv=None):
    parser = argparse.ArgumentParser(prog="twcontent", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("render", help="write savedsearches.conf from detections/")
    p.add_argument("--out", required=True)
    sub.add_parser("validate", help="check every detection file against the schema")
    p = sub.add_parser("docs", help="write (or --check) docs/detection-index.md")
    p.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    try:
        detections = model.load_all()
    except model.ContentError as err:
        print("detections/: %s" % err, file=sys.stderr)
        return 1
    if args.cmd == "render":
        text = render.render(detections)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    elif args.cmd == "docs":
        text = docs.render_index(detections)
        if args.check:
            with open(docs.INDEX_FILE, encoding="utf-8") as handle:
                if handle.read() != text:
                    print("%s is out of date: run `./build.sh docs`" % docs.INDEX_FILE, file=sys.stderr)
                    return 1
        else:
            with open(docs.INDEX_FILE, "w", encoding="utf-8") as handle:
                handle.write(text)
    print("%d saved searches" % len(detections), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
