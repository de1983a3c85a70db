"""Errors splreplay reports. Every one is a clear, one-line reason for stderr."""


class ReplayError(Exception):
    """Something cannot run: bad input, bad configuration, a search error."""

    exit_code = 2


class InputError(ReplayError):
    """An events file (or line in it) cannot be read."""

    exit_code = 2


class ConfigError(ReplayError):
    """The app's configuration cannot be used as written."""

    exit_code = 2


class SplError(ReplayError):
    """The SPL is malformed or uses something splreplay does not implement.

    ``pos`` is a 0-based character offset into ``text`` (the search after macro
    expansion) when known; the message then shows it and a caret excerpt.
    """

    exit_code = 3

    def __init__(self, message, pos=None, text=None):
        self.message = message
        self.pos = pos
        self.text = text
        super().__init__(self._render())

    def _render(self):
        if self.pos is None:
            return self.message
        msg = "%s (at position %d)" % (self.message, self.pos)
        if self.text is not None:
            start = max(0, self.pos - 30)
            excerpt = self.text[start:self.pos + 30].replace("\n", " ")
            msg += "\n    %s\n    %s^" % (excerpt, " " * (self.pos - start))
        return msg

    def with_text(self, text, offset=0):
        """Return a copy located in a larger text (offset of the sub-text in it)."""
        pos = None if self.pos is None else self.pos + offset
        err = type(self)(self.message, pos, text)
        return err


class Unsupported(SplError):
    """A command, function, option or syntax splreplay refuses (not implemented)."""


class SearchRuntimeError(ReplayError):
    """A search failed while running (Splunk would stop with an error too)."""

    exit_code = 4
