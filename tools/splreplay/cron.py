"""cron_schedule as Splunk reads it (savedsearches.conf.spec: "a standard cron string";
five fields: minute hour day-of-month month day-of-week, in the scheduler's time zone, UTC
here). Fields take ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, and lists.
As in standard cron, when both day fields are restricted a day matching either one runs.
"""
import datetime

from .errors import ConfigError

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(text, lo, hi, what):
    out = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, _, s = part.partition("/")
            if not s.isdigit() or int(s) < 1:
                raise ConfigError("cron_schedule: bad step in %s field %r" % (what, text))
            step = int(s)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            x, _, y = part.partition("-")
            if not (x.isdigit() and y.isdigit()):
                raise ConfigError("cron_schedule: bad range in %s field %r" % (what, text))
            a, b = int(x), int(y)
        elif part.isdigit():
            a = b = int(part)
            if step != 1:
                b = hi
        else:
            raise ConfigError("cron_schedule: %s field %r is not a number, range, step or *"
                              % (what, text))
        if a < lo or b > hi or a > b:
            raise ConfigError("cron_schedule: %s field %r is outside %d-%d" % (what, text, lo, hi))
        out.update(range(a, b + 1, step))
    return out


class Cron:
    def __init__(self, text):
        parts = text.split()
        if len(parts) != 5:
            raise ConfigError("cron_schedule %r: expected five fields (minute hour day month "
                              "weekday)" % text)
        names = ("minute", "hour", "day-of-month", "month", "day-of-week")
        sets = [_field(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _BOUNDS, names, strict=True)]
        self.minutes, self.hours, self.days, self.months, dows = sets
        self.dows = {d % 7 for d in dows}  # 0 and 7 are Sunday
        self.day_star = parts[2].startswith("*")
        self.dow_star = parts[4].startswith("*")

    def matches(self, dt):
        if dt.minute not in self.minutes or dt.hour not in self.hours \
                or dt.month not in self.months:
            return False
        dom = dt.day in self.days
        dow = (dt.isoweekday() % 7) in self.dows
        if self.day_star or self.dow_star:
            return dom and dow
        return dom or dow

    def times(self, start, end):
        """Epoch seconds of every scheduled minute with start <= t <= end."""
        t = int(start // 60 * 60)
        if t < start:
            t += 60
        out = []
        while t <= end:
            dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
            if dt.hour in self.hours:
                if self.matches(dt):
                    out.append(float(t))
                t += 60
            else:  # skip to the next hour
                t = (t // 3600 + 1) * 3600
        return out
