"""CSV lookups as Splunk applies them (transforms.conf definitions and lookups/ files).

- ``match_type = WILDCARD(field), CIDR(field)``; other fields match exactly;
- ``case_sensitive_match`` (default true) applies to exact and wildcard matching;
- ``max_matches`` (default 100, transforms.conf.spec), ``min_matches`` + ``default_match``;
- matches are taken in file order; a multivalue input looks up each value;
- an empty CSV cell is no value; a cell with line breaks is a multivalue value (that is how
  ``outputlookup`` writes multivalue fields here).
KV store lookups (``external_type = kvstore``, ``collection``, ``fields_list``) read and write
the collections of ``kvstore.py``, with the same matching rules, except that
``case_sensitive_match = false`` lower-cases only the input: the spec honours it "only when the
data in the KV Store lookup table is entirely in lower case".
Refused: external (``external_cmd``), temporal (``time_field``) and geospatial lookups,
``filter``.
"""
import csv
import gzip
import io
import ipaddress
import os
import re
import sys

from .conf import parse_bool
from .errors import ConfigError, SearchRuntimeError, SplError, Unsupported
from .kvstore import KvStore
from .values import normalise, render, text_of, values_of

csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))

_REFUSED_KEYS = ("external_cmd", "time_field", "filter", "feature_id_element")


class Table:
    """A loaded lookup table: header (list) and rows (list of dicts without empty cells)."""

    def __init__(self, name, header, rows):
        self.name = name
        self.header = header
        self.rows = rows


def read_csv(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    rows = []
    for cells in reader:
        if not cells:
            continue
        row = {}
        for name, cell in zip(header, cells, strict=False):
            if cell == "" or name == "":
                continue
            row[name] = cell.split("\n") if "\n" in cell else cell
        rows.append(row)
    return header, rows


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        out = []
        for name in header:
            v = row.get(name)
            if v is None:
                out.append("")
            elif isinstance(v, list):
                out.append("\n".join(render(x) for x in v))
            else:
                out.append(render(v))
        writer.writerow(out)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(buf.getvalue())
    os.replace(tmp, path)


class LookupDef:
    def __init__(self, name, filename, settings):
        self.name = name
        self.filename = filename
        for key in _REFUSED_KEYS:
            if settings.get(key):
                raise Unsupported("lookup %r uses %s, which splreplay does not implement"
                                  % (name, key))
        self.collection = None
        self.fields = None
        kind = (settings.get("external_type") or "").strip()
        if kind or settings.get("collection"):
            if kind != "kvstore" or not (settings.get("collection") or "").strip():
                raise Unsupported("lookup %r: only KV store lookups (external_type = kvstore "
                                  "with a collection) are implemented besides CSV files" % name)
            self.collection = settings["collection"].strip()
            listed = (settings.get("fields_list") or "").strip()
            self.fields = [f.strip() for f in listed.split(",") if f.strip()] if listed else None
        self.case_sensitive = parse_bool(settings.get("case_sensitive_match"), True)
        # transforms.conf.spec, case_sensitive_match: for KV store lookups "false" is honored
        # only when the stored data is entirely lower case; the input may be any case. So
        # the input is lower-cased and the stored value compared as it is.
        self.lower_input_only = self.collection is not None and not self.case_sensitive
        # transforms.conf.spec max_matches: "Default: 100 if the lookup is not temporal"
        # (splreplay refuses temporal lookups), matches taken in file order.
        self.max_matches = int(settings.get("max_matches") or 100)
        self.min_matches = int(settings.get("min_matches") or 0)
        self.default_match = settings.get("default_match")
        self.match_types = {}
        mt = settings.get("match_type", "").strip()
        if mt:
            for part in re.split(r"\s*,\s*", mt):
                m = re.fullmatch(r"(WILDCARD|CIDR|EXACT)\(([^)]+)\)", part.strip())
                if not m:
                    raise ConfigError("lookup %r: unsupported match_type %r" % (name, part))
                self.match_types[m.group(2).strip()] = m.group(1)


class Lookups:
    """Every lookup the app defines, with ``--state`` overlay and in-run writes."""

    def __init__(self, app_dir, transforms, state_dir=None):
        self.app_dir = app_dir
        self.state_dir = state_dir
        self.transforms = transforms
        self.memory = {}  # filename -> (header, rows) written in this run without --state
        self._cache = {}
        self.kvstore = KvStore(state_dir)

    def definition(self, name, pos=None):
        settings = self.transforms.get(name)
        if settings is not None and settings.get("filename"):
            return LookupDef(name, settings["filename"], settings)
        if settings is not None:
            return LookupDef(name, None, settings)  # raises for refused kinds
        if name.endswith(".csv") or name.endswith(".csv.gz"):
            return LookupDef(name, name, {})
        raise SplError("lookup table %r is not defined (no transforms.conf stanza and no "
                       "lookups/ file of that name)" % name, pos)

    def _path(self, filename):
        if self.state_dir:
            p = os.path.join(self.state_dir, "lookups", filename)
            if os.path.isfile(p):
                return p
        for layer in ("lookups",):
            p = os.path.join(self.app_dir, layer, filename)
            if os.path.isfile(p):
                return p
        return None

    def load(self, ldef, pos=None):
        if ldef.collection is not None:
            rows = self.kvstore.rows(ldef.collection, ldef.fields)
            header = list(ldef.fields) if ldef.fields is not None else sorted(
                {name for row in rows for name in row})
            return Table(ldef.name, header, rows)
        if ldef.filename is None:
            raise Unsupported("lookup %r has no filename (only CSV file lookups are "
                              "implemented)" % ldef.name, pos)
        if ldef.filename in self.memory:
            header, rows = self.memory[ldef.filename]
            return Table(ldef.name, header, rows)
        path = self._path(ldef.filename)
        if path is None:
            raise SearchRuntimeError("lookup file %r (lookup %r) not found in lookups/%s"
                                     % (ldef.filename, ldef.name,
                                        " or the state folder" if self.state_dir else ""))
        key = (path, os.path.getmtime(path))
        if key not in self._cache:
            header, rows = read_csv(path)
            self._cache[key] = (header, rows)
        header, rows = self._cache[key]
        return Table(ldef.name, header, rows)

    def write(self, ldef, header, rows, warn):
        if ldef.collection is not None:  # outputlookup gives every row: the collection's new content
            self.kvstore.write(ldef.collection, rows, append=False)
            return
        if ldef.filename is None:
            raise Unsupported("outputlookup to %r: only CSV file lookups are implemented"
                              % ldef.name)
        if self.state_dir:
            path = os.path.join(self.state_dir, "lookups", ldef.filename)
            write_csv(path, header, rows)
            self.memory.pop(ldef.filename, None)
        else:
            warn("outputlookup %s: no --state folder, the table is kept for this run only"
                 % ldef.filename)
            self.memory[ldef.filename] = (list(header), [dict(r) for r in rows])


class Matcher:
    """Applies one lookup definition: input field pairs -> output fields per event."""

    def output_fields(self):
        return [dst for _, dst in self.outputs]

    def __init__(self, ldef, table, inputs, outputs, outputnew):
        self.ldef = ldef
        self.table = table
        self.inputs = inputs  # [(lookup_field, event_field)]
        self.outputnew = outputnew
        for lf, _ in inputs:
            if lf not in table.header:
                raise SearchRuntimeError("lookup %r has no field %r (fields: %s)"
                                         % (ldef.name, lf, ", ".join(table.header)))
        if outputs is None:
            in_names = {lf for lf, _ in inputs}
            outputs = [(h, h) for h in table.header if h and h not in in_names]
        else:
            for lf, _ in outputs:
                if lf not in table.header:
                    raise SearchRuntimeError("lookup %r has no output field %r (fields: %s)"
                                             % (ldef.name, lf, ", ".join(table.header)))
        self.outputs = outputs  # [(lookup_field, event_field)]
        self.cs = ldef.case_sensitive
        kinds = [ldef.match_types.get(lf, "EXACT") for lf, _ in inputs]
        self.kinds = kinds
        self.exact_idx = [i for i, k in enumerate(kinds) if k == "EXACT"]
        # index rows by their exact-match fields
        self.index = {}
        self.nets = {}
        for rn, row in enumerate(table.rows):
            key = []
            ok = True
            for i in self.exact_idx:
                v = row.get(inputs[i][0])
                if v is None or isinstance(v, list):
                    ok = False
                    break
                key.append(v if self.cs or ldef.lower_input_only else v.lower())
            if ok:
                self.index.setdefault(tuple(key), []).append(rn)
        self.patterns = {}
        for i, k in enumerate(kinds):
            lf = inputs[i][0]
            for rn, row in enumerate(table.rows):
                v = row.get(lf)
                if v is None or isinstance(v, list):
                    continue
                if k == "CIDR":
                    try:
                        net = ipaddress.ip_network(v.strip(), strict=False)
                    except ValueError:
                        net = None
                    self.patterns[(i, rn)] = net
                elif k == "WILDCARD":
                    body = ".*".join(re.escape(p) for p in v.split("*"))
                    self.patterns[(i, rn)] = re.compile(body + r"\Z", 0 if self.cs or
                                                        ldef.lower_input_only else re.I)
        self.cache = {}

    def _match_one(self, values):
        """values: tuple of one text per input -> list of matching row numbers."""
        key = tuple(values[i] if self.cs else values[i].lower() for i in self.exact_idx)
        cands = self.index.get(key, [])
        if len(self.exact_idx) == len(values):
            return cands[:self.ldef.max_matches]
        out = []
        for rn in cands:
            good = True
            for i, k in enumerate(self.kinds):
                if k == "EXACT":
                    continue
                pat = self.patterns.get((i, rn))
                if pat is None:
                    good = False
                    break
                if k == "CIDR":
                    try:
                        if ipaddress.ip_address(values[i].strip()) not in pat:
                            good = False
                            break
                    except ValueError:
                        good = False
                        break
                elif pat.match(values[i].lower() if self.ldef.lower_input_only
                               else values[i]) is None:
                    good = False
                    break
            if good:
                out.append(rn)
                if len(out) >= self.ldef.max_matches:
                    break
        return out

    def apply(self, row):
        combos = [()]
        for _, ef in self.inputs:
            v = row.get(ef)
            if v is None:
                combos = []
                break
            combos = [c + (text_of(x),) for c in combos for x in values_of(v)]
        matched = []
        for combo in combos:
            hit = self.cache.get(combo)
            if hit is None:
                hit = self.cache[combo] = self._match_one(combo)
            matched.extend(hit)
        rows = self.table.rows
        results = {}
        for lf, ef in self.outputs:
            vals = []
            for rn in matched:
                vals.extend(values_of(rows[rn].get(lf)))
            results[ef] = normalise(vals)
        short = self.ldef.min_matches - len(matched)
        if short > 0 and self.ldef.default_match is not None:
            # Splunk pads with default_match up to min_matches (only when min_matches > 0)
            for _, ef in self.outputs:
                results[ef] = normalise(values_of(results[ef]) + [self.ldef.default_match] * short)
        for ef, v in results.items():
            if self.outputnew and row.get(ef) is not None:
                continue
            if v is None:
                row.pop(ef, None)
            else:
                row[ef] = v
