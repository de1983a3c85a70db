"""The built add-on as splreplay sees it: its .conf files, macros, lookups, commands, and
the search-time knowledge that turns CloudTrail records into Splunk events.

Search-time operations run in Splunk's order for the ``aws:cloudtrail`` sourcetype:
JSON extraction (KV_MODE=json / INDEXED_EXTRACTIONS=json; both set -> every value twice,
as Splunk does), EXTRACT-, FIELDALIAS-, EVAL- (all evaluated against the same input, so
calculated fields cannot use each other), LOOKUP-, eventtypes, tags. Within a kind, classes
run in ASCII order of their names.
"""
import os
import re
import sys
import urllib.parse

from .conf import load_conf, parse_bool
from .errors import ConfigError, SplError, Unsupported
from .evalexpr import parse_eval
from .events import SOURCETYPE, base_event, cut_to_bytes, flatten_json, flatten_json_prefix
from .limits import Limits
from .savedsearch_keys import undefined_keys
from .indexes import IndexStore
from .lookups import Lookups, Matcher
from .searchexpr import compile_search_text
from .values import normalise, text_of, values_of

CONF_NAMES = ("savedsearches", "macros", "props", "transforms", "eventtypes", "tags",
              "commands")

# props.conf keys that only matter at index time (or for the UI): ignored at search time.
_INDEX_TIME_KEYS = {
    "TIME_PREFIX", "TIME_FORMAT", "MAX_TIMESTAMP_LOOKAHEAD", "TZ", "SHOULD_LINEMERGE",
    "LINE_BREAKER", "TRUNCATE", "NO_BINARY_CHECK", "CHARSET", "category", "pulldown_type",
    "description", "DATETIME_CONFIG", "TIMESTAMP_FIELDS", "ANNOTATE_PUNCT", "BREAK_ONLY_BEFORE",
    "MUST_BREAK_AFTER", "EVENT_BREAKER_ENABLE", "EVENT_BREAKER", "LEARN_MODEL",
    "LEARN_SOURCETYPE", "detect_trailing_nulls", "MAX_EVENTS", "MAX_DAYS_AGO",
    "MAX_DAYS_HENCE", "rename", "AUTO_KV_JSON", "KV_TRIM_SPACES", "disabled",
}


class Context:
    """What a running search needs: the app, ``now``, warnings."""

    def __init__(self, app, now, search_name="adhoc"):
        self.app = app
        self.now = now
        self.search_name = search_name

    def warn(self, message):
        self.app.warn(message)


class App:
    def __init__(self, app_dir, state_dir=None, geoip=None, warn=None, limits=None):
        if not os.path.isdir(app_dir):
            raise ConfigError("%s: the app folder does not exist (build the add-on first: "
                              "./build.sh)" % app_dir)
        self.dir = app_dir
        self.state_dir = state_dir
        self.geoip = geoip
        self.limits = limits or Limits()
        self._warned = set()
        self._warn = warn or (lambda m: print("splreplay: warning: " + m, file=sys.stderr))
        self.confs = {name: load_conf(app_dir, name) for name in CONF_NAMES}
        self.lookups = Lookups(app_dir, self.confs["transforms"], state_dir)
        self.indexes = IndexStore(state_dir)
        self._prep = None

    def warn(self, message):
        if message not in self._warned:
            self._warned.add(message)
            self._warn(message)

    # ---- saved searches ---------------------------------------------------------------
    def saved_search_names(self):
        return self.confs["savedsearches"].names()

    def saved_search(self, name):
        return self.saved_search_settings(name)["search"]

    def saved_search_settings(self, name):
        """The saved search's settings ([default] applied), checked against the spec."""
        conf = self.confs["savedsearches"]
        stanza = conf.get(name) if name in conf.names() else None
        if stanza is None:
            names = conf.names()
            raise ConfigError("no saved search named %r in savedsearches.conf (%s)"
                              % (name, "it has: " + "; ".join(names) if names
                                 else "it has none"))
        bad = undefined_keys(stanza)
        if bad:
            raise ConfigError("saved search %r (%s): %s not defined by savedsearches.conf.spec"
                              % (name, conf.origin.get(name, "savedsearches.conf"),
                                 ", ".join(bad) + (" is" if len(bad) == 1 else " are")))
        text = stanza.get("search")
        if not text:
            raise ConfigError("saved search %r has no 'search' setting" % name)
        return stanza

    # ---- macros -----------------------------------------------------------------------
    def expand_macros(self, text, depth=0):
        """Expand `macro` and `macro(args)` references (recursively)."""
        if depth > 40:
            raise SplError("macro expansion is too deep (a macro refers to itself?)")
        if "`" not in text:
            return text
        out = []
        i = 0
        in_quote = False
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                out.append(text[i:i + 2])
                i += 2
                continue
            if c == '"':
                in_quote = not in_quote
                out.append(c)
                i += 1
                continue
            if c != "`":
                out.append(c)
                i += 1
                continue
            if in_quote:
                raise Unsupported("backtick inside a quoted string: splreplay does not guess "
                                  "whether Splunk expands it as a macro", i, text)
            j = text.find("`", i + 1)
            if j < 0:
                raise SplError("unterminated macro reference (missing closing backtick)", i, text)
            out.append(self._expand_one(text[i + 1:j].strip(), i, text, depth))
            i = j + 1
        return self.expand_macros("".join(out), depth + 1)

    def _expand_one(self, ref, pos, text, depth):
        m = re.fullmatch(r"([A-Za-z0-9_.:-]+)\s*(?:\((.*)\))?", ref, re.S)
        if not m:
            raise SplError("invalid macro reference `%s`" % ref, pos, text)
        name, argtext = m.group(1), m.group(2)
        args = split_macro_args(argtext) if argtext is not None and argtext.strip() != "" \
            else ([] if argtext is None else [])
        if argtext is not None and argtext.strip() == "":
            args = []
        stanza_name = "%s(%d)" % (name, len(args)) if args else name
        conf = self.confs["macros"]
        stanza = conf.get(stanza_name) if stanza_name in conf.names() else None
        if stanza is None and not args:
            stanza = conf.get(name + "(0)") if name + "(0)" in conf.names() else None
        if stanza is None:
            raise SplError("macro `%s` is not defined (no [%s] in macros.conf)"
                           % (ref, stanza_name), pos, text)
        if parse_bool(stanza.get("iseval"), False):
            raise Unsupported("macro [%s] uses iseval, which splreplay does not implement"
                              % stanza_name, pos, text)
        definition = stanza.get("definition", "")
        names = [a.strip() for a in stanza.get("args", "").split(",") if a.strip()]
        if len(names) != len(args):
            raise SplError("macro [%s] declares %d argument(s) (%s), got %d"
                           % (stanza_name, len(names), ", ".join(names), len(args)), pos, text)
        for argname, value in zip(names, args, strict=False):
            definition = definition.replace("$%s$" % argname, value)
        return definition

    # ---- search-time knowledge ---------------------------------------------------------
    def _props(self, sourcetype=SOURCETYPE):
        """Search-time knowledge of one sourcetype (props.conf ``[<sourcetype>]``), then the
        eventtypes and tags every event goes through whatever its sourcetype."""
        if self._prep is None:
            self._prep = {}
        if sourcetype not in self._prep:
            self._prep[sourcetype] = self._sourcetype_props(sourcetype) + self._classifiers()
        return self._prep[sourcetype]

    def _sourcetype_props(self, sourcetype):
        props = self.confs["props"]
        if sourcetype not in props and sourcetype != SOURCETYPE:
            # KV_MODE defaults to auto (key=value extraction), which splreplay does not model.
            raise Unsupported("props.conf has no [%s] stanza: the default KV_MODE=auto "
                              "extraction is not implemented by splreplay" % sourcetype)
        stanza = props.own(sourcetype) if sourcetype in props else {}
        ctx = Context(self, 0.0, "props")
        kv = stanza.get("KV_MODE", "").strip().lower()
        indexed = stanza.get("INDEXED_EXTRACTIONS", "").strip().lower()
        if kv not in ("", "json", "none"):
            raise Unsupported("props [%s] KV_MODE=%s is not implemented (json or none)"
                              % (sourcetype, kv))
        if indexed not in ("", "json"):
            raise Unsupported("props [%s] INDEXED_EXTRACTIONS=%s is not implemented"
                              % (sourcetype, indexed))
        # bit 1: KV_MODE=json (search time, cut at the extraction limit); bit 2:
        # INDEXED_EXTRACTIONS=json (index time, whole record)
        copies = (1 if kv == "json" else 0) | (2 if indexed == "json" else 0)
        if copies == 0 and kv != "none":
            if sourcetype != SOURCETYPE:
                raise Unsupported("props [%s] sets neither KV_MODE=json nor "
                                  "INDEXED_EXTRACTIONS=json: the default KV_MODE=auto "
                                  "extraction is not implemented by splreplay" % sourcetype)
            self.warn("props.conf sets neither KV_MODE=json nor INDEXED_EXTRACTIONS=json for "
                      "[%s]; extracting JSON fields as the Splunk Add-on for AWS does" % SOURCETYPE)
            copies = 1
        trim = parse_bool(stanza.get("JSON_TRIM_BRACES_IN_ARRAY_NAMES"), False)
        extracts, aliases, evals, autolookups = [], [], [], []
        for key in sorted(stanza):
            value = stanza[key]
            cls, _, _name = key.partition("-")
            if key in _INDEX_TIME_KEYS or key in ("KV_MODE", "INDEXED_EXTRACTIONS",
                                                  "JSON_TRIM_BRACES_IN_ARRAY_NAMES"):
                continue
            if cls == "EXTRACT" and _name:
                extracts.append(_parse_extract(key, value))
            elif cls == "FIELDALIAS" and _name:
                aliases.extend(_parse_aliases(key, value))
            elif cls == "EVAL" and _name:
                try:
                    node = parse_eval(value, ctx)
                except SplError as exc:
                    raise ConfigError("props [%s] %s: %s" % (sourcetype, key, exc)) from None
                evals.append((_name, node.fn))
            elif cls == "LOOKUP" and _name:
                autolookups.append((key, value))
            else:
                raise Unsupported("props [%s] %s is not implemented by splreplay"
                                  % (sourcetype, key))
        matchers = []
        for key, value in autolookups:
            matchers.append(self._auto_lookup(key, value))
        _check_lookup_independence(autolookups, matchers)
        return (copies, trim, extracts, aliases, evals, matchers)

    def _classifiers(self):
        ctx = Context(self, 0.0, "props")
        eventtypes = []
        et_conf = self.confs["eventtypes"]
        for name in et_conf.names():
            st = et_conf.get(name)
            if parse_bool(st.get("disabled"), False):
                continue
            text = st.get("search", "")
            if re.search(r"(?<![\w.])(eventtype|tag)(::\w+)?\s*=", text):
                raise Unsupported("eventtype %r refers to eventtype= or tag=, which splreplay "
                                  "does not implement" % name)
            try:
                pred = compile_search_text(self.expand_macros(text), ctx)
            except SplError as exc:
                raise ConfigError("eventtypes.conf [%s]: %s" % (name, exc)) from None
            eventtypes.append((name, pred))
        eventtypes.sort(key=lambda x: x[0])
        tags = []
        tag_conf = self.confs["tags"]
        for stanza_name in tag_conf.names():
            field, eq, value = stanza_name.partition("=")
            if not eq:
                raise ConfigError("tags.conf stanza [%s] is not field=value" % stanza_name)
            field = urllib.parse.unquote(field)
            value = urllib.parse.unquote(value)
            names = [t for t, state in tag_conf.own(stanza_name).items()
                     if state.strip().lower() == "enabled"]
            if names:
                tags.append((field, value, sorted(names)))
        return (eventtypes, tags)

    def _auto_lookup(self, key, value):
        toks = value.split()
        if not toks:
            raise ConfigError("props %s is empty" % key)
        name = toks[0]
        rest = toks[1:]
        inputs, outputs, outputnew = [], None, False
        i = 0
        target = inputs
        while i < len(rest):
            t = rest[i]
            if t.upper() in ("OUTPUT", "OUTPUTNEW"):
                outputnew = t.upper() == "OUTPUTNEW"
                outputs = []
                target = outputs
                i += 1
                continue
            src = t.rstrip(",")
            dst = src
            if i + 2 < len(rest) and rest[i + 1].upper() == "AS":
                dst = rest[i + 2].rstrip(",")
                i += 3
            else:
                i += 1
            target.append((src, dst))
        ldef = self.lookups.definition(name)
        table = self.lookups.load(ldef)
        return Matcher(ldef, table, inputs, outputs, outputnew)

    def derived_fields(self):
        """Fields computed at search time in any sourcetype (calculated fields, alias
        targets, automatic lookup outputs, eventtype, tag): the index cannot prune on them."""
        if getattr(self, "_derived", None) is None:
            out = {"eventtype", "tag"}
            props = self.confs["props"]
            for st in props.names():
                for key, value in props.own(st).items():
                    cls, _, name = key.partition("-")
                    if cls == "EVAL" and name:
                        out.add(name)
                    elif cls == "FIELDALIAS" and name:
                        toks = value.replace(",", " ").split()
                        out.update(toks[i + 1] for i, t in enumerate(toks[:-1])
                                   if t.upper() in ("AS", "ASNEW"))
                    elif cls == "LOOKUP" and name:
                        toks = value.replace(",", " ").split()
                        out.update(t for t in toks[1:] if t.upper() not in
                                   ("AS", "OUTPUT", "OUTPUTNEW"))
            self._derived = out
        return self._derived

    def make_events(self, records):
        """Records -> Splunk events (newest first, as a search returns them)."""
        events = []
        for n, (record, raw, source, where) in enumerate(records):
            ev = base_event(record, raw, source)
            if ev is None:
                from .errors import InputError
                raise InputError("%s: the record has no valid eventTime" % where)
            events.append((ev["_time"], n, self.apply_knowledge(ev, record)))
        events.sort(key=lambda x: (-x[0], x[1]))
        return [e for _, _, e in events]

    def apply_knowledge(self, ev, record):
        """One event (``_raw``, ``_time``, ``sourcetype``, ... and the parsed JSON ``record``)
        through the search-time knowledge of its sourcetype, in Splunk's order."""
        (copies, trim, extracts, aliases, evals, matchers,
         eventtypes, tags) = self._props(ev.get("sourcetype", SOURCETYPE))
        kv, indexed = copies & 1, copies & 2
        # INDEXED_EXTRACTIONS=json fields exist before any search-time operation.
        full = flatten_json(record, trim) if (indexed or kv) else None
        if indexed:
            _add_json(ev, full)
        # Search-time order ("The sequence of search-time operations", Knowledge Manager
        # Manual): inline EXTRACT- first, then automatic (KV_MODE) extraction.
        for field, rx in extracts:
            src = ev.get(field)
            if src is None:
                continue
            m = rx.search(text_of(values_of(src)[0]))
            if m:
                for k, v in m.groupdict().items():
                    if v is not None:
                        ev[k] = v
        if kv:
            # KV_MODE=json reads only the first [kv] maxchars / [spath] extraction_cutoff
            # bytes of _raw (limits.conf.spec): keys after the cut are not extracted.
            cut = cut_to_bytes(ev["_raw"], self.limits.json_cutoff)
            _add_json(ev, full if cut is None else flatten_json_prefix(cut, trim), extra=indexed)
        for src, dst, asnew in aliases:
            v = ev.get(src)
            if asnew:
                if ev.get(dst) is None and v is not None:
                    ev[dst] = v
            elif v is None:
                ev.pop(dst, None)
            else:
                ev[dst] = v
        if evals:
            results = [(name, fn(ev)) for name, fn in evals]
            for name, v in results:
                if isinstance(v, bool):
                    raise ConfigError("props EVAL-%s returned a boolean" % name)
                if v is None:
                    ev.pop(name, None)
                else:
                    ev[name] = v
        for m in matchers:
            m.apply(ev)
        if eventtypes:
            ets = [name for name, pred in eventtypes if pred(ev)]
            if ets:
                ev["eventtype"] = normalise(ets)
        if tags:
            all_tags = []
            for field, value, names in tags:
                v = ev.get(field)
                if v is None:
                    continue
                if any(text_of(x) == value for x in values_of(v)):
                    key = "tag::" + field
                    cur = values_of(ev.get(key))
                    ev[key] = normalise(sorted(set(cur) | set(names)))
                    all_tags.extend(names)
            if all_tags:
                ev["tag"] = normalise(sorted(set(all_tags)))
        return ev

    # ---- commands.conf -----------------------------------------------------------------
    def custom_command(self, name):
        conf = self.confs["commands"]
        if name not in conf.names():
            return None
        return conf.get(name)


_BASE_FIELDS = frozenset(("_raw", "_time", "host", "source", "sourcetype"))


def _add_json(ev, fields, extra=False):
    """Add extracted JSON fields; ``extra``: the event already holds one copy of each
    (INDEXED_EXTRACTIONS and KV_MODE both json give every value twice, as in Splunk).
    Field names and short values are interned: events held for later runs share them."""
    for name, vals in fields.items():
        if name in _BASE_FIELDS:
            continue
        have = ev.get(name)
        if have is not None:
            if not extra:
                continue
            vals = values_of(have) + vals
        if len(vals) == 1:
            v = vals[0]
            ev[sys.intern(name)] = sys.intern(v) if type(v) is str and len(v) <= 64 else v
        else:
            ev[sys.intern(name)] = vals


def split_macro_args(text):
    args = []
    depth = 0
    cur = []
    in_quote = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c == '"':
            in_quote = not in_quote
        elif not in_quote and c in "([":
            depth += 1
        elif not in_quote and c in ")]":
            depth -= 1
        elif not in_quote and depth == 0 and c == ",":
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    args.append("".join(cur).strip())
    return args


def _check_lookup_independence(autolookups, matchers):
    """Splunk does not guarantee the order in which automatic lookups run, so one that reads
    a field another one writes gives order-dependent results: refused."""
    written = {}
    for (key, _), m in zip(autolookups, matchers, strict=True):
        for field in m.output_fields():
            written.setdefault(field, key)
    for (key, _), m in zip(autolookups, matchers, strict=True):
        for _src, field in m.inputs:
            other = written.get(field)
            if other is not None and other != key:
                raise ConfigError("props [%s] %s reads %s, which %s writes: Splunk does not "
                                  "guarantee the order of automatic lookups, so the result "
                                  "would depend on it" % (SOURCETYPE, key, field, other))


def _parse_extract(key, value):
    m = re.fullmatch(r"(.*?)(?:\s+in\s+(\S+))?", value.strip(), re.S)
    regex, field = m.group(1), m.group(2) or "_raw"
    from .evalexpr import pcre_to_python
    return field, pcre_to_python(regex)


def _parse_aliases(key, value):
    toks = value.split()
    out = []
    i = 0
    while i < len(toks):
        if i + 2 >= len(toks):
            raise ConfigError("props %s: expected '<field> AS <alias>' pairs, got %r"
                              % (key, value))
        src, kw, dst = toks[i], toks[i + 1].upper(), toks[i + 2]
        if kw not in ("AS", "ASNEW"):
            raise ConfigError("props %s: expected AS or ASNEW, got %r" % (key, toks[i + 1]))
        out.append((src.strip('"'), dst.strip('"'), kw == "ASNEW"))
        i += 3
    return out
