import calendar


def normalizeBoolean(value, enableStrictMode=False, includeIntegers=True):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "t", "y", "on"):
        return True
    if text in ("0", "false", "no", "f", "n", "off", ""):
        return False
    if enableStrictMode:
        raise ValueError("Unable to cast value to boolean: %s" % value)
    return value


def mktimegm(time_tuple):
    return calendar.timegm(time_tuple)
