"""Dashboard Studio views of the built add-on, made renderable without Splunk.

`views(app_dir)` reads every `version="2"` view (the Dashboard Studio JSON definition inside
the XML). `with_static_data` substitutes each input's default value and each default token
into the searches (as Dashboard Studio does when the dashboard opens), runs every `ds.search`
through splreplay over the demo events, and returns a copy of the definition whose search
data sources are `ds.test` sources holding those results. `render` loads it in headless
Chromium with Splunk's dashboard framework (the bundle built from tests/browser/src/render.jsx
with the node packages of tests/browser, which are test tooling and never shipped), saves a
screenshot and returns the page's report.

Shared by the browser test (tests/browser/test_dashboards.py) and `./build.sh demo`.
"""
import copy
import json
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET

from splreplay.output import row_for_output

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The node project that renders (package.json, lockfile, src/render.jsx, node_modules).
NODE_PROJECT = os.path.join(ROOT, "tests", "browser")

CHROMIUM = os.environ.get("TRAILWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--virtual-time-budget=30000", "--run-all-compositor-stages-before-draw")
TOKEN = re.compile(r"\$([A-Za-z_][A-Za-z0-9_.]*)\$")


def views(app_dir):
    """{view name: (label, definition)} for every Dashboard Studio view of the app."""
    folder = os.path.join(app_dir, "default", "data", "ui", "views")
    found = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".xml"):
            continue
        root = ET.parse(os.path.join(folder, name)).getroot()
        if root.tag != "dashboard" or root.get("version") != "2":
            continue
        found[name[:-4]] = (root.findtext("label"), json.loads(root.findtext("definition")))
    return found


def default_tokens(definition):
    tokens = {}
    for item in definition.get("inputs", {}).values():
        options = item.get("options", {})
        if "token" in options and "defaultValue" in options:
            tokens[options["token"]] = options["defaultValue"]
    defaults = definition.get("defaults", {}).get("tokens", {}).get("default", {})
    for name, spec in defaults.items():
        tokens[name] = spec["value"]
    return tokens


def substitute(text, tokens):
    def one(match):
        name = match.group(1)
        if name not in tokens:
            raise KeyError("token $%s$ has no default value (inputs or defaults.tokens)" % name)
        return str(tokens[name])
    return TOKEN.sub(one, text)


def static_source(rows):
    """Search results as the data a `ds.test` source serves (fields + columns)."""
    fields = []
    for row in rows:
        for name in row:
            if name not in fields and name != "search_name" and not name.startswith("_raw"):
                fields.append(name)
    columns = [[_cell(row.get(name)) for row in rows] for name in fields]
    return {"type": "ds.test", "options": {"data": {"fields": [{"name": f} for f in fields],
                                                    "columns": columns}}}


def _cell(value):
    if value is None:
        return None
    return value


def with_static_data(definition, replay, events, now):
    """-> (renderable definition, {data source id: output rows}). A search the evaluator
    refuses raises splreplay's error, naming the data source."""
    tokens = default_tokens(definition)
    static = copy.deepcopy(definition)
    results = {}
    for ds_id, source in definition["dataSources"].items():
        if source["type"] != "ds.search":
            raise AssertionError("%s: only ds.search data sources are rendered (got %s)"
                                 % (ds_id, source["type"]))
        query = substitute(source["options"]["query"], tokens)
        try:
            rows = replay.compile(query, ds_id, now).run(events)
        except Exception as exc:
            raise AssertionError("data source %s (%s): %s" % (ds_id, query, exc)) from exc
        results[ds_id] = [row_for_output(r, ds_id) for r in rows]
        static["dataSources"][ds_id] = static_source(results[ds_id])
        static["dataSources"][ds_id]["name"] = source.get("name", ds_id)
    static.get("defaults", {}).pop("dataSources", None)
    for item in static["visualizations"].values():
        for key in ("title", "description"):
            if key in item:
                item[key] = substitute(item[key], tokens)
    return static, results


def missing_tools():
    """What rendering needs and this machine lacks, each with how to install it."""
    missing = []
    if not os.path.exists(os.path.join(NODE_PROJECT, "node_modules", ".bin", "esbuild")):
        missing.append("the node packages in tests/browser/node_modules: install node and npm "
                       "(Debian: apt-get install -y nodejs npm), then run `npm ci --prefix "
                       "tests/browser` (./build.sh test does it)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s: install Debian's chromium package (apt-get install -y chromium) or "
                       "point TRAILWATCH_CHROMIUM at a Chromium binary" % CHROMIUM)
    return missing


def build_bundle(out_dir):
    """Bundle src/render.jsx with esbuild (from tests/browser/node_modules)."""
    esbuild = os.path.join(NODE_PROJECT, "node_modules", ".bin", "esbuild")
    if not os.path.exists(esbuild):
        raise RuntimeError("tests/browser/node_modules is missing: run `npm ci --prefix "
                           "tests/browser` (./build.sh test does it)")
    bundle = os.path.join(out_dir, "render.js")
    subprocess.run([esbuild, os.path.join(NODE_PROJECT, "src", "render.jsx"), "--bundle",
                    "--minify", "--outfile=" + bundle,
                    "--define:process.env.NODE_ENV=\"production\"", "--loader:.js=jsx",
                    "--log-level=error"], check=True, cwd=NODE_PROJECT, timeout=300)
    return bundle


def page(definition, bundle):
    data = json.dumps(definition).replace("</", "<\\/")
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>%s</title>"
            "<style>body{margin:0;background:#fff}</style></head><body>"
            "<div id=\"tw-root\"></div><pre id=\"tw-report\" style=\"display:none\"></pre>"
            "<script>window.TW_DEFINITION=%s;</script><script src=\"%s\"></script>"
            "</body></html>" % (definition.get("title", ""), data, os.path.basename(bundle)))


def _chromium(args, work, timeout=180):
    profile = tempfile.mkdtemp(prefix="profile-", dir=work)
    return subprocess.run([CHROMIUM] + list(CHROMIUM_FLAGS) + ["--user-data-dir=" + profile]
                          + args, capture_output=True, text=True, timeout=timeout)


def render(definition, bundle, screenshot, height):
    """Render in headless Chromium: -> the page's report (dict); writes the screenshot."""
    work = os.path.dirname(bundle)
    html = os.path.join(work, os.path.basename(screenshot)[:-4] + ".html")
    with open(html, "w", encoding="utf-8") as handle:
        handle.write(page(definition, bundle))
    size = "--window-size=1460,%d" % height
    dumped = _chromium([size, "--dump-dom", "file://" + html], work)
    match = re.search(r'<pre id="tw-report"[^>]*>(.*?)</pre>', dumped.stdout, re.S)
    if not match or not match.group(1).strip():
        raise AssertionError("the page published no report; chromium said:\n" + dumped.stderr[-3000:])
    report = json.loads(_unescape(match.group(1)))
    shot = _chromium([size, "--screenshot=" + screenshot, "file://" + html], work)
    if not os.path.exists(screenshot):
        raise AssertionError("no screenshot; chromium said:\n" + shot.stderr[-3000:])
    return report


def _unescape(text):
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&#39;", "'").replace("&amp;", "&"))


def layout_height(definition):
    bottom = 0
    for block in definition["layout"].get("structure", []):
        pos = block["position"]
        bottom = max(bottom, pos["y"] + pos["h"])
    return bottom + 220


def problems_of(report):
    """What the page reported that makes a rendering fail: schema errors, console errors, a
    dashboard that never finished rendering."""
    problems = ["schema: %s" % p for p in report.get("schema", []) + report.get("validation", [])]
    problems += ["console: %s" % e for e in report.get("errors", [])]
    if not report.get("schemaChecked"):
        problems.append("the preset's schema did not compile")
    if not report.get("rendered"):
        problems.append("the dashboard never finished rendering")
    return problems


def render_all(app_dir, replay, events, now, folder, work):
    """Every Dashboard Studio view of the app rendered over ``events`` to <folder>/<view>.png,
    one at a time (two Chromiums at once on two busy cores made a page miss its render
    budget) -> {view: {"label", "png", "empty_data_sources", "problems"}}."""
    os.makedirs(folder, exist_ok=True)
    bundle = build_bundle(work)
    pages = []
    for name, (label, definition) in views(app_dir).items():
        static, results = with_static_data(definition, replay, events, now)
        pages.append((name, label, definition, static, results))

    def one(page):
        name, label, definition, static, results = page
        shot = os.path.join(folder, name + ".png")
        report = render(static, bundle, shot, layout_height(definition))
        empty = sorted(ds for ds, rows in results.items() if not rows)
        return name, {"label": label, "png": shot, "empty_data_sources": empty,
                      "problems": ["%s: %s" % (name, p) for p in problems_of(report)]
                      + ["%s: data source %s has no results" % (name, ds) for ds in empty]}

    return dict(one(page) for page in pages)
