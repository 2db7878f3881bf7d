"""A page of Salesforce records and where each goes: merged with the task already linked to it,
merged with our own task whose first push made it although the answer never came back (found
by external id, and linked now), or left unlinked (a new task, unless sync/tombstones.py finds
it the twin of a task deleted in Cockpit). sync/records.py applies the page in one transaction:
it locks these tasks first (locks.twins_lock), applies Salesforce's deletions, then sorts the
page here.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tasks.models import TaskSyncRecord

from .engine_config import Engine
from .merge_items import MergeItem
from .record_fields import STAMP_FIELDS
from .uncertain import first_push_base


@dataclass
class Unlinked:
    """A live record no Cockpit task is linked to, with its values as the merge reads them, and
    the task its external id names (None: not ours)."""

    record: dict[str, Any]
    theirs: dict[str, Any]
    named: int | None


@dataclass
class PageSorted:
    """A page's live records, each where it goes."""

    merges: list[MergeItem] = field(default_factory=list)
    unlinked: list[Unlinked] = field(default_factory=list)


def page_sorted(
    engine: Engine,
    live: list[dict[str, Any]],
    ours: dict[str, int],
    *,
    read_at: dt.datetime | None,
    passed: dict[str, dict[str, list[Any]]],
) -> PageSorted:
    """A page's live records sorted: merged with their linked task (`passed`: what Salesforce
    held on the way, per record), or with ours whose lost first push made them (`ours`:
    Salesforce Id → the task its external id names), linked now; the rest unlinked."""
    linked = dict(
        TaskSyncRecord.objects.filter(salesforce_id__in=[r["Id"] for r in live]).values_list(
            "salesforce_id", "task_id"
        )
    )
    own = _own_unlinked([ours[r["Id"]] for r in live if r["Id"] not in linked and r["Id"] in ours])
    sorted_ = PageSorted()
    for record in live:
        salesforce_id = record["Id"]
        theirs = {name: record.get(name) for name in (*engine.field_names, *STAMP_FIELDS)}
        if salesforce_id in linked:
            sorted_.merges.append(
                MergeItem(
                    linked[salesforce_id],
                    theirs,
                    salesforce_id,
                    read_at=read_at,
                    passed=passed.get(salesforce_id, {}),
                )
            )
            continue
        mine = own.pop(ours.get(salesforce_id) or 0, None)
        if mine is not None:
            sorted_.merges.append(_link(engine, mine, theirs, salesforce_id))
        else:
            sorted_.unlinked.append(Unlinked(record, theirs, ours.get(salesforce_id)))
    return sorted_


def _own_unlinked(task_ids: list[int]) -> dict[int, TaskSyncRecord]:
    """Tasks of ours whose first push reached Salesforce but whose answer never came back."""
    if not task_ids:
        return {}
    return {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=task_ids, salesforce_id=None)
    }


def _link(
    engine: Engine, record: TaskSyncRecord, theirs: dict[str, Any], salesforce_id: str
) -> MergeItem:
    base = first_push_base(record) or (dict.fromkeys(engine.field_names), {})
    # The agreement is what the lost push sent, as the push that finds its twin records it
    # (push/creates.py::own_creates_find): the merge replaces it, but it merges nothing for a
    # task its CSM desynced meanwhile, which syncs again from this base.
    TaskSyncRecord.objects.filter(pk=record.pk).update(
        salesforce_id=salesforce_id, agreed_values=base[0], agreed_cockpit=base[1]
    )
    return MergeItem(record.task_id, theirs, salesforce_id, base_override=base)
