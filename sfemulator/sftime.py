"""Time as Salesforce shows it: UTC, to the whole second, `2026-11-29T08:49:32.000+0000`.

Salesforce keeps datetimes to the second: the milliseconds it writes are always `.000`. The
emulator's clock still ticks in milliseconds (token lifetimes), but every datetime it stores or
answers goes through `format_datetime`, which drops them.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class Clock:
    """The emulator's notion of now, shiftable at run time through the admin endpoint so
    that tests can reach Salesforce's 15- and 30-day windows without waiting."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        moment = datetime.now(UTC) + offset
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def today(self) -> date:
        return self.now().date()

    @property
    def offset_seconds(self) -> float:
        return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = timedelta(seconds=seconds)


def format_datetime(moment: datetime) -> str:
    """Salesforce's form, truncated to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".000+0000"


def format_date(day: date) -> str:
    return day.isoformat()


def parse_datetime(text: str) -> datetime | None:
    """Parse the ISO 8601 forms clients send; a missing zone means UTC, as in Salesforce."""
    match = _DATETIME_RE.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, UTC
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parse_date(text: str) -> date | None:
    match = _DATE_RE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def start_of_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
