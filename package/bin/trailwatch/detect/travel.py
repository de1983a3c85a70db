"""Impossible travel: consecutive located logins of a user, great-circle speed between them.

The tracker keeps one login per user (the previous one), so memory grows with the number of
users, not of logins. Logins must arrive in time order, either direction (Splunk returns
events newest first); the tracker pairs each login with the previous one of the same user.
"""
import csv
import math
import os

EARTH_RADIUS_KM = 6371.0088
BORDERS_LOOKUP = "trailwatch_b04_bordering_countries.csv"
DEFAULT_RELAY_CATEGORIES = ("anonymous", "corporate")


def great_circle_km(lat1, lon1, lat2, lon2):
    """Haversine distance in kilometres on a sphere of the mean Earth radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def load_borders(path):
    """Set of frozenset({country_a, country_b}) pairs (lower-case names) from a CSV."""
    pairs = set()
    if not os.path.isfile(path):
        return pairs
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            a = (row.get("country_a") or "").strip().lower()
            b = (row.get("country_b") or "").strip().lower()
            if a and b:
                pairs.add(frozenset((a, b)))
    return pairs


class Login(object):
    """A located login; ``record`` is what the caller wants back with an alert (the search
    command keeps the input record)."""

    __slots__ = ("time", "ip", "lat", "lon", "city", "country", "category", "record")

    def __init__(self, time, ip, lat, lon, city, country, category, record=None):
        self.time = time
        self.ip = ip
        self.lat = lat
        self.lon = lon
        self.city = city
        self.country = country
        self.category = category
        self.record = record


class Trip(object):
    """Two consecutive logins of a user, earlier first, and the verdict on them. ``verdict``
    is one of VERDICTS; ``reason`` puts it in words (built when read: most pairs are never
    output)."""

    __slots__ = ("user", "start", "end", "distance_km", "hours", "speed_kmh", "alert",
                 "severity", "verdict", "relays", "max_speed")

    def __init__(self, user, start, end, distance_km, hours, speed_kmh, alert, severity,
                 verdict, relays=(), max_speed=None):
        self.user = user
        self.start = start
        self.end = end
        self.distance_km = distance_km
        self.hours = hours
        self.speed_kmh = speed_kmh
        self.alert = alert
        self.severity = severity
        self.verdict = verdict
        self.relays = relays
        self.max_speed = max_speed

    @property
    def reason(self):
        seconds = self.hours * 3600.0
        route = "%s to %s: %.0f km in %s, %.0f km/h" % (
            _where(self.start), _where(self.end), self.distance_km, _duration(seconds),
            self.speed_kmh)
        verdict = self.verdict
        if verdict == "same_ip":
            return "same IP address: " + route
        if verdict == "possible":
            return "possible travel: " + route
        if verdict == "borders":
            return "bordering countries ignored: " + route
        if verdict == "relay":
            return "through a VPN or relay (%s): %s" % (", ".join(self.relays), route)
        if verdict == "relay_lowered":
            return "impossible travel through a VPN or relay (%s): %s" % (
                ", ".join(self.relays), route)
        return "impossible travel: %s, above %.0f km/h" % (route, self.max_speed)


VERDICTS = ("same_ip", "possible", "borders", "relay", "relay_lowered", "impossible")


def _where(login):
    place = ", ".join(x for x in (login.city, login.country) if x) or "unknown place"
    return "%s (%s)" % (place, login.ip)


class TravelTracker(object):
    """Feed logins one by one; ``feed`` returns a Trip for each consecutive pair."""

    def __init__(self, max_speed=900.0, min_distance=500.0, relay_categories=DEFAULT_RELAY_CATEGORIES,
                 relay_action="drop", borders=None, min_seconds=1.0):
        self.max_speed = float(max_speed)
        self.min_distance = float(min_distance)
        self.relay_categories = frozenset(c.lower() for c in relay_categories)
        self.relay_action = relay_action
        self.borders = borders  # None: rule off; else a set of frozenset pairs
        self.min_seconds = float(min_seconds)
        self.last = {}
        self.direction = {}
        self.out_of_order = 0

    def feed(self, user, login):
        previous = self.last.get(user)
        self.last[user] = login
        if previous is None:
            return None
        delta = login.time - previous.time
        if delta:
            sign = 1 if delta > 0 else -1
            seen = self.direction.setdefault(user, sign)
            if seen != sign:
                self.out_of_order += 1
                self.direction[user] = sign
        start, end = (previous, login) if delta >= 0 else (login, previous)
        return self.judge(user, start, end)

    def judge(self, user, start, end):
        distance = great_circle_km(start.lat, start.lon, end.lat, end.lon)
        seconds = max(end.time - start.time, self.min_seconds)
        hours = seconds / 3600.0
        speed = distance / hours
        if start.ip == end.ip:
            return Trip(user, start, end, distance, hours, speed, False, "", "same_ip")
        if distance <= self.min_distance or speed <= self.max_speed:
            return Trip(user, start, end, distance, hours, speed, False, "", "possible")
        if self.borders is not None and start.country and end.country:
            a, b = start.country.lower(), end.country.lower()
            if a != b and frozenset((a, b)) in self.borders:
                return Trip(user, start, end, distance, hours, speed, False, "", "borders")
        relays = [x.category for x in (start, end) if x.category and x.category.lower()
                  in self.relay_categories]
        if relays:
            if self.relay_action == "drop":
                return Trip(user, start, end, distance, hours, speed, False, "", "relay", relays)
            return Trip(user, start, end, distance, hours, speed, True, "low", "relay_lowered",
                        relays)
        return Trip(user, start, end, distance, hours, speed, True,
                    "high" if speed > 2 * self.max_speed else "medium", "impossible", (),
                    self.max_speed)


def _duration(seconds):
    if seconds < 120:
        return "%.0f s" % seconds
    if seconds < 7200:
        return "%.0f min" % (seconds / 60.0)
    return "%.1f h" % (seconds / 3600.0)
