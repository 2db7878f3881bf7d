"""The outbox: Cockpit task changes waiting to reach Salesforce, and their bookkeeping.

Every change is written here in the task change's own transaction (DESIGN rule 9); the push
cycle (sync/push/) claims due entries and finishes them through the functions below. The
database, not the broker, is the queue: a lost message or a crashed worker leaves the row, and
beat's sweep picks it up.
"""

import datetime as dt
import logging
import random
import threading
from collections import Counter
from dataclasses import replace
from typing import Any

from django.conf import settings as django_settings
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from adminconfig.models import ResyncRun
from tasks.models import Company, Task, TaskSyncRecord

from . import telemetry
from .client import COLLECTION_LIMIT
from .enqueue import PUSH, job_send
from .exceptions import SyncOffError
from .failures import NO_FAILURE, Failure
from .lease import ENGINE
from .locks import tasks_lock
from .models import Lease, OutboxEntry, SyncEvent, Tombstone
from .selectors import outbound_connection, sync_settings, task_is_desynced

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
STALE_CLAIM = dt.timedelta(minutes=10)
DOORBELL = "push-doorbell"
DOORBELL_STALE = dt.timedelta(seconds=5)
# A CSM's "Sync to Salesforce" of a task its CSM stopped syncing (the API's 409 detail).
TASK_DESYNCED = "Syncing of this task is stopped: resync it first."
# Group commit: a push cycle that claims changes begins at most once a CYCLE_SPACING, taking
# everything queued by then, so a trickle costs at most one Composite call a second however
# fast changes come (a backlog's full cycles follow one another: push.outbox_push_all).
PUSH_CYCLE = "push-cycle"  # its locked_until: when the last cycle began or claimed changes
CYCLE_SPACING = dt.timedelta(seconds=1)


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min ... capped at an hour, with jitter so retries do not stampede."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return dt.timedelta(seconds=seconds * (1 + random.random() * 0.25))  # noqa: S311


# ---- enqueueing (called from the signal handlers, inside the task's transaction) -----------


def doorbell() -> bool:
    """Ring the worker for a push, unless a push message is already on its way.

    Group commit: however fast changes come, at most one push message waits in the broker; it
    lingers SYNC_PUSH_LINGER_MS so a burst travels in one cycle, and longer when the last
    cycle began less than CYCLE_SPACING before (cycles begin at most once a second). The
    worker clears the mark before it claims, so a change after that rings again. A mark older
    than a few seconds belongs to a message that is lost or stuck behind a long cycle, and is
    ignored: the queue then holds at most one push message per DOORBELL_STALE.
    Returns whether a message was sent."""
    now = timezone.now()
    Lease.objects.get_or_create(name=DOORBELL)
    rang = (
        Lease.objects.filter(name=DOORBELL)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now - DOORBELL_STALE))
        .update(locked_until=now)
    )
    if rang:
        linger = dt.timedelta(milliseconds=django_settings.SYNC_PUSH_LINGER_MS)
        job_send(PUSH, countdown=max(linger, cycle_wait()).total_seconds())
    return bool(rang)


def doorbell_due() -> bool:
    """The push message arrived: whether its cycle may begin now. Not yet when the last
    cycle's calls hold the next one back further than the message was rung for
    (`cycle_calls_paced`: a change rang while that cycle ran): the message is sent again for
    its time, and the doorbell's mark stays, so changes meanwhile ride on it."""
    wait = cycle_wait()
    if wait <= PACE_SLACK or not django_settings.SYNC_PUSH_PACING:
        return True
    job_send(PUSH, countdown=wait.total_seconds())
    return False


PACE_SLACK = dt.timedelta(milliseconds=100)  # a message a moment early is on time


def doorbell_answer() -> None:
    """The push message arrived: changes from now on ring again, for a cycle a CYCLE_SPACING
    after this one (a change rung before this cycle claims is claimed by it, or waits)."""
    Lease.objects.filter(name=DOORBELL).update(locked_until=None)
    _cycle_begun(timezone.now())


def _cycle_begun(moment: dt.datetime) -> None:
    if not Lease.objects.filter(name=PUSH_CYCLE).update(locked_until=moment):
        Lease.objects.get_or_create(name=PUSH_CYCLE, defaults={"locked_until": moment})


def cycle_calls_paced(calls: int) -> None:
    """A trickle's cycle made `calls` Salesforce calls (a read first and its write, say): the
    next cycle begins that many CYCLE_SPACINGs after it began, so a trickle costs at most one
    call a CYCLE_SPACING whatever its cycles need (changes wait a little longer instead)."""
    if calls > 1 and django_settings.SYNC_PUSH_PACING:
        Lease.objects.filter(name=PUSH_CYCLE, locked_until__isnull=False).update(
            locked_until=F("locked_until") + (calls - 1) * CYCLE_SPACING
        )


def cycle_wait() -> dt.timedelta:
    """How long until the next push cycle may begin (zero: now): one a CYCLE_SPACING."""
    last = Lease.objects.filter(name=PUSH_CYCLE).values_list("locked_until", flat=True).first()
    if last is None:
        return dt.timedelta(0)
    return max(dt.timedelta(0), last + CYCLE_SPACING - timezone.now())


def outbox_add(
    *,
    task_id: int,
    operation: str,
    salesforce_id: str = "",
    resync_run_id: int | None = None,
    urgent: bool = False,
) -> OutboxEntry:
    """Write (or reuse) the pending outbox entry and ring the worker after commit.

    Called in the change's own transaction. A pending entry is reused only under a row lock
    taken here and held until the change commits: a worker's claim skips a locked entry
    (outbox_claim), so the push it makes reads the task after the change. An entry a worker
    claimed first is not pending any more when the lock is granted, and a new one is written;
    reusing it would leave the change with no entry once that worker pushed the values from
    before it."""
    now = timezone.now()
    with transaction.atomic():
        entry = _pending_locked(task_id, operation) or _pending_new(
            task_id=task_id,
            operation=operation,
            salesforce_id=salesforce_id,
            resync_run_id=resync_run_id,
            now=now,
        )
        changes: dict[str, Any] = {}
        # An entry backing off after failures keeps its backoff: edits made during an outage
        # do not make it retry sooner or use up its attempts. A CSM's "Sync to Salesforce"
        # does.
        if entry.next_attempt_at > now and (urgent or entry.attempts == 0):
            changes["next_attempt_at"] = now
        if resync_run_id and entry.resync_run_id != resync_run_id:
            changes["resync_run_id"] = resync_run_id
        if salesforce_id and not entry.salesforce_id:
            changes["salesforce_id"] = salesforce_id
        if changes:
            OutboxEntry.objects.filter(pk=entry.pk).update(**changes)
    _ring_after_commit()
    return entry


def _pending_locked(task_id: int, operation: str) -> OutboxEntry | None:
    """The task's pending entry, locked until the caller's transaction ends. On PostgreSQL a
    worker claiming it right now holds the lock: this waits for its commit, then finds the
    entry in flight and answers None."""
    return (
        OutboxEntry.objects.select_for_update()
        .filter(task_id=task_id, operation=operation, state=OutboxEntry.State.PENDING)
        .first()
    )


def _pending_new(
    *,
    task_id: int,
    operation: str,
    salesforce_id: str,
    resync_run_id: int | None,
    now: dt.datetime,
) -> OutboxEntry:
    """A new pending entry (invisible to workers until the caller commits); when a concurrent
    change has just written one, that one, locked."""
    for _ in range(3):
        try:
            with transaction.atomic():
                return OutboxEntry.objects.create(
                    task_id=task_id,
                    operation=operation,
                    salesforce_id=salesforce_id,
                    next_attempt_at=now,
                    resync_run_id=resync_run_id,
                )
        except IntegrityError:  # a concurrent change made it first: one entry is enough
            entry = _pending_locked(task_id, operation)
            if entry is not None:
                return entry
            # ... and a worker claimed it already: write ours after all.
    raise RuntimeError(f"No pending outbox entry could be written for task {task_id}")


class _Rung(threading.local):
    """Whether this thread has rung the doorbell since it last queued a change."""

    since_change = False


_rung = _Rung()


def _ring_after_commit() -> None:
    """Ring the worker once the transaction commits: once per transaction, however many
    tasks it changed (a bulk action, an import), not once per task.

    Django has no public way to ask whether a callback is registered already, so each change
    registers its own, and the first to run after the commit rings for all: the others find
    the thread has rung since its last change was queued. A rolled-back transaction's
    callbacks never run and leave nothing behind, and the next change clears the mark."""
    _rung.since_change = False
    transaction.on_commit(_ring)


def _ring() -> None:
    """The doorbell as an on_commit callback (which answers nothing)."""
    if _rung.since_change:
        return
    _rung.since_change = True
    doorbell()


def task_change_record(*, task: Task, force: bool = False) -> OutboxEntry | None:
    """A task was created or changed in Cockpit: queue its push when it is eligible.

    Queued while sync is off too (for linked tasks, and for tasks created after sync was
    first switched on): the entries wait and go out when it is back, so the two sides do not
    drift apart for good.
    """
    settings = sync_settings()
    record = TaskSyncRecord.objects.filter(task=task).first()
    if record is not None and record.desynced_at:
        return None  # its CSM stopped syncing it; syncing it again queues its push
    linked = bool(record and record.salesforce_id)
    created_after = bool(settings.first_enabled_at and task.created_at >= settings.first_enabled_at)
    if outbound_connection(settings) is None and force:
        return None
    if not (force or linked or created_after):
        return None  # Marketo's rule: older tasks are not pushed unless a CSM asks
    TaskSyncRecord.objects.update_or_create(
        task=task, defaults={"state": TaskSyncRecord.State.PENDING}
    )
    return outbox_add(task_id=task.pk, operation=OutboxEntry.Operation.UPSERT, urgent=force)


def task_push_request(*, task: Task) -> OutboxEntry:
    """A CSM's "Sync to Salesforce": queue the task's push, due now (also a task older than the
    sync, or one backing off after failures), and ring the worker after commit.

    The push runs in the worker, never in the CSM's request: a push cycle claims whatever is
    due, so behind a backlog the request would send other CSMs' changes, hold a web worker on
    Salesforce for several round trips, and might not even reach this task. The page and the
    API show the task as pending until the worker has pushed it."""
    if task_is_desynced(task):
        raise SyncOffError(TASK_DESYNCED)
    with transaction.atomic():
        entry = task_change_record(task=task, force=True)
    if entry is None:
        raise SyncOffError("Sync to Salesforce is off: an admin switches Auto Sync on first.")
    return entry


def task_delete_record(*, task: Task) -> OutboxEntry | None:
    """A task is being deleted in Cockpit: its Salesforce twin goes too, and stays gone.

    A tombstone is kept for every task that was or may have become a Salesforce task (linked,
    or with a first push queued or in flight), so a twin that appears later is deleted rather
    than imported.
    """
    record = TaskSyncRecord.objects.filter(task=task).first()
    if record is None or record.desynced_at:
        return None  # never synced, or its CSM stopped syncing it: Salesforce keeps its twin
    salesforce_id = record.salesforce_id or ""
    Tombstone.objects.update_or_create(task_id=task.pk, defaults={"salesforce_id": salesforce_id})
    return outbox_add(
        task_id=task.pk, operation=OutboxEntry.Operation.DELETE, salesforce_id=salesforce_id
    )


def tombstone_delete_queue(*, tombstone: Tombstone, salesforce_id: str) -> OutboxEntry:
    """A twin of a task deleted in Cockpit turned up in Salesforce: queue its delete."""
    with transaction.atomic():
        if tombstone.salesforce_id != salesforce_id:
            Tombstone.objects.filter(pk=tombstone.pk).update(salesforce_id=salesforce_id)
        pending = OutboxEntry.objects.filter(
            task_id=tombstone.task_id,
            operation=OutboxEntry.Operation.DELETE,
            state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT],
            salesforce_id__in=["", salesforce_id],
        ).first()
        if pending is not None and pending.state == OutboxEntry.State.IN_FLIGHT:
            return pending
        return outbox_add(
            task_id=tombstone.task_id,
            operation=OutboxEntry.Operation.DELETE,
            salesforce_id=salesforce_id,
        )


def company_tasks_record(*, company: Company) -> int:
    """A company's Account changes (or the company is deleted): every synced task of it has a
    new WhatId, so each is queued for a push (the merge sends the Account where Salesforce still
    holds the one it agreed on; see agreement._company_link_changes). Returns how many."""
    return companies_tasks_record(company_ids=[company.pk])


def companies_tasks_record(*, company_ids: list[int]) -> int:
    task_ids = list(
        TaskSyncRecord.objects.filter(task__company__in=company_ids, desynced_at=None)
        .exclude(salesforce_id=None)
        .values_list("task_id", flat=True)
    )
    return outbox_add_many(task_ids=task_ids, operation=OutboxEntry.Operation.UPSERT)


def outbox_add_many(*, task_ids: list[int], operation: str) -> int:
    """outbox_add for many tasks at once, in a fixed number of queries whatever their number:
    one entry written for each task with none pending, and a pending one reused under the same
    rule (locked until the caller's transaction commits, so a worker's claim skips it and its
    push reads the change). Returns how many tasks are queued."""
    ids = sorted(set(task_ids))  # entries are locked in task order (tasks_lock)
    with transaction.atomic():
        for start in range(0, len(ids), ADD_CHUNK):
            _add_many(ids[start : start + ADD_CHUNK], operation)
    if ids:
        _ring_after_commit()
    return len(ids)


ADD_CHUNK = 500  # task ids in one IN (...) list


def _add_many(ids: list[int], operation: str) -> None:
    now = timezone.now()
    pending = _pending_locked_many(ids, operation)
    missing = [pk for pk in ids if pk not in pending]
    for _ in range(3):
        if not missing:
            break
        # A concurrent change may write a task's entry first: it is then found (and locked)
        # below; one a worker claimed meanwhile is not, and ours is written on the next turn.
        OutboxEntry.objects.bulk_create(
            [OutboxEntry(task_id=pk, operation=operation, next_attempt_at=now) for pk in missing],
            ignore_conflicts=True,
        )
        pending.update(_pending_locked_many(missing, operation))
        missing = [pk for pk in ids if pk not in pending]
    if missing:
        raise RuntimeError(f"No pending outbox entries could be written for tasks {missing}")
    # As in outbox_add: an entry backing off after failures keeps its backoff.
    waiting = [e.pk for e in pending.values() if e.next_attempt_at > now and e.attempts == 0]
    if waiting:
        OutboxEntry.objects.filter(pk__in=waiting).update(next_attempt_at=now)


def _pending_locked_many(task_ids: list[int], operation: str) -> dict[int, OutboxEntry]:
    return {
        e.task_id: e
        for e in OutboxEntry.objects.select_for_update()
        .filter(task_id__in=task_ids, operation=operation, state=OutboxEntry.State.PENDING)
        .order_by("task_id")
    }


# ---- claiming ------------------------------------------------------------------------------


def outbox_claim(*, limit: int = COLLECTION_LIMIT) -> list[OutboxEntry]:
    """Claim due entries for this worker. On PostgreSQL, rows other workers hold are skipped."""
    now = timezone.now()
    with transaction.atomic():
        due = OutboxEntry.objects.filter(
            state=OutboxEntry.State.PENDING, next_attempt_at__lte=now
        ).order_by("id")
        if db.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        # SQLite serialises writers (IMMEDIATE transactions), so every selected row is ours.
        OutboxEntry.objects.filter(pk__in=ids, state=OutboxEntry.State.PENDING).update(
            state=OutboxEntry.State.IN_FLIGHT, claimed_at=now
        )
        if ids:
            _cycle_begun(now)
    return list(OutboxEntry.objects.filter(pk__in=ids, claimed_at=now))


def outbox_release_stale() -> int:
    """Entries a crashed worker claimed and never finished go back to pending."""
    cutoff = timezone.now() - STALE_CLAIM
    released = 0
    for entry in OutboxEntry.objects.filter(
        state=OutboxEntry.State.IN_FLIGHT, claimed_at__lt=cutoff
    ):
        released += entry_to_pending(
            entry, failure=None, delay=dt.timedelta(0), count_attempt=False
        )
    return released


def outbox_release_orphans() -> int:
    """Called by a push cycle that holds the engine lease: no other cycle runs, so every entry
    still in flight was left by one that died (its lease ran out). Back to pending at once."""
    released = 0
    for entry in OutboxEntry.objects.filter(state=OutboxEntry.State.IN_FLIGHT):
        released += entry_to_pending(
            entry, failure=None, delay=dt.timedelta(0), count_attempt=False
        )
    if released:
        log.warning("Released %s outbox entries a stopped push cycle had claimed", released)
    return released


def outbox_due() -> bool:
    return OutboxEntry.objects.filter(
        state=OutboxEntry.State.PENDING, next_attempt_at__lte=timezone.now()
    ).exists()


def outbox_orphaned() -> bool:
    """Entries in flight while no cycle holds the engine lease: a dead cycle claimed them.
    The next push cycle takes them back (outbox_release_orphans); the sweep starts one."""
    now = timezone.now()
    busy = Lease.objects.filter(name=ENGINE, locked_until__gte=now).exists()
    return not busy and OutboxEntry.objects.filter(state=OutboxEntry.State.IN_FLIGHT).exists()


# ---- finishing entries ---------------------------------------------------------------------
# Every write that finishes a claimed entry is conditional on the claim it finishes: the entry
# still in flight, under the claimed_at it was claimed with. A cycle that stalled past its
# lease finds its entries taken back (outbox_release_orphans, outbox_release_stale) or claimed
# again by the cycle that took over (a later claimed_at: a new claim needs the old lease to
# have run out), changes none of them, and records nothing about them.


def _claims(entries: list[OutboxEntry]) -> QuerySet[OutboxEntry]:
    """These entries, where each is still in flight under the claim it was read with."""
    by_claim: dict[dt.datetime | None, list[int]] = {}
    for entry in entries:
        by_claim.setdefault(entry.claimed_at, []).append(entry.pk)
    held = Q(pk__in=[])
    for claimed_at, ids in by_claim.items():
        held |= Q(pk__in=ids, claimed_at=claimed_at)
    return OutboxEntry.objects.filter(held, state=OutboxEntry.State.IN_FLIGHT)


def _claims_held(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    """The entries whose claims still hold, locked until the caller's transaction ends (on
    PostgreSQL; SQLite serialises writers), so what it then writes finishes them."""
    if not entries:
        return []
    held = set(_claims(entries).select_for_update().values_list("pk", flat=True))
    return [e for e in entries if e.pk in held]


def entry_to_pending(
    entry: OutboxEntry,
    *,
    failure: Failure | None,
    delay: dt.timedelta,
    count_attempt: bool = True,
) -> bool:
    """Back to pending for a retry (after a failure, or with none: an outage, a released
    claim). When a newer change is pending already, that one takes over, with this entry's
    attempts, backoff and failure: attempts count failures, not edits.
    Returns whether the claim still held (False: another cycle has the entry, nothing done)."""
    error = failure.columns() if failure else NO_FAILURE
    attempts = entry.attempts + (1 if count_attempt else 0)
    retry_at = timezone.now() + delay
    with transaction.atomic():
        if not _claims_held([entry]):
            return False
        newer = OutboxEntry.objects.filter(
            task_id=entry.task_id, operation=entry.operation, state=OutboxEntry.State.PENDING
        ).exclude(pk=entry.pk)
        if newer.exists():
            OutboxEntry.objects.filter(pk=entry.pk).update(
                state=OutboxEntry.State.DONE,
                **{**NO_FAILURE, "last_error": "superseded by a newer change"},
            )
            if count_attempt:
                for later in newer:
                    OutboxEntry.objects.filter(pk=later.pk).update(
                        attempts=max(later.attempts, attempts),
                        next_attempt_at=max(later.next_attempt_at, retry_at),
                        **error,
                    )
            return True
        OutboxEntry.objects.filter(pk=entry.pk).update(
            state=OutboxEntry.State.PENDING,
            attempts=attempts,
            next_attempt_at=retry_at,
            claimed_at=None,
            **error,
        )
    return True


def entry_retry_later(entry: OutboxEntry, failure: Failure) -> None:
    attempts = entry.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        entry_fail(entry, failure.gave_up(attempts))
        return
    with transaction.atomic():
        tasks_lock([entry.task_id])
        if not entry_to_pending(entry, failure=failure, delay=backoff(attempts)):
            return  # another cycle has it: what becomes of it is that cycle's to record
        telemetry.push_failed(entry, failure, final=False)
        task_sync_state_set(
            entry.task_id,
            TaskSyncRecord.State.PENDING,
            replace(failure, reason=f"Will retry: {failure.reason}"),
        )
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.RETRY,
            task_id=entry.task_id,
            salesforce_id=entry.salesforce_id,
            message=f"Attempt {attempts} failed, will retry: {failure.message}",
        )


def entry_fail(entry: OutboxEntry, failure: Failure) -> bool:
    """The push failed for good; returns whether the claim still held (else nothing is
    written: the cycle that has the entry now decides)."""
    with transaction.atomic():
        tasks_lock([entry.task_id])
        # updated_at is when it failed (queryset updates skip auto_now): the failed-records
        # queue shows and filters by it, and sync admins are mailed about failures newer
        # than their last mail (sync/alerts.py).
        if not _claims([entry]).update(
            state=OutboxEntry.State.FAILED,
            attempts=entry.attempts + 1,
            updated_at=timezone.now(),
            **failure.columns(),
        ):
            return False
        resync_run_count(entry, failed=True)
        task_sync_state_set(entry.task_id, TaskSyncRecord.State.ERROR, failure)
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.ERROR,
            task_id=entry.task_id,
            salesforce_id=entry.salesforce_id,
            message=failure.log_line,
        )
    telemetry.push_failed(entry, failure, final=True)
    return True


def resync_run_count(entry: OutboxEntry, *, failed: bool) -> None:
    resync_runs_count([entry], failed=failed)


def resync_runs_count(entries: list[OutboxEntry], *, failed: bool) -> None:
    """Progress of the mapping re-syncs these entries belong to (the admin shows done / total),
    two queries per run, not per entry."""
    per_run = Counter(e.resync_run_id for e in entries if e.resync_run_id)
    column = "failed" if failed else "done"
    for run_id, count in per_run.items():
        ResyncRun.objects.filter(pk=run_id).update(**{column: F(column) + count})
        ResyncRun.objects.filter(
            pk=run_id, finished_at=None, total__lte=F("done") + F("failed")
        ).update(finished_at=timezone.now())


def task_sync_state_set(task_id: int, state: str, failure: Failure | None) -> None:
    error = failure.columns() if failure else NO_FAILURE
    TaskSyncRecord.objects.filter(task_id=task_id).update(state=state, **error)


def entries_done(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    """Entries with nothing (more) to send: done, in one query. Returns those whose claims
    held; the caller writes nothing more for the others."""
    with transaction.atomic():
        held = _claims_held(entries)
        if held:
            OutboxEntry.objects.filter(pk__in=[e.pk for e in held]).update(
                state=OutboxEntry.State.DONE, attempts=F("attempts") + 1, **NO_FAILURE
            )
            resync_runs_count(held, failed=False)
    return held


def tasks_synced(task_ids: list[int]) -> None:
    """These tasks hold what Salesforce holds (a push found nothing to send)."""
    if task_ids:
        TaskSyncRecord.objects.filter(task_id__in=task_ids).exclude(
            state=TaskSyncRecord.State.SYNCED, last_error=""
        ).update(state=TaskSyncRecord.State.SYNCED, **NO_FAILURE)


def entry_done(entry: OutboxEntry) -> bool:
    """Returns whether the claim still held (else nothing is written)."""
    return bool(entries_done([entry]))


def entry_retry(*, entry: OutboxEntry) -> OutboxEntry:
    """Retry a failed push by hand: back to pending with a clean attempt count."""
    with transaction.atomic():
        if entry.state == OutboxEntry.State.FAILED:
            newer = OutboxEntry.objects.filter(
                task_id=entry.task_id, operation=entry.operation, state=OutboxEntry.State.PENDING
            ).exists()
            if not newer:
                OutboxEntry.objects.filter(pk=entry.pk).update(
                    state=OutboxEntry.State.PENDING,
                    attempts=0,
                    next_attempt_at=timezone.now(),
                    claimed_at=None,
                )
            else:
                OutboxEntry.objects.filter(pk=entry.pk).update(state=OutboxEntry.State.DONE)
            task_sync_state_set(entry.task_id, TaskSyncRecord.State.PENDING, None)
            _ring_after_commit()
    entry.refresh_from_db()
    return entry


def resync_run_start(*, run_id: int) -> int:
    """Queue a push of every linked task for a mapping re-sync; returns how many."""
    linked = list(
        TaskSyncRecord.objects.exclude(salesforce_id=None)
        .order_by("task_id")  # entries are locked in task order (tasks_lock)
        .values_list("task_id", flat=True)
    )
    with transaction.atomic():
        ResyncRun.objects.filter(pk=run_id).update(total=len(linked))
        for task_id in linked:
            outbox_add(
                task_id=task_id, operation=OutboxEntry.Operation.UPSERT, resync_run_id=run_id
            )
        if not linked:
            ResyncRun.objects.filter(pk=run_id).update(finished_at=timezone.now())
    return len(linked)


def task_sync_note(task: Task, kind: str) -> None:
    """A CSM stopped syncing a task, or synced it again: the task's history says so (in the
    service's transaction, so a refused change logs nothing)."""
    record = getattr(task, "sync_record", None)
    stopped = kind == SyncEvent.Kind.DESYNCED
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.DESYNCED if stopped else SyncEvent.Kind.RESYNCED,
        task_id=task.pk,
        salesforce_id=(record.salesforce_id if record else "") or "",
        message=f"'{task.name}': "
        + (
            "syncing stopped by its owner; both sides keep their data."
            if stopped
            else "syncing again; what changed on each side meanwhile is merged."
        ),
    )
