"""splreplay: a strict evaluator of exactly the SPL the TrailWatch add-on ships.

It replays CloudTrail records through the add-on's own saved searches, macros, props,
lookups and Python search commands, and refuses (with the name and position) any command,
function, option or syntax it does not implement. See README.md for what is supported.
"""
from .runner import Replay  # noqa: F401
