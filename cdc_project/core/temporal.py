"""Debezium's temporal encodings -> the integers Arrow's UTC timestamp, date and time types hold.

Every timestamp lands as UTC: Debezium writes `timestamp with time zone` as an ISO string with its offset
(ZonedTimestamp), converted here to the instant; `timestamp without time zone` arrives as an epoch count of
the wall-clock value read as UTC (Timestamp/MicroTimestamp/NanoTimestamp, Connect Timestamp, IsoTimestamp),
which is kept as that UTC instant, so both kinds share one Arrow type and render with `Z`.

Times of day must lie in [00:00, 24:00): MySQL TIME can be negative or exceed a day, and such a value cannot
be an Arrow time64; it is refused (the event becomes a dead letter naming the fix) instead of wrapped.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DAY = date(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
DAY_US = 86_400_000_000


def ms_to_us(value: int) -> int:
    return value * 1000


def ns_to_us(value: int) -> int:
    return value // 1000


def time_us(value: int) -> int:
    """A time of day in microseconds, refused outside one day (MySQL TIME '-01:00:00' or '838:59:59')."""
    if not 0 <= value < DAY_US:
        raise ValueError(
            f"{value} us is outside one day, so it is no time of day (MySQL TIME spans -838h..838h); "
            "capture such a column as a string (a generated column or a view) to keep it"
        )
    return value


def time_ms(value: int) -> int:
    return time_us(value * 1000)


def time_ns(value: int) -> int:
    return time_us(value // 1000)


def zoned_timestamp_us(value: str) -> int:
    """ZonedTimestamp / IsoTimestamp ('2026-11-22T14:57:09.457559Z', any offset) -> UTC epoch microseconds."""
    parsed = datetime.fromisoformat(value)  # 3.11+: accepts "Z"; digits beyond microseconds are truncated
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return (parsed - _EPOCH) // _MICROSECOND


def iso_date_days(value: str) -> int:
    """IsoDate ('2026-11-22Z'): days since the epoch; the zone suffix Debezium appends is always UTC."""
    text = value[:-1] if value.endswith("Z") else value
    return (date.fromisoformat(text) - _EPOCH_DAY).days


def zoned_time_us(value: str) -> int:
    """ZonedTime / IsoTime ('08:15:30.25Z', '10:15:30+02:00') -> microseconds of the UTC time of day."""
    parsed = time.fromisoformat(value)
    micros = ((parsed.hour * 60 + parsed.minute) * 60 + parsed.second) * 1_000_000 + parsed.microsecond
    offset = parsed.utcoffset()
    if offset is not None:
        micros -= offset // _MICROSECOND
    return micros % DAY_US  # an offset can carry the UTC time past midnight
