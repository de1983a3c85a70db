"""CIM compliance of events, judged with the data model definitions pytest-splunk-addon ships
(its ``data_models/*.json``), the way its ``test_cim_required_fields`` judges them on a Splunk
server, but event by event over events splreplay has put through the add-on's search-time
knowledge (props, eventtypes, tags).

What pytest-splunk-addon (7.0.5, cim_tests/) does, and what is modelled here:
- a dataset applies to an event when the event's tags include one of the dataset's tag groups
  and the event matches the ``search_constraints`` of the dataset and of every parent dataset
  (its base search is ``| search <constraint>`` for each dataset of the chain);
- the fields checked for a dataset are that dataset's own ``required`` and ``conditional``
  fields (a child's inherited fields are checked as part of the parent); a conditional field
  is checked only on events matching its ``condition``;
- a field passes on an event when it is present, single-valued (``count(field)`` greater
  than the event count fails "should not be multi-value") unless the definition says
  ``multi_value`` (then ``nomv`` joins its values with newlines first), its ``validity``
  expression is not null, its validity in lower case is one of ``expected_values`` (when
  given and not ``*``) and is not one of the negative values (``""``, ``-``, ``unknown``,
  ``null``, ``(null)``, the defaults its DataSet loader passes).
Search constraints and validity expressions run through splreplay's own search and eval
implementations, so an expression splreplay does not implement is refused, not guessed.
"""
import collections
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

from splreplay.app import Context  # noqa: E402
from splreplay.evalexpr import parse_eval  # noqa: E402
from splreplay.searchexpr import compile_search_text  # noqa: E402
from splreplay.values import text_of, values_of  # noqa: E402

PACKAGE = "pytest-splunk-addon"
# build.sh installs the pinned package (requirements-dev.txt) into .venv/cim, data only.
DATA_MODELS = os.path.join(sys.prefix, "cim", "pytest_splunk_addon", "data_models")
NEGATIVE_VALUES = ("", "-", "unknown", "null", "(null)")


def data_model_dir():
    if not os.path.isdir(DATA_MODELS):
        raise RuntimeError("%s not found: the CIM data model definitions come from %s "
                           "(requirements-dev.txt); run ./build.sh to install them"
                           % (DATA_MODELS, PACKAGE))
    return DATA_MODELS


class Dataset:
    def __init__(self, model, spec, parents, app):
        self.model = model
        self.name = spec["name"]
        self.tag_groups = [set(g) for g in spec.get("tags") or []]
        self.chain = parents + [self]
        ctx = Context(app, 0.0, "cim")
        constraint = spec.get("search_constraints")
        self.constraint = compile_search_text(constraint, ctx) if constraint else None
        self.fields = []
        for field in spec.get("fields") or []:
            if field.get("type", "required") not in ("required", "conditional"):
                continue
            self.fields.append(Field(field, ctx))
        self.children = [Dataset(model, child, self.chain, app)
                         for child in spec.get("child_dataset") or []]

    @property
    def path(self):
        return "%s.%s" % (self.model, ".".join(d.name for d in self.chain))

    def applies(self, event):
        tags = set(text_of(t) for t in values_of(event.get("tag")))
        for ds in self.chain:
            if not any(group <= tags for group in ds.tag_groups):
                return False
            if ds.constraint is not None and not ds.constraint(event):
                return False
        return True

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class Field:
    def __init__(self, spec, ctx):
        self.name = spec["name"]
        self.type = spec.get("type", "required")
        self.multi_value = bool(spec.get("multi_value"))
        self.expected = [str(v).lower() for v in spec.get("expected_values") or []]
        if "*" in self.expected:
            self.expected = []
        self.validity = parse_eval(spec.get("validity") or self.name, ctx).fn
        condition = spec.get("condition")
        self.condition = compile_search_text(condition, ctx) if condition else None

    def check(self, event):
        """None when the field passes on the event, else why it fails."""
        value = event.get(self.name)
        if value is None:
            return "missing"
        vals = values_of(value)
        if len(vals) > 1:
            if not self.multi_value:
                return "multivalue"
            event = dict(event)
            event[self.name] = "\n".join(text_of(v) for v in vals)  # nomv
        valid = self.validity(event)
        if valid is None:
            return "invalid %r" % (value,)
        norm = [text_of(v).lower() for v in values_of(valid)]
        if self.expected and not all(v in self.expected for v in norm):
            return "unexpected %r" % (value,)
        if any(v in NEGATIVE_VALUES for v in norm):
            return "negative %r" % (value,)
        return None


def load_models(app, names):
    directory = data_model_dir()
    datasets = []
    for name in names:
        with open(os.path.join(directory, name + ".json")) as handle:
            spec = json.load(handle)
        for root in spec["objects"]:
            datasets.extend(Dataset(spec["model_name"], root, [], app).walk())
    return datasets


class Report:
    """Per dataset: events checked, required-field checks, checks passed, failures."""

    def __init__(self):
        self.events = collections.Counter()
        self.checks = collections.Counter()
        self.passed = collections.Counter()
        self.failures = collections.defaultdict(list)  # (dataset, field) -> [(event, why)]

    def add(self, datasets, events, label=lambda e: e.get("eventName")):
        for event in events:
            for ds in datasets:
                if not ds.applies(event):
                    continue
                self.events[ds.path] += 1
                for field in ds.fields:
                    if field.condition is not None and not field.condition(event):
                        continue
                    self.checks[ds.path] += 1
                    why = field.check(event)
                    if why is None:
                        self.passed[ds.path] += 1
                    else:
                        self.failures[(ds.path, field.name)].append((label(event), why))

    @property
    def total_checks(self):
        return sum(self.checks.values())

    @property
    def total_passed(self):
        return sum(self.passed.values())

    def ratio(self):
        return self.total_passed / self.total_checks if self.total_checks else 0.0

    def lines(self, title):
        out = ["CIM compliance: %s" % title,
               "  %-62s %7s %8s %8s" % ("dataset", "events", "checks", "passed")]
        for path in sorted(self.events):
            out.append("  %-62s %7d %8d %8d" % (path, self.events[path], self.checks[path],
                                                self.passed[path]))
        out.append("  %-62s %7s %8d %8d (%.2f%%)" % ("all", "", self.total_checks,
                                                     self.total_passed, 100 * self.ratio()))
        for (path, field), fails in sorted(self.failures.items()):
            kinds = collections.Counter(label for label, _ in fails)
            out.append("  gap %s %s: %d (%s)" % (path, field, len(fails), ", ".join(
                "%s x%d" % kv for kv in kinds.most_common(6))))
        return out


def documented_gaps(path):
    """(dataset, field) pairs of the gap table in docs/cim.md (rows "| Model.Dataset | field |
    ...")."""
    gaps = set()
    in_table = False
    with open(path) as handle:
        for line in handle:
            if line.startswith("## "):
                in_table = line.strip().lower().startswith("## gaps")
                continue
            if in_table and line.startswith("|"):
                cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
                if len(cells) >= 2 and "." in cells[0]:
                    gaps.add((cells[0], cells[1]))
    return gaps


def cloudtrail_files(*patterns):
    found = []
    for pattern in patterns:
        found.extend(sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)))
    return found
