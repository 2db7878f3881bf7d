"""The uncertain-writes ledger: writes to Salesforce whose answer never came, kept on the sync
record for UNCERTAIN_FOR, so that a late arrival of an older value is recognised (and not taken
for a Salesforce user's edit) and a retried first push finds the twin it may have made.
"""

import datetime as dt
from typing import Any

from django.utils import timezone

from tasks.models import TaskSyncRecord

from .merge import SyncField, same
from .payload import OWNER

# A write whose answer never came can still land this long after it was sent.
UNCERTAIN_FOR = dt.timedelta(minutes=15)
UNCERTAIN_KEPT = 5


def uncertain_add(writes: dict[int, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Remember writes whose answer never came: task id → (values sent, Cockpit's values)."""
    now = timezone.now()
    for record in TaskSyncRecord.objects.filter(task_id__in=writes):
        sent, cockpit = writes[record.task_id]
        kept = uncertain_fresh(record.uncertain_writes, now)
        kept.append({"at": now.isoformat(), "values": sent, "cockpit": cockpit})
        record.uncertain_writes = kept[-UNCERTAIN_KEPT:]
        record.save(update_fields=["uncertain_writes"])


def uncertain_fresh(writes: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    return [w for w in writes or [] if dt.datetime.fromisoformat(w["at"]) > now - UNCERTAIN_FOR]


def uncertain_settle(
    record: TaskSyncRecord,
    theirs: dict[str, Any] | None,
    fields: list[SyncField],
    ours: dict[str, Any],
) -> frozenset[str]:
    """What a merge needs of the ledger: the fields whose Salesforce value is a late echo of
    ours (`stale_fields`). The writes Salesforce now shows have landed, so they cannot land
    again later: they leave the record's ledger (in memory; the merge saves the record)."""
    stale = stale_fields(record, theirs or {}, fields, ours)
    if theirs and record.uncertain_writes:
        record.uncertain_writes = [
            w for w in record.uncertain_writes if not uncertain_landed(w, theirs)
        ]
    return stale


def stale_fields(
    record: TaskSyncRecord, theirs: dict[str, Any], fields: list[SyncField], ours: dict[str, Any]
) -> frozenset[str]:
    """Fields whose Salesforce value is what one of our unanswered writes sent, no longer what
    Cockpit holds: the write arrived late, after a newer one. Salesforce's LastModifiedById
    cannot tell (it names the last editor of any field), so the value itself does; a Salesforce
    user who set that very value meanwhile is indistinguishable, and the merge records a
    conflict for every such field, so the case is never silent."""
    if not record.uncertain_writes or not theirs:
        return frozenset()
    agreed = record.agreed_values or {}
    by_name = {item.salesforce: item for item in fields}
    stale = set()
    for write in uncertain_fresh(record.uncertain_writes, timezone.now()):
        for name, value in write["values"].items():
            item = by_name.get(name)
            if item is None or name not in theirs or not same(theirs[name], value):
                continue
            if not same(value, agreed.get(name)) and not same(item.out(ours.get(name)), value):
                stale.add(name)
    return frozenset(stale)


def uncertain_landed(write: dict[str, Any], theirs: dict[str, Any]) -> bool:
    return all(same(theirs.get(k), v) for k, v in write["values"].items() if k in theirs)


def uncertain_since(record: TaskSyncRecord) -> dt.datetime | None:
    """When the newest write of this task whose answer never came was sent, if recently."""
    fresh = uncertain_fresh(record.uncertain_writes, timezone.now())
    return dt.datetime.fromisoformat(fresh[-1]["at"]) if fresh else None


def first_push_base(record: TaskSyncRecord) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What a first push whose answer never came sent (both sides' values), if Cockpit still
    remembers it: the agreed base once its twin is found."""
    creates = [w for w in record.uncertain_writes or [] if OWNER in w["values"]]
    if not creates:
        return None
    return creates[-1]["values"] or {}, creates[-1].get("cockpit") or {}
