"""Activity: pushes, pulls, skips and failures per hour over the day, and per day over 30."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet, Value
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from ..models import SyncEvent

CHART_SERIES = (
    ("pushed", "Pushes", SyncEvent.Kind.PUSHED),
    ("pulled", "Pulls", SyncEvent.Kind.PULLED),
    ("skipped", "Skips", SyncEvent.Kind.SKIPPED),
    ("failed", "Failures", SyncEvent.Kind.ERROR),
)
BY_KIND = {kind: key for key, _, kind in CHART_SERIES}


@dataclass
class HourCounts:
    start: dt.datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _hour_window(now: dt.datetime | None, hours: int) -> tuple[dt.datetime, QuerySet[Any]]:
    now = now or timezone.now()
    end = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    rows = (
        SyncEvent.objects.filter(created_at__gte=start, created_at__lt=end, kind__in=BY_KIND)
        .annotate(at=TruncHour("created_at", tzinfo=dt.UTC), series=Value("hour"))
        .values("series", "at", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    return start, rows


def _hours(start: dt.datetime, hours: int, rows: Iterable[dict[str, Any]]) -> list[HourCounts]:
    buckets = [
        HourCounts(start + dt.timedelta(hours=i), dict.fromkeys(BY_KIND.values(), 0))
        for i in range(hours)
    ]
    for row in rows:
        index = int((row["at"] - start).total_seconds() // 3600)
        if 0 <= index < hours:
            buckets[index].counts[BY_KIND[SyncEvent.Kind(row["kind"])]] += row["n"]
    return buckets


def activity_by_hour(*, now: dt.datetime | None = None, hours: int = 24) -> list[HourCounts]:
    """Pushes, pulls, skips and failures per hour over the last `hours` (this hour last), in
    one grouped query."""
    start, rows = _hour_window(now, hours)
    return _hours(start, hours, rows)


@dataclass
class DayCounts:
    day: dt.date  # in the current time zone (the admin's own, on a page)
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _day_window(now: dt.datetime | None, days: int) -> tuple[dt.date, QuerySet[Any]]:
    zone = timezone.get_current_timezone()
    today = timezone.localdate(now or timezone.now(), zone)
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone)
    rows = (
        SyncEvent.objects.filter(created_at__gte=start, kind__in=BY_KIND)
        .annotate(at=TruncDay("created_at", tzinfo=zone), series=Value("day"))
        .values("series", "at", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    return first, rows


def _days(first: dt.date, days: int, rows: Iterable[dict[str, Any]]) -> list[DayCounts]:
    zone = timezone.get_current_timezone()
    buckets = {
        first + dt.timedelta(days=i): DayCounts(
            first + dt.timedelta(days=i), dict.fromkeys(BY_KIND.values(), 0)
        )
        for i in range(days)
    }
    for row in rows:
        day = timezone.localtime(row["at"], zone).date()
        if day in buckets:
            buckets[day].counts[BY_KIND[SyncEvent.Kind(row["kind"])]] += row["n"]
    return list(buckets.values())


def activity_by_day(*, now: dt.datetime | None = None, days: int = 30) -> list[DayCounts]:
    """Pushes, pulls, skips and failures per day over the last `days` (today last), days as
    the current time zone counts them, in one grouped query. The log keeps
    SYNC_LOG_RETENTION_DAYS (30 by default): older days read empty."""
    first, rows = _day_window(now, days)
    return _days(first, days, rows)


def activity(
    *, now: dt.datetime | None = None, hours: int = 24, days: int = 30
) -> tuple[list[HourCounts], list[DayCounts]]:
    """activity_by_hour() and activity_by_day() in one query (the two groupings as one
    UNION ALL): sync health draws both charts (issue 19: the page's queries)."""
    start, by_hour = _hour_window(now, hours)
    first, by_day = _day_window(now, days)
    rows = list(by_hour.union(by_day, all=True))
    return (
        _hours(start, hours, (r for r in rows if r["series"] == "hour")),
        _days(first, days, (r for r in rows if r["series"] == "day")),
    )
