"""Validation of search command options with messages that say what is expected.

(splunklib's own validators only report "Illegal value"; the commands take options as text
and check them here, so a bad option fails the search with the reason.)
"""
import re

_FIELD = re.compile(r"^[A-Za-z_][\w.{}:-]*$")


class OptionError(ValueError):
    pass


def number(command, name, value, minimum=None, maximum=None, integer=False):
    kind = "a whole number" if integer else "a number"
    try:
        result = int(str(value)) if integer else float(str(value))
    except (TypeError, ValueError):
        raise OptionError("%s: %s must be %s%s, not %r"
                          % (command, name, kind, _bounds(minimum, maximum), value))
    if result != result or (minimum is not None and result < minimum) or \
            (maximum is not None and result > maximum):
        raise OptionError("%s: %s must be %s%s, not %r"
                          % (command, name, kind, _bounds(minimum, maximum), value))
    return result


def boolean(command, name, value):
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "y", "yes"):
        return True
    if text in ("0", "f", "false", "n", "no"):
        return False
    raise OptionError("%s: %s must be true or false, not %r" % (command, name, value))


def choice(command, name, value, allowed):
    text = str(value).strip().lower()
    if text not in allowed:
        raise OptionError("%s: %s must be one of %s, not %r"
                          % (command, name, ", ".join(allowed), value))
    return text


def field(command, name, value):
    text = str(value).strip()
    if not _FIELD.match(text):
        raise OptionError("%s: %s must be a field name, not %r" % (command, name, value))
    return text


def field_list(command, name, value):
    return [field(command, name, part) for part in str(value).split(",") if part.strip()]


def _bounds(minimum, maximum):
    if minimum is not None and maximum is not None:
        return " from %s to %s" % (minimum, maximum)
    if minimum is not None:
        return " of at least %s" % minimum
    if maximum is not None:
        return " of at most %s" % maximum
    return ""
