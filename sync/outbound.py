"""Outbound sync: Cockpit task changes → the outbox → Salesforce, in collections of 200.

Rules (DESIGN section 3): only tasks created after sync was first switched on are pushed, or
tasks a CSM pushes by hand, or tasks already linked to Salesforce (rule 2); creates upsert by
the external id field so a retry never duplicates (rule 9); every change is retried with
backoff until it succeeds or fails permanently, and then shows on the task (rule 9).
"""

import datetime as dt
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import F
from django.utils import timezone

from adminconfig.models import ResyncRun, SalesforceConnection, UserMapping
from tasks.models import Task, TaskSyncRecord

from .client import COLLECTION_LIMIT, AuthError, SalesforceError
from .clients import client_for_connection
from .config import mapping_spec_load
from .mapping import MappingSpec, to_salesforce
from .models import OutboxEntry, SyncEvent
from .selectors import outbound_connection, sync_settings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
STALE_CLAIM = dt.timedelta(minutes=10)
# Slow down before the org's daily limit, never after it (rule 10).
API_USAGE_CEILING = 0.9
LIMIT_PAUSE = dt.timedelta(minutes=15)
# Salesforce answers these for a record that is already gone: a delete is then done.
GONE_CODES = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"}
TRANSIENT_RECORD_CODES = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"}


def external_id(task_id: int) -> str:
    return f"cockpit-{task_id}"


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min ... capped at an hour, with jitter so retries do not stampede."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return dt.timedelta(seconds=seconds * (1 + random.random() * 0.25))  # noqa: S311


# ---- enqueueing (called from the signal handlers, inside the task's transaction) -----------


def _doorbell() -> None:
    from .tasks import push

    push.delay()


def outbox_add(
    *, task_id: int, operation: str, salesforce_id: str = "", resync_run_id: int | None = None
) -> OutboxEntry:
    """Write (or reuse) the pending outbox entry and ring the worker after commit."""
    now = timezone.now()
    entry = OutboxEntry.objects.filter(
        task_id=task_id, operation=operation, state=OutboxEntry.State.PENDING
    ).first()
    if entry is None:
        try:
            with transaction.atomic():
                entry = OutboxEntry.objects.create(
                    task_id=task_id,
                    operation=operation,
                    salesforce_id=salesforce_id,
                    next_attempt_at=now,
                    resync_run_id=resync_run_id,
                )
        except IntegrityError:  # a concurrent save made it first: one entry is enough
            entry = OutboxEntry.objects.get(
                task_id=task_id, operation=operation, state=OutboxEntry.State.PENDING
            )
    if entry.next_attempt_at > now or (resync_run_id and entry.resync_run_id != resync_run_id):
        # A fresh change is pushed now, even if an earlier failure was backing off.
        changes: dict[str, Any] = {"next_attempt_at": now}
        if resync_run_id:
            changes["resync_run_id"] = resync_run_id
        OutboxEntry.objects.filter(pk=entry.pk).update(**changes)
    transaction.on_commit(_doorbell)
    return entry


def task_change_record(*, task: Task, force: bool = False) -> OutboxEntry | None:
    """A task was created or changed in Cockpit: queue its push when it is eligible."""
    settings = sync_settings()
    record = TaskSyncRecord.objects.filter(task=task).first()
    linked = bool(record and record.salesforce_id)
    if outbound_connection(settings) is None:
        if not linked or force:
            return None
        # A task already in Salesforce keeps its changes while sync is off; they are pushed
        # when it is back on, so the two sides do not drift apart for good.
    else:
        created_after = settings.first_enabled_at and task.created_at >= settings.first_enabled_at
        if not (force or linked or created_after):
            return None  # Marketo's rule: older tasks are not pushed unless a CSM asks
    TaskSyncRecord.objects.update_or_create(
        task=task, defaults={"state": TaskSyncRecord.State.PENDING}
    )
    return outbox_add(task_id=task.pk, operation=OutboxEntry.Operation.UPSERT)


def task_delete_record(*, task: Task) -> OutboxEntry | None:
    """A task is being deleted in Cockpit: queue the Salesforce delete when it was linked."""
    record = TaskSyncRecord.objects.filter(task=task).exclude(salesforce_id=None).first()
    if record is None:
        return None
    # Queued even while sync is off: otherwise the Salesforce twin would outlive it and come
    # back as a new task at the next pull.
    return outbox_add(
        task_id=task.pk,
        operation=OutboxEntry.Operation.DELETE,
        salesforce_id=record.salesforce_id,
    )


def company_tasks_record(*, company: Any) -> int:
    """Queue a push of every linked task of a company whose link is about to change."""
    task_ids = list(
        TaskSyncRecord.objects.filter(task__company=company)
        .exclude(salesforce_id=None)
        .values_list("task_id", flat=True)
    )
    for task_id in task_ids:
        outbox_add(task_id=task_id, operation=OutboxEntry.Operation.UPSERT)
    return len(task_ids)


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
    return list(OutboxEntry.objects.filter(pk__in=ids, claimed_at=now))


def outbox_release_stale() -> int:
    """Entries a crashed worker claimed and never finished go back to pending."""
    cutoff = timezone.now() - STALE_CLAIM
    released = 0
    for entry in OutboxEntry.objects.filter(
        state=OutboxEntry.State.IN_FLIGHT, claimed_at__lt=cutoff
    ):
        released += _to_pending(entry, error="", delay=dt.timedelta(0), count_attempt=False)
    return released


def outbox_due() -> bool:
    return OutboxEntry.objects.filter(
        state=OutboxEntry.State.PENDING, next_attempt_at__lte=timezone.now()
    ).exists()


# ---- finishing entries ---------------------------------------------------------------------


def _to_pending(
    entry: OutboxEntry, *, error: str, delay: dt.timedelta, count_attempt: bool = True
) -> int:
    """Back to pending for a retry; when a newer change is pending already, that one wins."""
    with transaction.atomic():
        newer = OutboxEntry.objects.filter(
            task_id=entry.task_id, operation=entry.operation, state=OutboxEntry.State.PENDING
        ).exclude(pk=entry.pk)
        if newer.exists():
            OutboxEntry.objects.filter(pk=entry.pk).update(
                state=OutboxEntry.State.DONE, last_error="superseded by a newer change"
            )
            return 0
        OutboxEntry.objects.filter(pk=entry.pk).update(
            state=OutboxEntry.State.PENDING,
            attempts=entry.attempts + (1 if count_attempt else 0),
            next_attempt_at=timezone.now() + delay,
            last_error=error,
            claimed_at=None,
        )
    return 1


def _retry_or_fail(entry: OutboxEntry, error: str) -> None:
    attempts = entry.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        _fail(entry, f"{error} (gave up after {attempts} attempts)")
        return
    _to_pending(entry, error=error, delay=backoff(attempts))
    _record_state(entry.task_id, TaskSyncRecord.State.PENDING, f"Will retry: {error}")
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.RETRY,
        task_id=entry.task_id,
        salesforce_id=entry.salesforce_id,
        message=f"Attempt {attempts} failed, will retry: {error}",
    )


def _fail(entry: OutboxEntry, error: str) -> None:
    OutboxEntry.objects.filter(pk=entry.pk).update(
        state=OutboxEntry.State.FAILED, last_error=error, attempts=entry.attempts + 1
    )
    _count_for_run(entry, failed=True)
    _record_state(entry.task_id, TaskSyncRecord.State.ERROR, error)
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.ERROR,
        task_id=entry.task_id,
        salesforce_id=entry.salesforce_id,
        message=error,
    )
    log.warning("Push of task %s failed: %s", entry.task_id, error)


def _count_for_run(entry: OutboxEntry, *, failed: bool) -> None:
    _count_for_runs([entry], failed=failed)


def _count_for_runs(entries: list[OutboxEntry], *, failed: bool) -> None:
    """Progress of the mapping re-syncs these entries belong to (the admin shows done / total),
    two queries per run, not per entry."""
    per_run = Counter(e.resync_run_id for e in entries if e.resync_run_id)
    column = "failed" if failed else "done"
    for run_id, count in per_run.items():
        ResyncRun.objects.filter(pk=run_id).update(**{column: F(column) + count})
        ResyncRun.objects.filter(
            pk=run_id, finished_at=None, total__lte=F("done") + F("failed")
        ).update(finished_at=timezone.now())


def _record_state(task_id: int, state: str, error: str) -> None:
    TaskSyncRecord.objects.filter(task_id=task_id).update(state=state, last_error=error)


def _done(entry: OutboxEntry) -> None:
    OutboxEntry.objects.filter(pk=entry.pk).update(
        state=OutboxEntry.State.DONE, last_error="", attempts=entry.attempts + 1
    )
    _count_for_run(entry, failed=False)


# ---- pushing -------------------------------------------------------------------------------


@dataclass
class PushResult:
    pushed: int = 0
    deleted: int = 0
    retried: int = 0
    failed: int = 0
    api_calls: int = 0
    errors: list[str] = field(default_factory=list)


def outbox_push(*, limit: int = COLLECTION_LIMIT) -> PushResult:
    """Claim one batch and push it: one collection call for upserts, one for deletes."""
    result = PushResult()
    connection = outbound_connection()
    if connection is None:
        return result  # sync off: entries wait, nothing is lost
    if connection.push_paused_until and connection.push_paused_until > timezone.now():
        return result  # near the org's daily API limit: the sweep resumes later
    entries = outbox_claim(limit=limit)
    if not entries:
        return result
    client = client_for_connection(connection)
    calls_before = client.calls
    upserts = [e for e in entries if e.operation == OutboxEntry.Operation.UPSERT]
    deletes = [e for e in entries if e.operation == OutboxEntry.Operation.DELETE]
    for batch, push in ((upserts, _push_upserts), (deletes, _push_deletes)):
        if not batch:
            continue
        try:
            push(connection, client, batch, result)
        except AuthError as exc:
            _connection_state(connection, SalesforceConnection.State.UNAUTHORIZED, str(exc))
            _retry_all(batch, str(exc), result)
        except SalesforceError as exc:
            if not exc.transient:
                _connection_state(connection, SalesforceConnection.State.ERROR, str(exc))
            _retry_all(batch, str(exc), result)
    result.api_calls = client.calls - calls_before
    api_usage_record(connection, client.api_usage, calls=result.api_calls)
    return result


def outbox_push_all(*, max_batches: int = 50) -> PushResult:
    """Push until nothing is due (bounded, so one task run cannot hog a worker)."""
    total = PushResult()
    for _ in range(max_batches):
        batch = outbox_push()
        for name in ("pushed", "deleted", "retried", "failed", "api_calls"):
            setattr(total, name, getattr(total, name) + getattr(batch, name))
        total.errors += batch.errors
        if batch.pushed + batch.deleted + batch.retried + batch.failed == 0:
            break
    return total


def _retry_all(entries: list[OutboxEntry], error: str, result: PushResult) -> None:
    for entry in entries:
        _retry_or_fail(entry, error)
    result.retried += len(entries)
    result.errors.append(error)


def _connection_state(connection: SalesforceConnection, state: str, error: str) -> None:
    SalesforceConnection.objects.filter(pk=connection.pk).update(state=state, last_error=error)


def api_usage_record(
    connection: SalesforceConnection, usage: tuple[int, int] | None, *, calls: int = 0
) -> None:
    """Record the org's usage (Sforce-Limit-Info) and Cockpit's own calls of the day; pause
    pushing before the org's limit or Cockpit's daily budget is reached, never after."""
    now = timezone.now()
    today = now.astimezone(dt.UTC).date()
    with transaction.atomic():
        row = SalesforceConnection.objects.select_for_update().get(pk=connection.pk)
        spent = (row.cockpit_calls if row.cockpit_calls_date == today else 0) + calls
        changes: dict[str, Any] = {"cockpit_calls": spent, "cockpit_calls_date": today}
        if usage:
            changes.update(api_usage=usage[0], api_limit=usage[1], api_usage_checked_at=now)
        reason = ""
        paused = None
        if usage and usage[0] >= usage[1] * API_USAGE_CEILING:
            paused = now + LIMIT_PAUSE
            reason = (
                f"Salesforce API usage {usage[0]:,} of {usage[1]:,}: pushing paused for "
                f"{int(LIMIT_PAUSE.total_seconds() // 60)} minutes, before the daily limit."
            )
        elif spent >= row.daily_api_budget:
            midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
            paused = midnight
            reason = (
                f"Cockpit spent its daily API budget ({spent:,} of {row.daily_api_budget:,} "
                "calls): pushing paused until midnight UTC."
            )
        changes["push_paused_until"] = paused
        SalesforceConnection.objects.filter(pk=connection.pk).update(**changes)
    if reason and not (row.push_paused_until and row.push_paused_until > now):
        SyncEvent.objects.create(kind=SyncEvent.Kind.RETRY, message=reason)


def task_payload(
    task: Task, spec: MappingSpec, owners: dict[int, str], connection: SalesforceConnection
) -> tuple[dict[str, Any] | None, str]:
    """The Salesforce fields of a task, or (None, reason) when it cannot be pushed."""
    owner_id = owners.get(task.owner_id)
    if not owner_id:
        return None, (
            f"{task.owner.get_username()} has no Salesforce user: map it in "
            "Salesforce sync configuration > User mappings, then retry."
        )
    values: dict[str, Any] = {
        "name": task.name,
        "details": task.details,
        "due_date": task.due_date,
        "completed_at": task.completed_at,
        "created_at": task.created_at,
        "status": task.status.value,
        "priority": task.priority.value,
    }
    for key, value in (task.custom_fields or {}).items():
        values[f"custom:{key}"] = value
    payload = to_salesforce(values, spec)
    payload["OwnerId"] = owner_id
    payload["WhatId"] = task.company.salesforce_account_id if task.company else None
    return payload, ""


def _push_upserts(
    connection: SalesforceConnection, client: Any, entries: list[OutboxEntry], result: PushResult
) -> None:
    tasks = {
        t.pk: t
        for t in Task.objects.select_related("status", "priority", "owner", "company").filter(
            pk__in=[e.task_id for e in entries]
        )
    }
    records = {r.task_id: r for r in TaskSyncRecord.objects.filter(task_id__in=tasks)}
    owners = dict(
        UserMapping.objects.filter(user_id__in={t.owner_id for t in tasks.values()}).values_list(
            "user_id", "salesforce_user_id"
        )
    )
    spec = mapping_spec_load(connection)
    use_upsert = _has_field(connection, connection.external_id_field)
    sendable: list[tuple[OutboxEntry, dict[str, Any]]] = []
    for entry in entries:
        task = tasks.get(entry.task_id)
        if task is None:  # deleted since: its delete entry takes over
            _done(entry)
            continue
        payload, reason = task_payload(task, spec, owners, connection)
        if payload is None:
            _fail(entry, reason)
            result.failed += 1
            continue
        sendable.append((entry, payload))
    if not sendable:
        return
    if use_upsert:
        body = [{connection.external_id_field: external_id(e.task_id), **p} for e, p in sendable]
        answers = client.collection_upsert("Task", connection.external_id_field, body)
        _apply_answers(sendable, answers, records, result)
        return
    # No external id field in the org: create the new ones, update the linked ones.
    new = [(e, p) for e, p in sendable if not _sf_id(records.get(e.task_id))]
    linked = [(e, p) for e, p in sendable if _sf_id(records.get(e.task_id))]
    if new:
        _apply_answers(new, client.collection_create("Task", [p for _, p in new]), records, result)
    if linked:
        body = [{"id": _sf_id(records[e.task_id]), **p} for e, p in linked]
        _apply_answers(linked, client.collection_update("Task", body), records, result)


def _sf_id(record: TaskSyncRecord | None) -> str:
    return (record.salesforce_id or "") if record else ""


def _has_field(connection: SalesforceConnection, name: str) -> bool:
    fields = (connection.task_describe or {}).get("fields")
    if not fields:
        return True  # not described yet: assume the documented setup, upsert
    return any(f["name"] == name for f in fields)


def _record_error(answer: dict[str, Any]) -> tuple[str, str]:
    errors = answer.get("errors") or [{}]
    code = errors[0].get("statusCode", "")
    message = errors[0].get("message", "")
    fields = errors[0].get("fields") or []
    text = f"{code}: {message}" + (f" ({', '.join(fields)})" if fields else "")
    return code, text


def _apply_answers(
    sent: list[tuple[OutboxEntry, dict[str, Any]]],
    answers: list[dict[str, Any]],
    records: dict[int, TaskSyncRecord],
    result: PushResult,
) -> None:
    """Record a collection call's answers: a handful of queries per batch, not per record."""
    now = timezone.now()
    succeeded: list[tuple[OutboxEntry, dict[str, Any], str]] = []
    for (entry, payload), answer in zip(sent, answers, strict=True):
        if answer.get("success"):
            succeeded.append((entry, payload, answer["id"]))
            continue
        code, text = _record_error(answer)
        if code in TRANSIENT_RECORD_CODES:
            _retry_or_fail(entry, text)
            result.retried += 1
        else:
            _fail(entry, text)
            result.failed += 1
        result.errors.append(text)
    if succeeded:
        _record_successes(succeeded, records, now)
    result.pushed += len(succeeded)


def _record_successes(
    succeeded: list[tuple[OutboxEntry, dict[str, Any], str]],
    records: dict[int, TaskSyncRecord],
    now: Any,
) -> None:
    new_records = []
    changed_records = []
    for entry, payload, salesforce_id in succeeded:
        record = records.get(entry.task_id) or TaskSyncRecord(task_id=entry.task_id)
        record.salesforce_id = salesforce_id
        record.state = TaskSyncRecord.State.SYNCED
        record.last_synced_at = now
        record.last_error = ""
        # What both sides now hold: the base of the next three-way merge, and how the next
        # pull recognises this push's echo (rule 7).
        record.agreed_values = payload
        (changed_records if record.pk else new_records).append(record)
    TaskSyncRecord.objects.bulk_update(
        changed_records, ["salesforce_id", "state", "last_synced_at", "last_error", "agreed_values"]
    )
    TaskSyncRecord.objects.bulk_create(new_records)
    entries = [entry for entry, _, _ in succeeded]
    OutboxEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
        state=OutboxEntry.State.DONE, last_error="", attempts=F("attempts") + 1
    )
    _count_for_runs(entries, failed=False)
    # Earlier pushes of these tasks that failed for good are settled by this one.
    OutboxEntry.objects.filter(
        task_id__in=[e.task_id for e in entries],
        operation=OutboxEntry.Operation.UPSERT,
        state=OutboxEntry.State.FAILED,
    ).update(state=OutboxEntry.State.DONE, last_error="settled by a later push")
    SyncEvent.objects.bulk_create(
        SyncEvent(
            kind=SyncEvent.Kind.PUSHED,
            task_id=entry.task_id,
            salesforce_id=salesforce_id,
            message="Pushed to Salesforce",
        )
        for entry, _, salesforce_id in succeeded
    )


def _push_deletes(
    connection: SalesforceConnection, client: Any, entries: list[OutboxEntry], result: PushResult
) -> None:
    answers = client.collection_delete([e.salesforce_id for e in entries])
    for entry, answer in zip(entries, answers, strict=True):
        code, text = ("", "") if answer.get("success") else _record_error(answer)
        if answer.get("success") or code in GONE_CODES:
            _done(entry)
            result.deleted += 1
            SyncEvent.objects.create(
                kind=SyncEvent.Kind.DELETED,
                task_id=entry.task_id,
                salesforce_id=entry.salesforce_id,
                message="Deleted in Salesforce",
            )
        elif code in TRANSIENT_RECORD_CODES:
            _retry_or_fail(entry, text)
            result.retried += 1
        else:
            _fail(entry, text)
            result.failed += 1


# ---- by hand -------------------------------------------------------------------------------


def task_push_now(*, task: Task) -> PushResult:
    """'Sync to Salesforce': queue the task even if it predates sync, and push at once."""
    with transaction.atomic():
        entry = task_change_record(task=task, force=True)
    if entry is None:
        raise SyncOffError("Sync to Salesforce is off: an admin switches Auto Sync on first.")
    return outbox_push_all(max_batches=5)


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
            _record_state(entry.task_id, TaskSyncRecord.State.PENDING, "")
            transaction.on_commit(_doorbell)
    entry.refresh_from_db()
    return entry


class SyncOffError(Exception):
    pass


def resync_run_start(*, run_id: int) -> int:
    """Queue a push of every linked task for a mapping re-sync; returns how many."""
    linked = list(
        TaskSyncRecord.objects.exclude(salesforce_id=None).values_list("task_id", flat=True)
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
