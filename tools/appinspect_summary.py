"""Summarise an AppInspect JSON report; exit 1 on any failure, error or future failure.

Usage: python tools/appinspect_summary.py dist/appinspect-report.json
"""
import json
import sys

BLOCKING = ("failure", "error", "future_failure")


def main(path):
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError) as exc:
        print("AppInspect produced no readable report at %s: %s" % (path, exc), file=sys.stderr)
        return 2
    blocking = 0
    for app in report.get("reports", []):
        counts = app.get("summary", {})
        print("%s %s: %s" % (app.get("app_name"), app.get("app_version"),
                             ", ".join("%s=%s" % kv for kv in sorted(counts.items()))))
        for group in app.get("groups", []):
            for check in group.get("checks", []):
                result = check.get("result")
                if result in BLOCKING or result == "warning":
                    for message in check.get("messages", []) or [{}]:
                        print("  %s %s: %s" % (result.upper(), check.get("name"),
                                              message.get("message", "")))
        blocking += sum(int(counts.get(kind, 0)) for kind in BLOCKING)
    if blocking:
        print("AppInspect: %d blocking result(s)" % blocking, file=sys.stderr)
        return 1
    print("AppInspect: no failures, errors or future failures")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist/appinspect-report.json"))
