"""Desync and the bulk services: what they change, and that they touch only the owner's tasks."""

import pytest
from django.core.exceptions import ValidationError

from sync.models import OutboxEntry
from tasks import services
from tasks.models import Task, TaskSyncRecord
from tests.factories import SyncRecordFactory, TaskFactory

pytestmark = pytest.mark.django_db


def linked(task: Task) -> TaskSyncRecord:
    return SyncRecordFactory(
        task=task, salesforce_id="00T000000000042AAA", state=TaskSyncRecord.State.SYNCED
    )


def test_desync_stamps_the_record_and_keeps_the_link(csm):
    task = TaskFactory(owner=csm)
    linked(task)

    record = services.task_desync(task=task)

    assert record.desynced_at is not None
    assert record.salesforce_id == "00T000000000042AAA"
    assert record.state == TaskSyncRecord.State.SYNCED


def test_desync_refuses_a_task_never_synced_and_a_stopped_one(csm):
    never = TaskFactory(owner=csm)
    with pytest.raises(ValidationError, match="not synced"):
        services.task_desync(task=never)

    stopped = TaskFactory(owner=csm)
    linked(stopped)
    services.task_desync(task=stopped)
    with pytest.raises(ValidationError, match="already stopped"):
        services.task_desync(task=stopped)


def test_a_desynced_task_is_not_queued_when_it_changes(csm, sync_on):
    task = TaskFactory(owner=csm)
    linked(task)
    services.task_desync(task=task)

    services.task_update(task=task, name="Changed while stopped")

    assert not OutboxEntry.objects.filter(task_id=task.pk).exists()


def test_resync_queues_a_push_and_rings_the_worker(
    csm, sync_on, django_capture_on_commit_callbacks
):
    task = TaskFactory(owner=csm)
    linked(task)
    services.task_desync(task=task)

    with django_capture_on_commit_callbacks() as callbacks:
        record = services.task_resync(task=task)

    assert record.desynced_at is None
    assert record.state == TaskSyncRecord.State.PENDING
    entry = OutboxEntry.objects.get(task_id=task.pk)
    assert (entry.operation, entry.state) == ("upsert", "pending")
    assert len(callbacks) == 1


def test_resync_refuses_a_task_that_syncs(csm):
    task = TaskFactory(owner=csm)
    linked(task)

    with pytest.raises(ValidationError, match="syncing already"):
        services.task_resync(task=task)


def test_bulk_services_touch_only_the_owners_tasks(csm, other_csm, sync_on):
    mine = TaskFactory.create_batch(2, owner=csm)
    theirs = TaskFactory(owner=other_csm)
    ids = [t.pk for t in mine] + [theirs.pk]

    completed = services.task_complete_many(owner=csm, task_ids=ids)
    assert {t.pk for t in completed} == {t.pk for t in mine}
    assert not Task.objects.get(pk=theirs.pk).status.is_closed

    assert services.task_push_many(owner=csm, task_ids=ids) == (2, 0)
    assert set(OutboxEntry.objects.values_list("task_id", flat=True)) == {t.pk for t in mine}

    assert services.task_delete_owned(owner=csm, task_ids=ids) == 2
    assert list(Task.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_bulk_sync_leaves_desynced_tasks_alone(csm, sync_on):
    task = TaskFactory(owner=csm)
    linked(task)
    services.task_desync(task=task)

    assert services.task_push_many(owner=csm, task_ids=[task.pk]) == (0, 1)
    assert not OutboxEntry.objects.filter(task_id=task.pk).exists()
