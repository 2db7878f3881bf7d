"""A Cockpit task and its Salesforce twin: merge and agree, for both directions.

The pull and the push both end here once they hold Salesforce's values for a task, and the
merge runs in steps, each in its module: the tasks and their sync records locked (here), the
agreement the merge starts from (sync/agreement.py), the late echoes of our own writes
(sync/uncertain.py), the field-by-field decision (sync/merge.py), what comes in written into
the tasks (sync/merge_apply.py), the sync log (sync/merge_log.py), and what the sync record
keeps (sync/agreed.py). No network here: callers read Salesforce before and write after.
"""

from django.db import transaction
from django.utils import timezone

from tasks.bulk import rows_update
from tasks.models import Task, TaskSyncRecord

from .agreed import RECORD_FIELDS, merge_kept
from .agreement import agreement_marked, merge_base
from .engine_config import Engine
from .merge import COCKPIT, merge
from .merge import Conflict as MergeConflict
from .merge_apply import merged_values_apply
from .merge_items import MergeItem, Outcome
from .merge_log import MergeLog, merge_logged, merge_settled
from .models import Conflict, SyncEvent
from .payload import task_values
from .stamps import versions_of
from .uncertain import uncertain_settle
from .unseen import unseen_overwrites_record


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
        # The ledger as it was, entries too old to be taken for late echoes included: a read
        # that finds what one of them sent still tells that Cockpit's write landed (unseen.py).
        uncertain_before = {t.pk: list(r.uncertain_writes or []) for _, t, r in merging}
        outcomes = {
            task.pk: _merge_one(engine, task, record, item) for item, task, record in merging
        }
        refused = merged_values_apply(
            engine,
            [
                (t, outcomes[t.pk].merged.to_cockpit)
                for _, t, _ in merging
                if outcomes[t.pk].merged.to_cockpit
            ],
        )
        log = MergeLog(now=timezone.now())
        for item, task, record in merging:
            outcome = outcomes[task.pk]
            merge_settled(outcome, refused.get(task.pk), log, task, item)
            merge_logged(engine, task, item.salesforce_id, outcome, log)
            merge_kept(record, item, outcome, log, uncertain_before[task.pk])
        rows_update(log.records, RECORD_FIELDS)
        Conflict.objects.bulk_create(log.conflicts)
        SyncEvent.objects.bulk_create(log.events)
        unseen_overwrites_record(engine.labels, log.overwritten)
    return outcomes


def _tasks_locked(task_ids: list[int]) -> dict[int, Task]:
    return {
        t.pk: t
        for t in Task.objects.select_for_update(of=("self",))
        .select_related("status", "priority", "owner", "company", "type")
        .filter(pk__in=task_ids)
    }


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
    Salesforce's stamps (read once), the late echoes of our own writes, the merge; the record's
    uncertain writes that Salesforce now shows are dropped from it."""
    theirs = item.theirs
    ours = task_values(task, engine.spec)
    base = merge_base(engine, record, ours, theirs, override=item.base_override, drift=item.drift)
    versions = versions_of(theirs, item.read_at, task.updated_at)
    stale = uncertain_settle(record, theirs, engine.fields, ours)
    result = merge(
        engine.fields,
        base_sf=base.sf,
        base_ck=base.ck,
        ours=ours,
        theirs=theirs,
        latest=versions.latest,
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
    return Outcome(task_id=task.pk, merged=result, ours=ours, engine=engine, versions=versions)
