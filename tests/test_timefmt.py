"""trailwatch.timefmt: the one way TrailWatch writes a timestamp (events, audit, policies)."""
import datetime

from trailwatch.timefmt import iso_utc


def test_datetimes_and_epoch_seconds_in_utc_with_z():
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert iso_utc(datetime.datetime(2024, 3, 5, 10, 0, 7, 900000, tzinfo=paris)) == "2024-03-05T09:00:07Z"
    assert iso_utc(datetime.datetime(2024, 3, 5, 9, 0, 7)) == "2024-03-05T09:00:07Z"  # naive: UTC
    assert iso_utc(1709629207) == "2024-03-05T09:00:07Z"
    assert iso_utc(1709629207.9) == "2024-03-05T09:00:07Z"


def test_anything_else_is_returned_unchanged():
    assert iso_utc(None) is None
    assert iso_utc("2024-03-05T09:00:07Z") == "2024-03-05T09:00:07Z"
    assert iso_utc(True) is True
