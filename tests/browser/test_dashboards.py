"""Every Dashboard Studio view of the built add-on, validated and rendered by Splunk's own
dashboard framework (@splunk/dashboard-* with the view-only Enterprise preset) in headless
Chromium, each search replaced by the results splreplay computes from the view's own SPL
over the demo data (tools/trailwatch_demo/dashboard_data.py).

A view fails on a schema error, a console error, a search the evaluator refuses, a data
source without results, or a visualization that draws nothing. Screenshots go to
build/dashboards/<view>.png (not committed).
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from trailwatch_demo import dashboard_data as demo_events  # noqa: E402
from trailwatch_demo import story as demo_story  # noqa: E402
from trailwatch_demo.dashboards import CHROMIUM, build_bundle, layout_height, render, views, with_static_data  # noqa: E402
from splreplay.runner import Replay  # noqa: E402

from addon import APP_DIR  # noqa: E402

SCREENSHOTS = os.path.join(demo_events.ROOT, "build", "dashboards")
VIEWS = views(APP_DIR)
EXPECTED = ("trailwatch_overview", "trailwatch_alert_triage", "trailwatch_governance",
            "trailwatch_exposure", "trailwatch_baselines", "trailwatch_connector_health")
CHARTS = ("splunk.column", "splunk.bar", "splunk.line", "splunk.pie", "splunk.area")
# What the framework draws instead of a visualization when it has nothing to show.
EMPTY_MESSAGES = ("No search results returned", "No data!", "Waiting for data",
                  "Search is waiting for input")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("dashboard-state"))
    geoip = demo_story.write_geoip(str(tmp_path_factory.mktemp("dashboard-geoip") / "city.mmdb"))
    replay = Replay(APP_DIR, state_dir=state, geoip=geoip, warn=lambda message: None)
    events, now = demo_events.build(replay)
    return replay, events, now


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("%s is missing: install Debian's chromium package (apt-get install -y "
                    "chromium), as .ci/run does" % CHROMIUM)
    return build_bundle(str(tmp_path_factory.mktemp("dashboard-pages")))


def test_the_add_on_ships_the_six_dashboards():
    assert sorted(VIEWS) == sorted(EXPECTED)


def test_every_search_filters_by_the_dashboard_inputs_it_offers():
    for name, (_, definition) in VIEWS.items():
        tokens = {item["options"]["token"] for item in definition["inputs"].values()}
        queries = " ".join(s["options"]["query"] for s in definition["dataSources"].values())
        for token in tokens - {"global_time"}:
            assert "$%s$" % token in queries, "%s: input %s is used by no search" % (name, token)
        assert definition["defaults"]["dataSources"]["ds.search"]["options"][
            "queryParameters"] == {"earliest": "$global_time.earliest$",
                                   "latest": "$global_time.latest$"}, name


@pytest.mark.parametrize("name", EXPECTED)
def test_dashboard_renders_populated(name, demo, bundle):
    replay, events, now = demo
    label, definition = VIEWS[name]
    static, results = with_static_data(definition, replay, events, now)
    empty = sorted(ds for ds, rows in results.items() if not rows)
    assert not empty, "%s: data sources without results over the demo data: %s" % (name, empty)

    os.makedirs(SCREENSHOTS, exist_ok=True)
    shot = os.path.join(SCREENSHOTS, name + ".png")
    if os.path.exists(shot):
        os.remove(shot)
    report = render(static, bundle, shot, layout_height(definition))

    assert report["schemaChecked"], "%s: the preset's schema did not compile: %s" % (
        name, report["schema"])
    assert report["schema"] == [], "%s: schema errors: %s" % (name, report["schema"])
    assert report["validation"] == [], "%s: schema errors: %s" % (name, report["validation"])
    assert report["errors"] == [], "%s: console errors: %s" % (name, report["errors"])
    assert report["rendered"], "%s: the dashboard never finished rendering" % name
    drawn = report["visualizations"]
    assert sorted(drawn) == sorted(definition["visualizations"]), name
    for viz_id, viz in definition["visualizations"].items():
        seen = drawn[viz_id]
        where = "%s %s (%s)" % (name, viz_id, viz["type"])
        for message in EMPTY_MESSAGES:
            assert message not in seen["text"], "%s shows %r" % (where, message)
        assert "N/A" not in seen["text"].splitlines(), "%s shows N/A" % where
        if viz["type"] == "splunk.table":
            rows = len(results[viz["dataSources"]["primary"]])
            assert seen["cells"] > 0, "%s drew no table cells" % where
            assert seen["cells"] >= min(rows, 5), "%s drew %d cells for %d rows" % (
                where, seen["cells"], rows)
        elif viz["type"] == "splunk.singlevalue":
            assert seen["svgShapes"] > 0 or seen["text"].strip(), "%s drew no value" % where
        elif viz["type"] in CHARTS:
            assert seen["svgShapes"] + seen["drawnCanvases"] > 5, "%s drew no chart" % where
    assert os.path.getsize(shot) > 10000, "%s: screenshot %s looks blank" % (name, shot)


def test_the_page_reports_what_splunk_s_framework_rejects(bundle, tmp_path):
    """The checks above can fail: a definition with an unknown option type, a visualization
    left out of the layout and a table over a data source with no rows is reported."""
    definition = {
        "title": "broken", "inputs": {}, "defaults": {},
        "visualizations": {
            "viz_table": {"type": "splunk.table", "title": "Empty",
                          "dataSources": {"primary": "ds_empty"}},
            "viz_orphan": {"type": "splunk.singlevalue", "dataSources": {"primary": "ds_empty"},
                           "options": {"majorFontSize": "very big"}},
        },
        "dataSources": {"ds_empty": {"type": "ds.test", "name": "empty", "options": {
            "data": {"fields": [{"name": "count"}], "columns": [[]]}}}},
        "layout": {"type": "grid", "options": {"width": 1440}, "globalInputs": [],
                   "structure": [{"item": "viz_table", "type": "block",
                                  "position": {"x": 0, "y": 0, "w": 1440, "h": 200}}]},
    }
    shot = str(tmp_path / "broken.png")
    report = render(definition, bundle, shot, 500)
    problems = " ".join(report["schema"])
    assert "viz_orphan" in problems and "majorFontSize" in problems, report["schema"]
    shown = report["visualizations"]["viz_table"]["text"]
    assert any(message in shown for message in EMPTY_MESSAGES), shown
