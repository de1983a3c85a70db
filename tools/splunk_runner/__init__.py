"""Running the built add-on's parts the way Splunk runs them, outside Splunk: moto on
127.0.0.1 for AWS (moto_server), modular inputs with their input definition on stdin and
their XML event stream on stdout (modinput), alert actions with `--execute` and the undo
command through search command protocol v2 (alert_action). splunkd's REST endpoints are the
loopback double in tools/splunkd_double.

Shared by the test suite, the benchmarks and `./build.sh demo`.
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILT_APP = os.path.join(ROOT, "output", "TA-trailwatch")
