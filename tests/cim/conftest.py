"""CIM compliance tests: put tools/ (splreplay) and this folder (cim_check) on sys.path."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools")
for path in (TOOLS, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)
