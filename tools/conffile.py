"""Reading Splunk .conf files: the one reader the build's conf checker, splreplay and the
splunkd double share.

What a line means (Admin Manual, "About configuration files"):
- ``[stanza]`` starts a stanza; settings before the first header belong to ``default``.
- ``#`` starts a comment only at the start of a line (after whitespace); Splunk has no
  inline comments, so ``a = b # c`` has the value ``b # c``.
- A line ending in ``\\`` continues on the next line, and the line break is kept in the value
  (multi-line searches in savedsearches.conf keep their shape); a line ending in ``\\\\``
  (an escaped backslash) does not continue.
- ``key = value``: both sides stripped of surrounding whitespace.
"""


def entries(text):
    """[(stanza, key, value, line number)] in file order. A line that is neither a stanza
    header, a comment nor ``key = value`` gives ``value`` None and the whole line as ``key``
    (each caller decides whether that is an error)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    out = []
    stanza = "default"
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].rstrip("\r")
        i += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            stanza = stripped[1:-1]
            out.append((stanza, None, None, number))
            continue
        while line.endswith("\\") and not line.endswith("\\\\") and i < len(lines):
            line = line[:-1] + "\n" + lines[i].rstrip("\r")
            i += 1
        key, sep, value = line.partition("=")
        if not sep:
            out.append((stanza, stripped, None, number))
            continue
        out.append((stanza, key.strip(), value.strip(), number))
    return out


def read(path):
    """``entries`` of the file at ``path`` (UTF-8, with or without a byte order mark)."""
    with open(path, encoding="utf-8-sig") as handle:
        return entries(handle.read())
