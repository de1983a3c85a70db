"""spath paths: ``a.b{}.c``. Objects by key, ``{}`` for every array element.

A path that ends on an object or array yields that subtree as JSON text, as spath does.
Array positions (``{N}``) and XML are refused.
"""
import json
import re

from .errors import Unsupported
from .events import _scalar_text, flatten_json

_STEP = re.compile(r"([^.{}]+)|\{\}|\{(\d+)\}|\.")


def compile_path(text, pos=None):
    steps = []
    i = 0
    text = str(text)
    while i < len(text):
        m = _STEP.match(text, i)
        if not m:
            raise Unsupported("spath path %r is not supported" % text, pos)
        tok = m.group(0)
        if m.group(2) is not None:
            raise Unsupported("spath array positions like {%s} are not supported; use {} and "
                              "mvindex()" % m.group(2), pos)
        if tok == "{}":
            steps.append(None)
        elif tok != ".":
            steps.append(tok)
        i = m.end()
    return steps


def _walk(nodes, steps):
    for step in steps:
        nxt = []
        for node in nodes:
            if step is None:
                if isinstance(node, list):
                    nxt.extend(node)
            elif isinstance(node, dict) and step in node:
                nxt.append(node[step])
        nodes = nxt
    return nodes


def _render(node):
    if isinstance(node, (dict, list)):
        return json.dumps(node, ensure_ascii=False)
    return _scalar_text(node)


def extract(text, steps):
    """Values at ``steps`` in JSON ``text`` -> None, one value or a list."""
    try:
        doc = json.loads(text)
    except (ValueError, TypeError):
        return None
    found = [_render(n) for n in _walk([doc], steps)]
    if not found:
        return None
    return found[0] if len(found) == 1 else found


def extract_all(text):
    try:
        doc = json.loads(text)
    except (ValueError, TypeError):
        return {}
    if not isinstance(doc, (dict, list)):
        return {}
    return flatten_json(doc)
