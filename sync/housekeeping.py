"""Keeps the sync's own tables from growing without end: every push and pull writes rows."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from .models import Conflict, OutboxEntry, SyncEvent, Tombstone


@dataclass
class PruneResult:
    events: int
    outbox_entries: int
    conflicts: int
    tombstones: int = 0


def sync_log_prune(*, days: int | None = None) -> PruneResult:
    """Delete log rows and finished (done or skipped) outbox entries older than the retention
    (pending, in-flight and failed entries stay: they are work, not history)."""
    keep = dt.timedelta(days=days if days is not None else settings.SYNC_LOG_RETENTION_DAYS)
    cutoff = timezone.now() - keep
    events, _ = SyncEvent.objects.filter(created_at__lt=cutoff).delete()
    entries, _ = OutboxEntry.objects.filter(
        state__in=[OutboxEntry.State.DONE, OutboxEntry.State.SKIPPED], updated_at__lt=cutoff
    ).delete()
    conflicts, _ = Conflict.objects.filter(created_at__lt=cutoff).delete()
    # A late first push lands within minutes, not weeks: older tombstones guard nothing.
    tombstones, _ = Tombstone.objects.filter(deleted_at__lt=cutoff).delete()
    return PruneResult(
        events=events, outbox_entries=entries, conflicts=conflicts, tombstones=tombstones
    )
