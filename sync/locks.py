"""Row locks, in the one order every writer of a task takes them: the task, its sync record,
then its outbox entry (a CSM's change takes them so). Two transactions that touch the same
tasks then wait for one another in turn, never in a circle (a deadlock PostgreSQL would break
by failing one). SQLite has no row locks: it serialises writers, the lease fence's included.
"""

from collections.abc import Collection

from django.db import connection as db
from django.db.models import Q

from tasks.models import Task, TaskSyncRecord


def tasks_lock(task_ids: list[int]) -> None:
    """Lock these tasks' rows, then their sync records', in task order. A transaction that
    finishes outbox entries takes these first, so it and a CSM's change of the same task wait
    for one another in turn."""
    if not task_ids or not db.features.has_select_for_update:
        return
    ids = sorted(set(task_ids))
    list(Task.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
    list(
        TaskSyncRecord.objects.select_for_update()
        .filter(task_id__in=ids)
        .order_by("task_id")
        .values_list("pk")
    )


def twins_lock(*, salesforce_ids: list[str], ours: Collection[int] = ()) -> None:
    """Lock, before anything of them is read, the tasks linked to these Salesforce records,
    and those of `ours` (tasks their external ids name) not linked to any record yet: a first
    push whose answer was lost, whose twin may be among them. A link read after this holds
    until the transaction ends: a delete reaches the sync record before the task, and a link
    writes the record before a merge locks the task."""
    if not (salesforce_ids or ours) or not db.features.has_select_for_update:
        return
    touched = Q(salesforce_id__in=salesforce_ids) | Q(task_id__in=set(ours), salesforce_id=None)
    tasks_lock(list(TaskSyncRecord.objects.filter(touched).values_list("task_id", flat=True)))
