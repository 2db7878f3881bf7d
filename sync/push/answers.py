"""Recording what a push's calls answered, or that they failed: per entry (retried, failed,
pushed), per connection (an outage, a refused login), and in the sync log."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from tasks.bulk import rows_insert
from tasks.models import Task, TaskSyncRecord

from .. import telemetry
from ..client import AuthError, RecordResult, RecordStatus, SalesforceError
from ..enqueue import PUSH, job_send
from ..failures import NO_FAILURE, OTHER, Failure
from ..models import OutboxEntry, SyncEvent
from ..outages import outage_record
from ..outbox import entry_fail, entry_retry_later, entry_to_pending, task_sync_state_set
from .base import OUTAGE, PushResult, finishing


def batch_failed(
    connection: SalesforceConnection,
    entries: list[OutboxEntry],
    exc: SalesforceError,
    result: PushResult,
) -> None:
    """A whole call failed. Transient: an outage of the connection, not of these records.
    Otherwise every entry counts an attempt and backs off, and the connection shows why."""
    with finishing(entries):
        _batch_failed_record(connection, entries, exc, result)


def _batch_failed_record(
    connection: SalesforceConnection,
    entries: list[OutboxEntry],
    exc: SalesforceError,
    result: PushResult,
) -> None:
    if exc.transient:
        delay = outage_record(connection=connection, error=str(exc))
        outage_wait(entries, result)
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.RETRY,
            message=f"Salesforce could not be reached ({exc}): {len(entries)} change(s) wait; "
            f"next try in {delay.total_seconds():.0f} s.",
        )
        result.errors.append(str(exc))
        transaction.on_commit(lambda: _push_later(delay))
        return
    if isinstance(exc, AuthError):
        _connection_state(connection, SalesforceConnection.State.UNAUTHORIZED, str(exc))
    else:
        _connection_state(connection, SalesforceConnection.State.ERROR, str(exc))
    _retry_all(entries, exc.failure, result)


def outage_wait(entries: list[OutboxEntry], result: PushResult) -> None:
    telemetry.push_unreachable(entries)
    for entry in entries:
        if entry_to_pending(entry, failure=None, delay=dt.timedelta(0), count_attempt=False):
            task_sync_state_set(entry.task_id, TaskSyncRecord.State.PENDING, OUTAGE)
            result.retried += 1


def _push_later(delay: dt.timedelta) -> None:
    job_send(PUSH, countdown=delay.total_seconds())


def batch_crashed(entries: list[OutboxEntry], exc: Exception, result: PushResult) -> None:
    with finishing(entries):
        reason = f"Unexpected error while pushing ({type(exc).__name__}: {exc})"
        _retry_all(entries, Failure(reason, OTHER), result)


def _retry_all(entries: list[OutboxEntry], failure: Failure, result: PushResult) -> None:
    for entry in entries:
        entry_retry_later(entry, failure)
    result.retried += len(entries)
    result.errors.append(failure.reason)


def _connection_state(connection: SalesforceConnection, state: str, error: str) -> None:
    SalesforceConnection.objects.filter(pk=connection.pk).update(state=state, last_error=error)


def record_failure(entry: OutboxEntry, answered: RecordResult, result: PushResult) -> None:
    if answered.status == RecordStatus.TRANSIENT:
        entry_retry_later(entry, answered.failure)
        result.retried += 1
    else:
        entry_fail(entry, answered.failure)
        result.failed += 1
    result.errors.append(answered.message)


def pushed_log(
    entries: list[OutboxEntry], result: PushResult, sent: dict[int, list[str]] | None = None
) -> None:
    """Entries whose pushes Salesforce confirmed and whose claims held (finished already).
    `sent`: per task, the fields an update changed (by the names in `engine.labels`), so
    the task's history says what the push changed; a first push (a create) sends them all."""
    if not entries:
        return
    _failed_settled(entries)
    names: dict[int, str] = {}
    links: dict[int, str | None] = {}
    for pk, name, salesforce_id in Task.objects.filter(
        pk__in=[e.task_id for e in entries]
    ).values_list("pk", "name", "sync_record__salesforce_id"):
        names[pk], links[pk] = name, salesforce_id
    telemetry.records_pushed(entries, links)
    # The history's rows without the ORM's per-value preparation (most of this function's
    # time in a backlog): one INSERT run for every row.
    rows_insert(
        SyncEvent,
        fields=["task_id", "salesforce_id", "message"],
        rows=[
            (
                entry.task_id,
                links.get(entry.task_id) or "",
                f"'{names[entry.task_id]}' pushed to Salesforce"
                + (" (created)" if sent is None else f": {', '.join(sent.get(entry.task_id, []))}"),
            )
            for entry in entries
            if entry.task_id in names
        ],
        same={"kind": SyncEvent.Kind.PUSHED, "created_at": timezone.now()},
    )
    result.pushed += len(entries)


def _failed_settled(entries: list[OutboxEntry]) -> None:
    """Earlier pushes of these tasks that failed for good are settled by this one."""
    OutboxEntry.objects.filter(
        task_id__in=[e.task_id for e in entries],
        operation=OutboxEntry.Operation.UPSERT,
        state=OutboxEntry.State.FAILED,
    ).update(
        state=OutboxEntry.State.DONE, **{**NO_FAILURE, "last_error": "settled by a later push"}
    )
