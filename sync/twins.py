"""A Cockpit task and its Salesforce twin: merge and agree, for both directions.

The pull and the push both end here once they hold Salesforce's values for a task: the merge
(sync/merge.py) decides field by field, this module applies what comes in under a row lock,
records conflicts and skipped values, and keeps the agreed values that the next merge starts
from. No network here: callers read Salesforce before and write after.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tasks import services as task_services
from tasks.bulk import rows_update
from tasks.models import Company, Task, TaskSyncRecord

from .agreement import agreement_marked, merge_base
from .engine_config import Engine
from .merge import COCKPIT, Merge, merge
from .merge import Conflict as MergeConflict
from .models import Conflict, SyncEvent
from .payload import COMPANY, OWNER, task_changes, task_values
from .stamps import latest_side, modified_at, stamp_settled
from .uncertain import uncertain_settle
from .unseen import unseen_landed, unseen_overwrites_record, unseen_windows_open

log = logging.getLogger(__name__)

LATE_WRITE = "late_write"  # the "policy" of a conflict with a late write of our own
DIRECTION = "direction"  # ... and of a newly mapped one-way field's first values


@dataclass
class Outcome:
    """What merging one task did; `to_salesforce` is what still has to be written."""

    task_id: int
    merged: Merge
    ours: dict[str, Any]
    changed_cockpit: bool = False
    engine: Engine | None = None  # the mapping the merge ran under, to mark the agreement

    def agreed_after_push(self) -> tuple[dict[str, Any], dict[str, Any]]:
        base_sf, base_ck = self.merged.agreed_after_push(self.ours)
        if self.engine is not None:
            base_ck = agreement_marked(self.engine, base_sf, base_ck)
        return base_sf, base_ck


@dataclass
class MergeItem:
    """One linked task to merge with Salesforce's values (None: not read, Cockpit's side only)."""

    task_id: int
    theirs: dict[str, Any] | None
    salesforce_id: str
    base_override: tuple[dict[str, Any], dict[str, Any]] | None = None
    drift: bool = False  # a reconcile: values that differ although both sides agreed clash
    # When a read of Salesforce saw `theirs`, at the latest (Salesforce's clock; None: not a
    # read, say a change event): whether the version can be written on conditionally.
    read_at: dt.datetime | None = None
    # Values Salesforce held since the agreement that `theirs` does not show (field → values;
    # sync/records.py, Passed): a change and change back is a change all the same.
    passed: dict[str, list[Any]] = field(default_factory=dict)


def twins_merge_many(*, engine: Engine, items: list[MergeItem]) -> dict[int, Outcome]:
    """Merge Salesforce's values into these tasks under their row locks, and keep the new
    agreements: a bounded number of queries whatever the number of tasks (a pull's page of
    2,000). Tasks gone meanwhile, or desynced by their CSM, are left out of the answer."""
    if not items:
        return {}
    with transaction.atomic():
        tasks = _tasks_locked([i.task_id for i in items])
        records = _records_locked(list(tasks))
        merging = [
            (item, tasks[item.task_id], records[item.task_id])
            for item in items
            if item.task_id in tasks
            and item.task_id in records
            and not records[item.task_id].desynced_at
        ]
        uncertain_before = {t.pk: list(r.uncertain_writes or []) for _, t, r in merging}
        outcomes = {
            task.pk: _merge_one(engine, task, record, item) for item, task, record in merging
        }
        refused = _apply_to_cockpit(
            engine,
            [
                (t, outcomes[t.pk].merged.to_cockpit)
                for _, t, _ in merging
                if outcomes[t.pk].merged.to_cockpit
            ],
        )
        log = _MergeLog(now=timezone.now())
        for item, task, record in merging:
            outcome = outcomes[task.pk]
            _cockpit_side_settle(outcome, refused.get(task.pk), log, task, item)
            _outcome_logged(engine, task, item.salesforce_id, outcome, log)
            _outcome_kept(record, item, outcome, log, uncertain_before[task.pk])
        rows_update(log.records, RECORD_FIELDS)
        Conflict.objects.bulk_create(log.conflicts)
        SyncEvent.objects.bulk_create(log.events)
        unseen_overwrites_record(engine.labels, log.overwritten)
    return outcomes


@dataclass
class _MergeLog:
    """The rows a batch of merges writes together."""

    now: dt.datetime
    events: list[SyncEvent] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    records: list[TaskSyncRecord] = field(default_factory=list)  # the changed sync records
    # Windows whose hidden changes Cockpit's write, now agreed, went over (sync/unseen.py).
    overwritten: list[tuple[TaskSyncRecord, list[dict[str, Any]]]] = field(default_factory=list)


def _outcome_logged(
    engine: Engine, task: Task, salesforce_id: str, outcome: Outcome, log: _MergeLog
) -> None:
    """A merge's conflicts, skipped values and what it brought in, for the task's sync log."""
    log.conflicts += _conflict_rows(engine, task, salesforce_id, outcome.merged, log.events)
    log.events += _skip_events(engine, task.pk, salesforce_id, outcome.merged)
    if outcome.changed_cockpit:
        log.events.append(_pulled_event(engine, task, salesforce_id, outcome.merged))


def _outcome_kept(
    record: TaskSyncRecord,
    item: MergeItem,
    outcome: Outcome,
    log: _MergeLog,
    uncertain_before: list[dict[str, Any]],
) -> None:
    """What the sync record keeps of a merge: the Salesforce version seen, the versions a
    read could not see into (sync/unseen.py), the new agreement, and the windows whose write
    it shows landed (a read that finds what an unanswered write of Cockpit's sent)."""
    seen_before = record.salesforce_seen_at
    seen = _seen_kept(record, item)
    if item.read_at is not None:
        merged, ours = outcome.merged, outcome.ours
        seen = unseen_windows_open(record, merged, ours, item.theirs, seen_before) or seen
    agreed = _agree(record, item.salesforce_id, outcome, log.now, uncertain_before)
    landed, overwritten = unseen_landed(record, uncertain_before)
    if overwritten:
        log.overwritten.append((record, overwritten))
    if agreed or seen or landed:
        log.records.append(record)


def _tasks_locked(task_ids: list[int]) -> dict[int, Task]:
    return {
        t.pk: t
        for t in Task.objects.select_for_update(of=("self",))
        .select_related("status", "priority", "owner", "company", "type")
        .filter(pk__in=task_ids)
    }


def _cockpit_side_settle(
    outcome: Outcome, refusal: ValidationError | None, log: _MergeLog, task: Task, item: MergeItem
) -> None:
    """Whether Salesforce's values reached the task. Cockpit may refuse them (too long, say):
    it keeps its own, the refusal is logged once, and Salesforce's value counts as seen so it
    is not refused again every pull."""
    result = outcome.merged
    if refusal is None:
        outcome.changed_cockpit = bool(result.to_cockpit)
        return
    for name in result.to_cockpit:
        result.base_ck.pop(name, None)
    result.to_cockpit.clear()
    log.events.append(
        SyncEvent(
            kind=SyncEvent.Kind.ERROR,
            task_id=task.pk,
            salesforce_id=item.salesforce_id,
            message=f"Salesforce values refused by Cockpit: {'; '.join(refusal.messages)}",
        )
    )


def _seen_kept(record: TaskSyncRecord, item: MergeItem) -> bool:
    """Keep on the record the newest SystemModstamp seen and the version a conditional write
    may rely on (sync/stamps.py); returns whether either moved."""
    seen = modified_at(item.theirs or {}, "SystemModstamp")
    newer = seen is not None and (
        record.salesforce_seen_at is None or seen > record.salesforce_seen_at
    )
    if newer:
        record.salesforce_seen_at = seen
    if item.theirs is None:
        return newer
    stamp = stamp_settled(item.theirs, item.read_at)
    stamp_moved = stamp != record.salesforce_modified_at
    record.salesforce_modified_at = stamp
    return newer or stamp_moved


def _pulled_event(engine: Engine, task: Task, salesforce_id: str, result: Merge) -> SyncEvent:
    return SyncEvent(
        kind=SyncEvent.Kind.PULLED,
        task_id=task.pk,
        salesforce_id=salesforce_id,
        message=f"'{task.name}' updated from Salesforce: "
        + ", ".join(sorted(engine.labels.get(n, n) for n in result.to_cockpit)),
    )


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


def _records_locked(task_ids: list[int]) -> dict[int, TaskSyncRecord]:
    records = {
        r.task_id: r
        for r in TaskSyncRecord.objects.select_for_update().filter(task_id__in=task_ids)
    }
    missing = [TaskSyncRecord(task_id=pk) for pk in task_ids if pk not in records]
    if missing:
        TaskSyncRecord.objects.bulk_create(missing, ignore_conflicts=True)
        records.update(
            {
                r.task_id: r
                for r in TaskSyncRecord.objects.select_for_update().filter(
                    task_id__in=[m.task_id for m in missing]
                )
            }
        )
    return records


def _merge_one(engine: Engine, task: Task, record: TaskSyncRecord, item: MergeItem) -> Outcome:
    """The three-way merge of one task, in memory, in its steps: the agreement it starts from,
    the late echoes of our own writes, which side changed last, the merge; the record's
    uncertain writes that Salesforce now shows are dropped from it."""
    theirs = item.theirs
    ours = task_values(task, engine.spec)
    base = merge_base(engine, record, ours, theirs, override=item.base_override, drift=item.drift)
    stale = uncertain_settle(record, theirs, engine.fields, ours)
    result = merge(
        engine.fields,
        base_sf=base.sf,
        base_ck=base.ck,
        ours=ours,
        theirs=theirs,
        latest=latest_side(theirs, task.updated_at),
        policy=engine.settings.conflict_policy,
        stale=stale,
        fresh=base.fresh,
        touched=base.touched,
        passed=item.passed,
    )
    result.base_ck = agreement_marked(engine, result.base_sf, result.base_ck)
    for name in sorted(stale):
        # Salesforce holds an older Cockpit value that arrived late. Cockpit's newer value
        # goes out again; an edit made in Salesforce just before the late arrival would be
        # gone, and nobody can tell, so the overwrite is recorded where admins see it.
        conflict = MergeConflict(name, ours.get(name), theirs[name], COCKPIT, late_write=True)  # type: ignore[index]
        result.conflicts.append(conflict)
    return Outcome(task_id=task.pk, merged=result, ours=ours, engine=engine)


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


def _apply_to_cockpit(
    engine: Engine, to_apply: list[tuple[Task, dict[str, Any]]]
) -> dict[int, ValidationError]:
    """Write what the merges take from Salesforce into the tasks, all at once; returns the
    refused tasks (they keep their values)."""
    if not to_apply:
        return {}
    users = _users_for([values[OWNER] for _, values in to_apply if OWNER in values])
    companies = _companies_for([values[COMPANY] for _, values in to_apply if values.get(COMPANY)])
    changes = [
        (task, task_changes(values, engine.spec, engine.picklists, users, companies))
        for task, values in to_apply
    ]
    return task_services.tasks_update_from_salesforce(changes=changes)


def _users_for(ids: list[Any]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.filter(pk__in=set(ids))}


def _companies_for(ids: list[Any]) -> dict[int, Company]:
    if not ids:
        return {}
    return {c.pk: c for c in Company.objects.filter(pk__in=set(ids))}


def _conflict_rows(
    engine: Engine, task: Task, salesforce_id: str, result: Merge, events: list[SyncEvent]
) -> list[Conflict]:
    """The merge's conflicts as rows, each with its line in the task's sync log."""
    rows = []
    for conflict in result.conflicts:
        rows.append(
            Conflict(
                task_id=task.pk,
                salesforce_id=salesforce_id,
                salesforce_field=conflict.salesforce_field,
                cockpit_value=conflict.cockpit_value,
                salesforce_value=conflict.salesforce_value,
                winner=conflict.winner,
                policy=LATE_WRITE
                if conflict.late_write
                else DIRECTION
                if conflict.by_direction
                else engine.settings.conflict_policy,
            )
        )
        events.append(
            SyncEvent(
                kind=SyncEvent.Kind.CONFLICT,
                task_id=task.pk,
                salesforce_id=salesforce_id,
                message=_conflict_message(engine, task, conflict),
            )
        )
    return rows


def _conflict_message(engine: Engine, task: Task, conflict: MergeConflict) -> str:
    label = engine.labels.get(conflict.salesforce_field, conflict.salesforce_field)
    ours, theirs = conflict.cockpit_value, conflict.salesforce_value
    if conflict.late_write:
        return (
            f"'{task.name}': a slow, older write of Cockpit's {label} ('{theirs}') reached "
            f"Salesforce after a newer one; Cockpit's '{ours}' was written again. A Salesforce "
            f"edit of the {label} made just before it would have been overwritten."
        )
    if conflict.by_direction:
        return (
            f"'{task.name}': {label}, newly mapped one way, differed ('{ours}' in Cockpit, "
            f"'{theirs}' in Salesforce): {conflict.winner}, the side it syncs from, wins."
        )
    return (
        f"'{task.name}': {label} changed on both sides ('{ours}' in Cockpit, '{theirs}' in "
        f"Salesforce): {conflict.winner} wins ({engine.settings.get_conflict_policy_display()})."
    )


def _skip_events(
    engine: Engine, task_id: int, salesforce_id: str, result: Merge
) -> list[SyncEvent]:
    # Logged once per record and value: the value becomes part of the agreed base, so the
    # next pull does not see it as a change again.
    return [
        SyncEvent(
            kind=SyncEvent.Kind.SKIPPED,
            task_id=task_id,
            salesforce_id=salesforce_id,
            message=f"Salesforce {name} '{value}' has no Cockpit value mapped: the Cockpit "
            f"{engine.labels.get(name, name)} keeps its value.",
        )
        for name, value in result.skipped
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
        changed, windows = unseen_landed(record)
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
