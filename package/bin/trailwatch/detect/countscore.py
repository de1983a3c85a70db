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
    parts = []
    if z is not None:
        parts.append("robust z %.1f %s %s" % (z, "above" if robust_hit else "within", _fmt(k)))
    if p is not None:
        parts.append("Poisson p %.2g %s %s" % (p, "below" if poisson_hit else "not below",
                                             _fmt(p_threshold)))
    reason = "%s %s%s: %s" % (_fmt(count), label, usual_text, ", ".join(parts))
    return Score(hit, z, p, "anomalous" if hit else "normal", reason)
