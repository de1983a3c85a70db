#!/usr/bin/env python
"""trailwatchtravel: impossible travel between consecutive logins of each user.

Splunk runs this script (search command protocol v2); the logic is in
trailwatch.detect.travel. See searchbnf.conf for usage.
"""
import os
import sys

import import_declare_test  # noqa: F401  (puts the add-on's lib/ on sys.path)

from splunklib.searchcommands import Configuration, EventingCommand, Option, dispatch

from trailwatch.detect import ipranges, options, travel

LOOKUPS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lookups")
INPUT_FIELDS = ("_time", "user", "src_ip", "lat", "lon", "City", "Country")
# Alert context carried from the later login to the result.
CONTEXT_FIELDS = ("user_arn", "user_type", "aws_account_id", "region", "eventName")
OUTPUT_FIELDS = ("from_time", "from_ip", "from_city", "from_country", "from_category",
                 "to_time", "to_ip", "to_city", "to_country", "to_category",
                 "distance_km", "elapsed_hours", "speed_kmh", "travel_severity",
                 "travel_reason")


def _float(value):
    if isinstance(value, list):
        value = value[0] if value else None
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value):
    if isinstance(value, list):
        value = value[0] if value else None
    return value or ""


@Configuration()
class TrailwatchTravelCommand(EventingCommand):
    """An events command on the search head: pairs need every login of a user in time order,
    which no single indexer has. required_fields: the login fields, the IP category, the alert
    context fields and any named in keep=."""

    max_speed = Option(default="900", doc="Speed in km/h above which travel is impossible (default 900).")
    min_distance = Option(default="500", doc="Distance in km at or below which nothing alerts (default 500).")
    ignore_borders = Option(default="false", doc="Do not alert between bordering countries (default false).")
    category_field = Option(default="ip_category", doc="Field with the IP category from trailwatchipclass.")
    relay_categories = Option(default=",".join(travel.DEFAULT_RELAY_CATEGORIES),
                              doc="IP categories of VPNs and relays (default anonymous,corporate).")
    relay_action = Option(default="drop", doc="drop (default) or lower (severity low) travel through a relay.")
    all = Option(default="false", doc="Output every consecutive pair with its verdict, not only alerts.")
    keep = Option(default="", doc="More fields to carry from the later login, comma-separated; "
                  "each also comes from the earlier login as from_<field>.")

    def prepare(self):
        name = "trailwatchtravel"
        try:
            max_speed = options.number(name, "max_speed", self.max_speed, minimum=0)
            min_distance = options.number(name, "min_distance", self.min_distance, minimum=0)
            ignore_borders = options.boolean(name, "ignore_borders", self.ignore_borders)
            self.category_field = options.field(name, "category_field", self.category_field)
            categories = [options.choice(name, "relay_categories", c, ipranges.CATEGORIES)
                          for c in self.relay_categories.split(",") if c.strip()]
            relay_action = options.choice(name, "relay_action", self.relay_action, ("drop", "lower"))
            self.all = options.boolean(name, "all", self.all)
            keep = options.field_list(name, "keep", self.keep)
        except options.OptionError as exc:
            self.write_error(str(exc))
            raise SystemExit(1)
        borders = None
        if ignore_borders:
            path = os.path.join(LOOKUPS_DIR, travel.BORDERS_LOOKUP)
            borders = travel.load_borders(path)
            if not borders:
                self.write_error("%s: ignore_borders=true needs the lookup %s" % (name, path))
                raise SystemExit(1)
        self.tracker = travel.TravelTracker(
            max_speed=max_speed, min_distance=min_distance, relay_categories=categories,
            relay_action=relay_action, borders=borders)
        self.context = list(dict.fromkeys(list(CONTEXT_FIELDS) + keep))
        self.kept = keep
        required = list(INPUT_FIELDS) + [self.category_field] + self.context
        self.configuration.required_fields = list(dict.fromkeys(required))
        self.counts = {"records": 0, "located": 0}

    def transform(self, records):
        tracker = self.tracker
        category_field = self.category_field
        for record in records:
            self.counts["records"] += 1
            user = _text(record.get("user"))
            when = _float(record.get("_time"))
            lat, lon = _float(record.get("lat")), _float(record.get("lon"))
            if not user or when is None or lat is None or lon is None:
                continue
            self.counts["located"] += 1
            login = travel.Login(when, _text(record.get("src_ip")), lat, lon,
                                 _text(record.get("City")), _text(record.get("Country")),
                                 _text(record.get(category_field)), record)
            trip = tracker.feed(user, login)
            if trip is None or not (trip.alert or self.all):
                continue
            yield self._row(trip)
        if self._finished:
            if self.counts["records"] and not self.counts["located"]:
                self.write_warning("trailwatchtravel: no record had user, _time, lat and lon; "
                                   "run iplocation on the source IP first")
            if tracker.out_of_order:
                self.write_warning("trailwatchtravel: %d logins were out of time order; sort "
                                   "by _time first" % tracker.out_of_order)

    def _row(self, trip):
        start, end = trip.start, trip.end
        row = {"_time": end.time, "user": trip.user}
        record = end.record  # the later login's whole record: its alert context fields
        row.update((field, record.get(field)) for field in self.context)
        row.update(("from_" + field, start.record.get(field)) for field in self.kept)
        row.update({
            "from_time": start.time, "from_ip": start.ip, "from_city": start.city,
            "from_country": start.country, "from_category": start.category,
            "to_time": end.time, "to_ip": end.ip, "to_city": end.city,
            "to_country": end.country, "to_category": end.category,
            "src_ip": end.ip, "src_country": end.country,
            "distance_km": round(trip.distance_km, 1), "elapsed_hours": round(trip.hours, 4),
            "speed_kmh": round(trip.speed_kmh, 1), "travel_severity": trip.severity,
            "travel_alert": 1 if trip.alert else 0, "travel_reason": trip.reason,
        })
        return row


if __name__ == "__main__":
    dispatch(TrailwatchTravelCommand, sys.argv, sys.stdin, sys.stdout, __name__)
