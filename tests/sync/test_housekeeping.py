import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from sync.housekeeping import sync_log_prune
from sync.models import OutboxEntry, SyncEvent, Tombstone

pytestmark = pytest.mark.django_db


def test_old_history_is_pruned_and_unfinished_work_is_kept():
    with time_machine.travel(timezone.now() - dt.timedelta(days=40)):
        SyncEvent.objects.create(kind="pushed", message="old")
        for state in ("done", "pending", "failed"):
            OutboxEntry.objects.create(
                task_id=1 if state != "done" else 2,
                operation="upsert" if state != "failed" else "delete",
                state=state,
                next_attempt_at=timezone.now(),
            )
        Tombstone.objects.create(task_id=7)
    SyncEvent.objects.create(kind="pushed", message="recent")
    Tombstone.objects.create(task_id=8)

    result = sync_log_prune(days=30)

    assert list(Tombstone.objects.values_list("task_id", flat=True)) == [8]
    assert result.tombstones == 1
    assert (result.events, result.outbox_entries) == (1, 1)
    assert list(SyncEvent.objects.values_list("message", flat=True)) == ["recent"]
    assert set(OutboxEntry.objects.values_list("state", flat=True)) == {"pending", "failed"}
