"""The sync health page as a work queue (HubSpot's Sync health): every failed record, filtered
by kind, owner, date and text, and the whole log with its own filters. Reads only."""

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from tasks.models import Task

from ..models import OutboxEntry, SyncEvent
from .errors import error_kind_title


@dataclass(frozen=True)
class FailedRecord:
    entry: OutboxEntry
    kind: str
    kind_title: str
    task_name: str  # empty when the task is gone
    owner: User | None

    @property
    def reason(self) -> str:
        return self.entry.last_error


def _between(
    rows: QuerySet[OutboxEntry], since: dt.date | None, until: dt.date | None
) -> QuerySet[OutboxEntry]:
    if since is not None:
        rows = rows.filter(updated_at__date__gte=since)
    if until is not None:
        rows = rows.filter(updated_at__date__lte=until)
    return rows


def failed_records(
    *,
    kind: str = "",
    owner: User | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    text: str = "",
) -> list[FailedRecord]:
    """Every push that failed for good, the newest first, that matches the filters: the kind
    the cards on the page group them by, the text in the task's name or the reason."""
    rows = _between(OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED), since, until)
    if owner is not None:
        rows = rows.filter(task_id__in=Task.objects.filter(owner=owner).values("pk"))
    if kind:
        rows = rows.filter(error_kind=kind)
    if text:
        rows = rows.filter(
            Q(last_error__icontains=text)
            | Q(task_id__in=Task.objects.filter(name__icontains=text).values("pk"))
        )
    entries = list(rows.order_by("-updated_at", "-id"))
    tasks = Task.objects.select_related("owner").in_bulk({e.task_id for e in entries})
    found = []
    for entry in entries:
        task = tasks.get(entry.task_id)
        entry_kind = entry.error_kind
        found.append(
            FailedRecord(
                entry,
                entry_kind,
                error_kind_title(entry_kind)[0],
                task.name if task else "",
                task.owner if task else None,
            )
        )
    return found


def failed_kinds() -> list[tuple[str, str]]:
    """The kinds failed pushes have now, with their titles, for the filter."""
    kinds = (
        OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED)
        .order_by()
        .values_list("error_kind", flat=True)
        .distinct()
    )
    return sorted(((k, error_kind_title(k)[0]) for k in kinds), key=lambda pair: pair[1])


def log_filtered(
    *,
    kind: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    text: str = "",
) -> QuerySet[SyncEvent]:
    """The sync log, newest first, of one kind, between two days, mentioning a text."""
    events = SyncEvent.objects.all()
    if kind:
        events = events.filter(kind=kind)
    if since is not None:
        events = events.filter(created_at__date__gte=since)
    if until is not None:
        events = events.filter(created_at__date__lte=until)
    if text:
        events = events.filter(
            Q(message__icontains=text)
            | Q(task_id__in=Task.objects.filter(name__icontains=text).values("pk"))
        )
    return events.order_by("-created_at", "-id")
