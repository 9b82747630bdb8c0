"""Time buckets: UTC hour and day starts, and the split of a range into edge hours and whole days.

Pure functions of datetimes (no database, no clock): every read and every rollup cuts time the same way.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hour_floor(moment: datetime) -> datetime:
    """Start of the UTC hour holding ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_floors(moments: Iterable[datetime]) -> set[datetime]:
    """{hour_floor(moment)} of many moments: one integer division each (an ingest batch passes ~1,000)."""
    moments = moments if isinstance(moments, list | tuple | set) else list(moments)
    try:
        return {EPOCH + hours * HOUR for hours in {(moment - EPOCH) // HOUR for moment in moments}}
    except TypeError:  # a naive moment (SQLite hands some back naive): hour_floor reads it as local time
        return {hour_floor(moment) for moment in moments}


def hour_ceil(moment: datetime) -> datetime:
    """Smallest UTC hour start at or after ``moment``."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def day_floor(moment: datetime) -> datetime:
    """Start of the UTC day holding ``moment``."""
    return hour_floor(moment).replace(hour=0)


def day_ceil(moment: datetime) -> datetime:
    """Smallest UTC day start at or after ``moment``."""
    floor = day_floor(moment)
    return floor if floor == moment else floor + DAY


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Hour starts h with start <= h < end (both snapped to hours)."""
    hour, stop, hours = hour_floor(start), hour_ceil(end), []
    while hour < stop:
        hours.append(hour)
        hour += HOUR
    return hours


def range_split(start: datetime, end: datetime) -> tuple[list[tuple[datetime, datetime]], tuple[datetime, datetime]]:
    """Splits an hour-aligned range into hourly edge pieces and whole UTC days: (hour_ranges, (day_start, day_end))."""
    first_day = day_floor(start) if day_floor(start) == start else day_floor(start) + DAY
    last_day = day_floor(end)
    if first_day >= last_day:  # no whole day inside: all hourly
        return [(start, end)], (first_day, first_day)
    edges = [(a, b) for a, b in ((start, first_day), (last_day, end)) if a < b]
    return edges, (first_day, last_day)


def range_snap(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) snapped outwards to whole UTC hours; ValueError when it is empty."""
    start, end = hour_floor(start), hour_ceil(end)
    if end <= start:
        raise ValueError("end must be after start")
    return start, end


def utc(moment: datetime | str) -> datetime:
    """A bucket_start read by raw SQL (SQLite returns text) as an aware UTC datetime."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
