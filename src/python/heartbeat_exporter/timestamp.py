"""Heartbeat timestamps: the forms Python's datetime writes, parsed as the exporter parses them."""

import datetime
import re
from typing import Optional

__all__ = ["format_timestamp", "parse_timestamp"]

# [0-9] rather than \d, which would also match non-ASCII digits such as U+0662.
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?"
    r"(Z|([+-])([0-9]{2}):?([0-9]{2}))?"
)


def parse_timestamp(text: str) -> Optional[datetime.datetime]:
    """Parses a timestamp as the exporter does, or returns None.

    Accepted: YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM:SS, then an optional fraction of 1 to 9
    digits (digits past the sixth are truncated), then an optional offset Z, +HH:MM, -HH:MM,
    +HHMM or -HHMM. Without an offset the time is UTC. Dates that do not exist are rejected, and
    so is anything whose UTC instant falls outside the years 1 to 9999. Independent of TZ and
    the locale. The result is an aware datetime in UTC.
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7)
    if fraction is not None and len(fraction) > 9:
        return None
    microsecond = int((fraction or "")[:6].ljust(6, "0"))
    offset_minutes = 0
    if match.group(9) is not None:
        offset_hours, offset_part = int(match.group(10)), int(match.group(11))
        if offset_hours > 23 or offset_part > 59:
            return None
        offset_minutes = offset_hours * 60 + offset_part
        if match.group(9) == "-":
            offset_minutes = -offset_minutes
    try:
        local = datetime.datetime(year, month, day, hour, minute, second, microsecond)
        # An offset can carry the first or last day past what datetime (and the C++ reader)
        # can hold in UTC: OverflowError.
        utc = local - datetime.timedelta(minutes=offset_minutes)
    except (ValueError, OverflowError):
        return None
    return utc.replace(tzinfo=datetime.timezone.utc)


def format_timestamp(timestamp: datetime.datetime) -> str:
    """Formats as UTC with microseconds and "+00:00", e.g. "2026-02-05T06:17:29.601049+00:00".

    An aware datetime is converted to UTC; a naive one is taken to be UTC already, as the
    exporter reads a timestamp without an offset.
    """
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        utc = timestamp.replace(tzinfo=datetime.timezone.utc)
    else:
        utc = timestamp.astimezone(datetime.timezone.utc)
    return utc.isoformat(timespec="microseconds")
