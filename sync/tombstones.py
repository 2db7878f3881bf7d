"""Deletes that stick: the tombstones that keep a deleted task's twin from coming back (a task
deleted in Cockpit, or by Salesforce's delete of its twin: sync/deletions.py).
"""

from typing import TYPE_CHECKING

from . import outbox
from .models import Tombstone

if TYPE_CHECKING:
    from .page_links import Unlinked


def untombstoned(unlinked: "list[Unlinked]") -> "list[Unlinked]":
    """Of a page's records Cockpit has no task linked to, those that may become tasks: the
    twins of tasks deleted in Cockpit are left out, each one's delete queued, so a deleted task
    never comes back as a new one."""
    found = tombstones_for([(u.record["Id"], u.named) for u in unlinked])
    for salesforce_id, tombstone in found.items():
        outbox.tombstone_delete_queue(tombstone=tombstone, salesforce_id=salesforce_id)
    return [u for u in unlinked if u.record["Id"] not in found]


def tombstones_for(pairs: list[tuple[str, int | None]]) -> dict[str, Tombstone]:
    """For Salesforce records (Id, the task their external id names) Cockpit has no link to:
    the tombstones of the Cockpit tasks they are twins of, if those tasks are gone (deleted in
    Cockpit, or a late first push of a task whose twin Salesforce deleted). Two queries for any
    number."""
    by_salesforce = {
        t.salesforce_id: t
        for t in Tombstone.objects.filter(salesforce_id__in=[sf for sf, _ in pairs if sf])
    }
    task_ids = {task_id for _, task_id in pairs if task_id is not None}
    by_task = {t.task_id: t for t in Tombstone.objects.filter(pk__in=task_ids)} if task_ids else {}
    found: dict[str, Tombstone] = {}
    for salesforce_id, task_id in pairs:
        tombstone = by_salesforce.get(salesforce_id)
        if tombstone is not None and tombstone.deleted_in == Tombstone.Side.SALESFORCE:
            continue  # the very record Salesforce deleted, undeleted there: a user's choice
        if tombstone is None:
            tombstone = by_task.get(task_id) if task_id is not None else None
            if tombstone is not None and tombstone.salesforce_id == salesforce_id:
                continue
        if tombstone is not None:
            found[salesforce_id] = tombstone
    return found
