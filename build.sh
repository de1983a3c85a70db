#!/usr/bin/env bash
# TrailWatch for AWS: the one entry point for building, testing and inspecting the add-on.
#
#   ./build.sh            build the add-on and package it as dist/TA-trailwatch-<version>.tar.gz
#   ./build.sh test       run the whole test suite (builds first when the build is stale), on
#                         every core; extra arguments go to pytest (-n 0: in one process)
#   ./build.sh inspect    run Splunk AppInspect (precert, cloud tag) on the package
#   ./build.sh replay ... run the add-on's saved searches over CloudTrail files (tools/splreplay)
#   ./build.sh backtest . run the scheduled saved searches as Splunk's scheduler would
#                         (tools/splreplay/backtest.py: --events --from --to [--index-delay ...])
#   ./build.sh bench      run the benchmarks under bench/ (JSON figures on stdout)
#   ./build.sh demo       the whole add-on on a made-up organisation, in moto: inputs, detections,
#                         governance actions and undo, dashboards as PNG (demo-output/)
#   ./build.sh docs       regenerate docs/detection-index.md from detections/
#   ./build.sh clean      remove build output (keeps the virtual environment)
#
# Everything it needs goes into .venv/ (created or reused), from pinned versions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

APP_ID="TA-trailwatch"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
OUTPUT="$ROOT/output"
DIST="$ROOT/dist"
BASE_PYTHON="${TRAILWATCH_PYTHON:-python3}"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

version() {
    "$BASE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["meta"]["version"])' \
        "$ROOT/globalConfig.json"
}

ensure_venv() {
    local stamp="$VENV/.requirements-dev.sha256"
    local want
    want="$(sha256sum requirements-dev.txt | cut -d' ' -f1)"
    if [[ -x "$PY" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return
    fi
    command -v "$BASE_PYTHON" >/dev/null || die "needs $BASE_PYTHON (3.9 or newer) to create .venv"
    say "preparing $VENV"
    [[ -x "$PY" ]] || "$BASE_PYTHON" -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.2"
    # Every pin but the data-only one (see requirements-dev.txt), which goes to .venv/cim.
    "$PY" -m pip install --quiet --disable-pip-version-check \
        -r <(grep -v '^pytest-splunk-addon==' requirements-dev.txt)
    "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
        --target "$VENV/cim" "$(grep -o '^pytest-splunk-addon==[^ ]*' requirements-dev.txt)"
    echo "$want" > "$stamp"
}

# The build is stale when any input is newer than the package.
build_is_stale() {
    local pkg="$DIST/$APP_ID-$(version).tar.gz"
    [[ -f "$pkg" ]] || return 0
    [[ -n "$(find globalConfig.json package detections tools/twcontent tools/confcheck tools/conffile.py \
        additional_packaging.py build.sh -newer "$pkg" -print -quit)" ]]
}

build() {
    ensure_venv
    local ver
    ver="$(version)"
    say "building $APP_ID $ver with ucc-gen"
    # Build beside output/ in a folder of this build's own (two builds at once do not share
    # one) and swap it in at the end with two renames, so a reader of output/ (a test run)
    # never sees a half-built add-on and output/ is missing only between the two renames.
    local staging
    staging="$(mktemp -d "$ROOT/.build-staging.XXXXXX")"
    BUILD_STAGING="$staging"
    trap 'rm -rf "${BUILD_STAGING:-}"' EXIT
    # --pip-version 25.2: ucc-gen 6.6.0 checks `pip show --version`, which pip 26 breaks.
    # --no-deps: package/lib/requirements.txt is the complete, pinned closure.
    "$VENV/bin/ucc-gen" build --source package --config globalConfig.json \
        --ta-version "$ver" --output "$staging/output" \
        --python-binary-name "$PY" --pip-version 25.2 \
        --pip-custom-flag "--no-compile --prefer-binary --ignore-installed --no-deps" >&2
    # savedsearches.conf exists only in the build: rendered from detections/*/detection.yml.
    say "rendering savedsearches.conf from detections/"
    PYTHONPATH="$ROOT/tools" "$PY" -m twcontent render \
        --out "$staging/output/$APP_ID/default/savedsearches.conf"
    # Every .conf of the add-on, UCC's included, against Splunk's published .conf.spec keys.
    say "checking every .conf against Splunk's .conf.spec (9.4 and 10.0)"
    PYTHONPATH="$ROOT/tools" "$PY" -m confcheck "$staging/output/$APP_ID"
    chmod -R u+rwX,go+rX,go-w "$staging/output/$APP_ID"
    mkdir -p "$staging/dist"
    "$VENV/bin/ucc-gen" package --path "$staging/output/$APP_ID" --output "$staging/dist" >&2
    local produced
    produced="$(ls "$staging/dist/$APP_ID"-*.tar.gz | head -n1)"
    if [[ -e "$OUTPUT" ]]; then mv "$OUTPUT" "$staging/previous-output"; fi
    mv "$staging/output" "$OUTPUT"
    mkdir -p "$DIST"
    rm -f "$DIST/$APP_ID-"*.tar.gz
    mv "$produced" "$DIST/$APP_ID-$ver.tar.gz"
    rm -rf "$staging"
    say "package: dist/$APP_ID-$ver.tar.gz"
}

ensure_built() {
    if build_is_stale || [[ ! -d "$OUTPUT/$APP_ID" ]]; then build; fi
}

# The browser test's node packages (tests/browser, never shipped): installed from the lockfile
# with `npm ci` when missing or when the lockfile changed.
ensure_browser_packages() {
    local dir="$ROOT/tests/browser"
    local stamp="$dir/node_modules/.package-lock.sha256"
    local want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return
    fi
    command -v npm >/dev/null || die "the browser test needs node and npm (Debian: apt-get install -y nodejs npm)"
    say "installing the browser test's node packages (npm ci in tests/browser)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" > "$stamp"
}

# The suite runs on every core (pytest-xdist), a test file per worker at a time (--dist
# loadfile: a module's fixtures, e.g. the previous release's build, are made once).
# TRAILWATCH_TEST_WORKERS sets the count; `./build.sh test -n 0 ...` runs in one process.
run_tests() {
    ensure_venv
    ensure_built
    ensure_browser_packages
    local workers="${TRAILWATCH_TEST_WORKERS:-$(nproc)}"
    say "running the test suite ($workers workers)"
    "$PY" -m pytest -n "$workers" --dist loadfile "$@"
}

inspect() {
    ensure_venv
    ensure_built
    local pkg="$DIST/$APP_ID-$(version).tar.gz"
    local report="$DIST/appinspect-report.json"
    say "AppInspect (precert, cloud) on $pkg"
    "$VENV/bin/splunk-appinspect" inspect "$pkg" --mode precert --included-tags cloud \
        --skip-trusted-libraries-update --output-file "$report" --data-format json >&2 || true
    "$PY" "$ROOT/tools/appinspect_summary.py" "$report"
}

cmd="${1:-build}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
    build|package) build ;;
    test) run_tests "$@" ;;
    inspect) inspect ;;
    bench)
        ensure_venv
        ensure_built
        shopt -s nullglob
        benches=("$ROOT"/bench/bench_*.py)
        [[ ${#benches[@]} -gt 0 ]] || die "no benchmarks under bench/"
        for bench in "${benches[@]}"; do
            say "benchmark $(basename "$bench")"
            PYTHONPATH="$ROOT/tools" "$PY" "$bench" "$@"
        done ;;
    replay)
        ensure_venv
        ensure_built
        PYTHONPATH="$ROOT/tools" exec "$PY" -m splreplay --app "$OUTPUT/$APP_ID" "$@" ;;
    docs)
        ensure_venv
        PYTHONPATH="$ROOT/tools" "$PY" -m twcontent docs ;;
    demo)
        ensure_venv
        ensure_built
        # The dashboards' node packages when npm is there; without it the demo's dashboard
        # step fails saying what to install.
        if command -v npm >/dev/null; then ensure_browser_packages; fi
        PYTHONPATH="$ROOT/tools" exec "$PY" -m trailwatch_demo --app "$OUTPUT/$APP_ID" \
            --out "$ROOT/demo-output" "$@" ;;
    backtest)
        ensure_venv
        ensure_built
        PYTHONPATH="$ROOT/tools" exec "$PY" -m splreplay.backtest --app "$OUTPUT/$APP_ID" "$@" ;;
    clean) rm -rf "$OUTPUT" "$DIST" "$ROOT"/.build-staging* ;;
    -h|--help|help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (try: ./build.sh help)" ;;
esac
