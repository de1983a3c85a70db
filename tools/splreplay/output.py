"""Rendering result rows: JSON lines (default) or a plain text table."""
import datetime
import json

from .values import render_field


def _time_text(v):
    try:
        t = float(v)
    except (TypeError, ValueError):
        return render_field(v)
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+00:00" % (dt.microsecond // 1000)


def row_for_output(row, search_name):
    out = {"search_name": search_name}
    for k, v in row.items():
        if k == "search_name":
            continue
        out[k] = _time_text(v) if k == "_time" else render_field(v)
    return out


def write_jsonl(rows, search_name, stream):
    for r in rows:
        stream.write(json.dumps(row_for_output(r, search_name), ensure_ascii=False) + "\n")


def write_table(rows, search_name, stream):
    outs = [row_for_output(r, search_name) for r in rows]
    cols = []
    for o in outs:
        for k in o:
            if k not in cols:
                cols.append(k)
    if not cols:
        cols = ["search_name"]

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, list):
            return " | ".join(v)
        return str(v).replace("\n", "\\n")
    cols = [c for c in cols if c != "_raw"]
    table = [[cell(o.get(c)) for c in cols] for o in outs]
    widths = [min(60, max([len(c)] + [len(r[i]) for r in table])) for i, c in enumerate(cols)]
    stream.write("== %s: %d result(s)\n" % (search_name, len(outs)))
    stream.write("  ".join(c.ljust(w)[:w] for c, w in zip(cols, widths, strict=False)) + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for r in table:
        stream.write("  ".join(v.ljust(w)[:w] for v, w in zip(r, widths, strict=False)) + "\n")
