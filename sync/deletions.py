"""Salesforce's deletes applied to Cockpit: a twin deleted in Salesforce takes its Cockpit task
with it (a delete wins over an edit made meanwhile in Cockpit), and leaves a tombstone so the
task's other twins never bring it back (sync/tombstones.py).
"""

from django.db import transaction

from tasks import services as task_services
from tasks.models import Task, TaskSyncRecord

from .context import applying_inbound
from .models import SyncEvent, Tombstone


def twins_deleted_in_salesforce(*, salesforce_ids: list[str], reason: str) -> int:
    """Salesforce deleted these records: their Cockpit tasks go too (a delete wins over an
    edit made meanwhile in Cockpit), without an echo."""
    linked = {
        task_id: salesforce_id
        for task_id, salesforce_id in TaskSyncRecord.objects.filter(
            salesforce_id__in=salesforce_ids, desynced_at=None
        ).values_list("task_id", "salesforce_id")
        if salesforce_id  # always, by the filter; said for the type checker
    }
    if not linked:
        return 0
    names = dict(Task.objects.filter(pk__in=linked).values_list("pk", "name"))
    with transaction.atomic():
        with applying_inbound():
            task_services.task_delete_many(task_ids=list(linked))
        Tombstone.objects.bulk_create(
            [
                Tombstone(
                    task_id=task_id,
                    salesforce_id=salesforce_id,
                    deleted_in=Tombstone.Side.SALESFORCE,
                )
                for task_id, salesforce_id in linked.items()
            ],
            ignore_conflicts=True,
        )
    SyncEvent.objects.bulk_create(
        SyncEvent(
            kind=SyncEvent.Kind.DELETED,
            task_id=task_id,
            salesforce_id=salesforce_id,
            message=f"'{names.get(task_id, task_id)}' {reason}",
        )
        for task_id, salesforce_id in linked.items()
    )
    return len(linked)
