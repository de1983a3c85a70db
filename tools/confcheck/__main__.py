"""python -m confcheck APP_DIR: exit 1 and name every key Splunk's .conf.spec does not define."""
import sys

from .app import check_app


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m confcheck APP_DIR", file=sys.stderr)
        return 2
    problems = check_app(argv[0])
    for problem in problems:
        print("confcheck: " + problem, file=sys.stderr)
    if problems:
        print("confcheck: %d problem(s); every key must be one Splunk's .conf.spec defines"
              % len(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
