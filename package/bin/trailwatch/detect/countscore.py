"""Score a count (events or objects in an hour) against an entity's baseline.

Two views of "unusual", either of which can decide (``method``):

- robust z: ``(count - median) / (1.4826 * MAD)``; 1.4826 makes the MAD estimate the
  standard deviation of normal data, so ``k = 3.5`` is the usual outlier cut. When the MAD is
  0 (a user who always does the same) the scale falls back to ``min_scale`` (default 1);
- Poisson tail: ``P(X >= count)`` for a Poisson variable whose mean is the baseline mean; a
  small probability means the count is unlikely under the user's usual rate.

A count never alerts below the absolute ``floor``, nor while the entity's baseline has fewer
than ``min_days`` days of data (learning period).
"""
import math

MAD_TO_SIGMA = 1.4826
METHODS = ("either", "both", "robust", "poisson")


def robust_z(count, median, mad, min_scale=1.0):
    scale = MAD_TO_SIGMA * mad if mad and mad > 0 else 0.0
    scale = max(scale, min_scale)
    return (count - median) / scale


def poisson_tail(count, mean):
    """P(X >= count) for X ~ Poisson(mean), summed term by term (relative error < 1e-12)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    count = int(math.ceil(count))
    if count > mean:
        # Terms above the mode decrease: sum from count upwards until they vanish.
        term = math.exp(-mean + count * math.log(mean) - math.lgamma(count + 1))
        total = 0.0
        k = count
        while term > total * 1e-13:
            total += term
            k += 1
            term *= mean / k
        return min(1.0, total)
    # At or below the mean the head is the short side: 1 - P(X <= count - 1).
    if mean < 700:
        term = math.exp(-mean)
        head = term
        for k in range(1, count):
            term *= mean / k
            head += term
    else:
        log_mean = math.log(mean)
        head = sum(math.exp(-mean + k * log_mean - math.lgamma(k + 1)) for k in range(count))
    return max(0.0, 1.0 - head)


class Score(object):
    __slots__ = ("anomalous", "robust_z", "poisson_p", "state", "reason")

    def __init__(self, anomalous, z, p, state, reason):
        self.anomalous = anomalous
        self.robust_z = z
        self.poisson_p = p
        self.state = state
        self.reason = reason


def _num(value):
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no number


def _fmt(number):
    if number is None:
        return "?"
    if abs(number) < 1e15 and number == int(number):
        return "%d" % number
    return "%.3g" % number


def score(count, median=None, mad=None, mean=None, days=None, floor=1.0, k=3.5,
          p_threshold=0.001, min_days=7, method="either", min_scale=1.0, label="events"):
    """Decide whether ``count`` is unusual for the baseline; returns a Score with a reason.

    ``state`` is one of: ``anomalous``, ``normal``, ``below_floor``, ``learning``,
    ``no_baseline``, ``no_count``.
    """
    count = _num(count)
    median, mad, mean, days = _num(median), _num(mad), _num(mean), _num(days)
    if count is None:
        return Score(False, None, None, "no_count", "no count to score")
    z = robust_z(count, median, mad or 0.0, min_scale) if median is not None else None
    p = poisson_tail(count, mean) if mean is not None else None
    usual = []
    if median is not None:
        usual.append("median %s, MAD %s" % (_fmt(median), _fmt(mad or 0)))
    if mean is not None:
        usual.append("mean %s" % _fmt(mean))
    usual_text = (" (usual: %s)" % "; ".join(usual)) if usual else ""
    if min_days > 0 and (days is None or days < min_days):
        have = "no" if days is None else _fmt(days)
        return Score(False, z, p, "learning",
                     "%s %s%s, but the baseline has %s of the %s days it needs (learning)"
                     % (_fmt(count), label, usual_text, have, _fmt(min_days)))
    if count < floor:
        return Score(False, z, p, "below_floor", "%s %s is below the floor of %s"
                     % (_fmt(count), label, _fmt(floor)))
    if z is None and p is None:
        return Score(False, None, None, "no_baseline",
                     "%s %s but no baseline (median or mean) for this entity"
                     % (_fmt(count), label))
    robust_hit = z is not None and z > k
    poisson_hit = p is not None and p < p_threshold
    if method == "robust":
        hit = robust_hit
    elif method == "poisson":
        hit = poisson_hit
    elif method == "both":
        hit = robust_hit and poisson_hit
    else:
        hit = robust_hit or poisson_hit
    z_part = None if z is None else "robust z %.1f %s %s" % (
        z, "above" if robust_hit else "within", _fmt(k))
    p_part = None if p is None else "Poisson p %.2g %s %s" % (
        p, "below" if poisson_hit else "not below", _fmt(p_threshold))
    reason = "%s %s%s: %s" % (_fmt(count), label, usual_text, _tests_in_words(method, z_part, p_part))
    return Score(hit, z, p, "anomalous" if hit else "normal", reason)


def _tests_in_words(method, z_part, p_part):
    """The reason's verdicts: those of the tests ``method`` decides by (robust: z only,
    poisson: p only), or, when the baseline lacks what those need, whatever could be computed."""
    used = [part for part, skip in ((z_part, "poisson"), (p_part, "robust"))
            if part is not None and method != skip]
    return ", ".join(used or [part for part in (z_part, p_part) if part is not None])


class Scorer(object):
    """``score`` for a stream of rows with the same settings, answering the output values as
    the search command writes them: (anomalous "1"/"0", state, robust z rounded to 3 places as
    text or None, Poisson p as "%.4g" or None, reason). Same decisions and text as ``score``.
    Inputs are the raw field values; what repeats across rows (a count, a baseline, a robust z
    or Poisson part, a whole row) is computed once and kept in dicts of at most LIMIT entries."""

    LIMIT = 20000

    def __init__(self, floor=1.0, k=3.5, p_threshold=0.001, min_days=7, method="either",
                 min_scale=1.0, label="events"):
        if method not in METHODS:
            raise ValueError("method must be one of %s" % ", ".join(METHODS))
        self.settings = dict(floor=floor, k=k, p_threshold=p_threshold, min_days=min_days,
                             method=method, min_scale=min_scale, label=label)
        self.floor, self.k, self.p_threshold = floor, k, p_threshold
        self.min_days, self.method, self.min_scale, self.label = min_days, method, min_scale, label
        self.k_text, self.p_text = _fmt(k), _fmt(p_threshold)
        self.floor_text, self.min_days_text = _fmt(floor), _fmt(min_days)
        self._rows, self._counts, self._days = {}, {}, {}
        self._z, self._p, self._usual = {}, {}, {}

    def row(self, count, median=None, mad=None, mean=None, days=None):
        """The output values for one row; a multivalue input (a list, as splunklib hands a
        multivalue field) counts by its first value."""
        key = (count, median, mad, mean, days)
        rows = self._rows
        try:
            answer = rows.get(key)
        except TypeError:  # a list (multivalue) or another unhashable value
            values = [value[0] if value.__class__ is list and value else value for value in key]
            values = [None if value.__class__ is list else value for value in values]
            try:
                hash(tuple(values))
            except TypeError:  # still unhashable (not a value splunklib hands on): no memo
                return self._plain(*values)
            return self.row(*values)
        if answer is None:
            answer = self._compute(count, median, mad, mean, days)
            if len(rows) >= self.LIMIT:
                rows.clear()
            rows[key] = answer
        return answer

    def _plain(self, *values):
        result = score(*values, **self.settings)
        return ("1" if result.anomalous else "0", result.state,
                None if result.robust_z is None else str(round(result.robust_z, 3)),
                None if result.poisson_p is None else "%.4g" % result.poisson_p,
                result.reason)

    def _memo(self, table, key, value):
        if len(table) >= self.LIMIT:
            table.clear()
        table[key] = value
        return value

    def _compute(self, count_raw, median_raw, mad_raw, mean_raw, days_raw):
        known = self._counts.get(count_raw)
        if known is None:
            number = _num(count_raw)
            known = self._memo(self._counts, count_raw,
                               (number, None if number is None else _fmt(number)))
        count, count_text = known
        if count is None:
            return ("0", "no_count", None, None, "no count to score")
        key = (count_raw, median_raw, mad_raw)
        z_part = self._z.get(key)
        if z_part is None:
            median = _num(median_raw)
            if median is None:
                z_part = (None, None, False, None)
            else:
                z = robust_z(count, median, _num(mad_raw) or 0.0, self.min_scale)
                hit = z > self.k
                z_part = (z, str(round(z, 3)), hit, "robust z %.1f %s %s"
                          % (z, "above" if hit else "within", self.k_text))
            self._memo(self._z, key, z_part)
        key = (count_raw, mean_raw)
        p_part = self._p.get(key)
        if p_part is None:
            mean = _num(mean_raw)
            if mean is None:
                p_part = (None, None, False, None)
            else:
                p = poisson_tail(count, mean)
                hit = p < self.p_threshold
                p_part = (p, "%.4g" % p, hit, "Poisson p %.2g %s %s"
                          % (p, "below" if hit else "not below", self.p_text))
            self._memo(self._p, key, p_part)
        key = (median_raw, mad_raw, mean_raw)
        usual_text = self._usual.get(key)
        if usual_text is None:
            median, mad, mean = _num(median_raw), _num(mad_raw), _num(mean_raw)
            usual = []
            if median is not None:
                usual.append("median %s, MAD %s" % (_fmt(median), _fmt(mad or 0)))
            if mean is not None:
                usual.append("mean %s" % _fmt(mean))
            usual_text = self._memo(self._usual, key,
                                    (" (usual: %s)" % "; ".join(usual)) if usual else "")
        have = self._days.get(days_raw)
        if have is None:
            days = _num(days_raw)
            learning = self.min_days > 0 and (days is None or days < self.min_days)
            have = self._memo(self._days, days_raw, (
                learning, ("no" if days is None else _fmt(days)) if learning else None))
        z, z_text, robust_hit, z_reason = z_part
        p, p_text, poisson_hit, p_reason = p_part
        if have[0]:
            return ("0", "learning", z_text, p_text,
                    "%s %s%s, but the baseline has %s of the %s days it needs (learning)"
                    % (count_text, self.label, usual_text, have[1], self.min_days_text))
        if count < self.floor:
            return ("0", "below_floor", z_text, p_text, "%s %s is below the floor of %s"
                    % (count_text, self.label, self.floor_text))
        if z is None and p is None:
            return ("0", "no_baseline", None, None,
                    "%s %s but no baseline (median or mean) for this entity"
                    % (count_text, self.label))
        method = self.method
        if method == "either":
            hit = robust_hit or poisson_hit
        elif method == "robust":
            hit = robust_hit
        elif method == "poisson":
            hit = poisson_hit
        else:
            hit = robust_hit and poisson_hit
        return ("1" if hit else "0", "anomalous" if hit else "normal", z_text, p_text,
                "%s %s%s: %s" % (count_text, self.label, usual_text,
                                 _tests_in_words(method, z_reason, p_reason)))
