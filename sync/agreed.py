"""What a twin's sync record keeps of a merge or of a confirmed write: the new agreement the
next merge starts from, the Salesforce version seen (and the one a conditional write may rely
on: sync/stamps.py), and the versions a read could not see into (sync/unseen.py).
"""

import datetime as dt
from typing import Any

from django.utils import timezone

from tasks.bulk import rows_update
from tasks.models import TaskSyncRecord

from .engine_config import Engine
from .merge_items import MergeItem, Outcome
from .merge_log import MergeLog
from .stamps import Versions
from .unseen import unseen_landed, unseen_overwrites_record, unseen_windows_open


def merge_kept(
    record: TaskSyncRecord,
    item: MergeItem,
    outcome: Outcome,
    log: MergeLog,
    uncertain_before: list[dict[str, Any]],
) -> None:
    """What the sync record keeps of a merge: the Salesforce version seen, the new agreement,
    the versions a read could not see into (sync/unseen.py), and the windows whose write it
    shows landed (a read that finds what an unanswered write of Cockpit's sent)."""
    seen_before = record.salesforce_seen_at
    seen = _seen_kept(record, item, outcome.versions)
    agreed = _agree(record, item.salesforce_id, outcome, log.now, uncertain_before)
    if item.read_at is not None:
        merged, ours = outcome.merged, outcome.ours
        stamp = outcome.versions.seen
        seen = unseen_windows_open(record, merged, ours, item.theirs, seen_before, stamp) or seen
    landed, overwritten = unseen_landed(record, uncertain_before)
    if overwritten:
        log.overwritten.append((record, overwritten))
    if agreed or seen or landed:
        log.records.append(record)


def _seen_kept(record: TaskSyncRecord, item: MergeItem, versions: Versions) -> bool:
    """Keep on the record the newest SystemModstamp seen and the version a conditional write
    may rely on (sync/stamps.py); returns whether either moved."""
    seen = versions.seen
    newer = seen is not None and (
        record.salesforce_seen_at is None or seen > record.salesforce_seen_at
    )
    if newer:
        record.salesforce_seen_at = seen
    if item.theirs is None:
        return newer
    stamp = versions.settled
    stamp_moved = stamp != record.salesforce_modified_at
    record.salesforce_modified_at = stamp
    return newer or stamp_moved


def _agree(
    record: TaskSyncRecord,
    salesforce_id: str,
    outcome: Outcome,
    now: dt.datetime,
    uncertain_before: list[dict[str, Any]],
) -> bool:
    """Keep the merge's agreement on the record; returns whether the record changed."""
    result = outcome.merged
    agreed = (
        record.salesforce_id != salesforce_id
        or result.base_sf != record.agreed_values
        or result.base_ck != record.agreed_cockpit
    )
    if agreed:
        record.salesforce_id = salesforce_id
        record.agreed_values, record.agreed_cockpit = result.base_sf, result.base_ck
    if outcome.changed_cockpit or (agreed and not result.to_salesforce):
        record.state = TaskSyncRecord.State.SYNCED
        record.error_clear()
        record.last_synced_at = now
        return True
    return agreed or record.uncertain_writes != uncertain_before


RECORD_FIELDS = [
    "salesforce_seen_at",
    "salesforce_modified_at",
    "salesforce_id",
    "agreed_values",
    "agreed_cockpit",
    "uncertain_writes",
    "unseen_windows",
    "state",
    *TaskSyncRecord.ERROR_FIELDS,
    "last_synced_at",
]


def twin_agreed_after_push(
    *, engine: Engine, outcomes: list[tuple[Outcome, str]], now: dt.datetime | None = None
) -> None:
    """Record the agreement for merged tasks whose writes Salesforce confirmed, and the
    changes those writes went over that a read could not see (sync/unseen.py). The caller
    holds the tasks' and sync records' row locks (push/base.py, finishing)."""
    now = now or timezone.now()
    records = {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=[o.task_id for o, _ in outcomes])
    }
    landed, overwritten = [], []
    for outcome, salesforce_id in outcomes:
        record = records.get(outcome.task_id)
        if record is None:
            continue  # deleted meanwhile
        record.agreed_values, record.agreed_cockpit = outcome.agreed_after_push()
        record.salesforce_modified_at = None  # Cockpit's write made a version it has not read
        record.salesforce_id, record.state = salesforce_id, TaskSyncRecord.State.SYNCED
        record.error_clear()
        record.last_synced_at = now
        written = {
            name: {"sent": value, "cockpit": outcome.ours.get(name)}
            for name, value in outcome.merged.to_salesforce.items()
        }
        changed, windows = unseen_landed(record, written=written)
        if changed:
            landed.append(record)
            overwritten.append((record, windows))
    rows_update(list(records.values()), AGREED_FIELDS)
    rows_update(landed, ["unseen_windows"])
    unseen_overwrites_record(engine.labels, overwritten)


AGREED_FIELDS = [
    "salesforce_id",
    "salesforce_modified_at",
    "agreed_values",
    "agreed_cockpit",
    "state",
    *TaskSyncRecord.ERROR_FIELDS,
    "last_synced_at",
]
