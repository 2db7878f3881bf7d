"""Activity: pushes, pulls, skips and failures per hour over the day, and per day over 30."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from ..models import SyncEvent

CHART_SERIES = (
    ("pushed", "Pushes", SyncEvent.Kind.PUSHED),
    ("pulled", "Pulls", SyncEvent.Kind.PULLED),
    ("skipped", "Skips", SyncEvent.Kind.SKIPPED),
    ("failed", "Failures", SyncEvent.Kind.ERROR),
)


@dataclass
class HourCounts:
    start: dt.datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def activity_by_hour(*, now: dt.datetime | None = None, hours: int = 24) -> list[HourCounts]:
    """Pushes, pulls, skips and failures per hour over the last `hours` (this hour last), in
    one grouped query."""
    now = now or timezone.now()
    end = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    by_kind = {kind: key for key, _, kind in CHART_SERIES}
    rows = (
        SyncEvent.objects.filter(created_at__gte=start, created_at__lt=end, kind__in=by_kind)
        .annotate(hour=TruncHour("created_at", tzinfo=dt.UTC))
        .values("hour", "kind")
        .annotate(n=Count("id"))
    )
    buckets = [
        HourCounts(start + dt.timedelta(hours=i), dict.fromkeys(by_kind.values(), 0))
        for i in range(hours)
    ]
    for row in rows:
        index = int((row["hour"] - start).total_seconds() // 3600)
        if 0 <= index < hours:
            buckets[index].counts[by_kind[SyncEvent.Kind(row["kind"])]] += row["n"]
    return buckets


@dataclass
class DayCounts:
    day: dt.date  # in the current time zone (the admin's own, on a page)
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def activity_by_day(*, now: dt.datetime | None = None, days: int = 30) -> list[DayCounts]:
    """Pushes, pulls, skips and failures per day over the last `days` (today last), days as
    the current time zone counts them, in one grouped query. The log keeps
    SYNC_LOG_RETENTION_DAYS (30 by default): older days read empty."""
    zone = timezone.get_current_timezone()
    today = timezone.localdate(now or timezone.now(), zone)
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone)
    by_kind = {kind: key for key, _, kind in CHART_SERIES}
    rows = (
        SyncEvent.objects.filter(created_at__gte=start, kind__in=by_kind)
        .annotate(day=TruncDay("created_at", tzinfo=zone))
        .values("day", "kind")
        .annotate(n=Count("id"))
    )
    buckets = {
        first + dt.timedelta(days=i): DayCounts(
            first + dt.timedelta(days=i), dict.fromkeys(by_kind.values(), 0)
        )
        for i in range(days)
    }
    for row in rows:
        day = timezone.localtime(row["day"], zone).date()
        if day in buckets:
            buckets[day].counts[by_kind[SyncEvent.Kind(row["kind"])]] += row["n"]
    return list(buckets.values())
