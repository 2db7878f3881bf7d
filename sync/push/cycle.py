"""The push cycle: claim what is due, prepare its writes (creates, updates, deletes), send
them in the cycle's Composite calls, record the answers. outbox_push runs one cycle under the
engine lease; outbox_push_all runs them until nothing is due."""

import datetime as dt
from collections.abc import Callable

from django.conf import settings as django_settings
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from tasks.models import Task, TaskSyncRecord

from .. import telemetry
from ..client import COMPOSITE_COLLECTIONS, COMPOSITE_LIMIT, SalesforceClient, SalesforceError
from ..client_cache import client_for_connection
from ..engine_config import Engine, engine_load
from ..failures import Failure
from ..lease import LeaseLostError, lease_hold
from ..models import OutboxEntry
from ..outages import outage_end, outage_waiting
from ..outbox import (
    cycle_calls_paced,
    entry_done,
    entry_to_pending,
    outbox_claim,
    outbox_release_orphans,
)
from ..selectors import outbound_connection, sync_settings
from ..uncertain import uncertain_since
from ..usage import api_usage_record
from .answers import batch_crashed, batch_failed, outage_wait
from .base import CYCLE_LIMIT, LEASE_WAIT, PushResult, Write, log, unfinished
from .calls import writes_send
from .creates import own_creates_find, push_creates
from .deletes import push_deletes
from .reads import verify_due, verify_write
from .updates import entries_hold, push_read_merged, push_updates


@telemetry.step("push")
def outbox_push(*, limit: int = CYCLE_LIMIT) -> PushResult:
    """One push cycle: claim what is due and push it. One cycle runs at a time, and never
    beside a pull (both keep a task's agreed values)."""
    result = PushResult()
    connection = outbound_connection()
    if connection is None:
        return result  # sync off: entries wait, nothing is lost
    if connection.push_paused_until and connection.push_paused_until > timezone.now():
        return result  # near the org's daily API limit: the sweep resumes later
    if outage_waiting(connection):
        return result  # Salesforce was unreachable: a push is booked for the end of the pause
    with lease_hold(wait=LEASE_WAIT) as held:
        if not held:
            return result  # the sweep comes back for what is due
        try:
            _cycle(connection, limit, result)
        except LeaseLostError as exc:
            # Stalled past the lease (a slow call, a paused process) and another cycle took
            # over: it has taken back this cycle's claims, and every write that would have
            # finished them was refused. Nothing more is written here.
            result.errors.append(f"Push cycle stopped: {exc}")
    return result


def _cycle(connection: SalesforceConnection, limit: int, result: PushResult) -> None:
    """One cycle under the lease: claim, prepare the writes, send them, record the calls
    made (and the end of an outage, when Salesforce answered)."""
    outbox_release_orphans()
    entries = outbox_claim(limit=limit)
    result.claimed = len(entries)
    if not entries:
        return
    try:
        client = client_for_connection(connection)
    except SalesforceError as exc:  # the stored secret no longer decrypts
        batch_failed(connection, entries, exc, result)
        return
    calls_before = client.calls
    engine = engine_load(connection, sync_settings())
    writes, reached = _writes_prepare(connection, engine, client, entries, result)
    if writes and not reached:
        outage_wait(unfinished([e for w in writes for e in w.entries]), result)
    elif writes:
        backlog = len(entries) >= limit
        reached = _writes_push(connection, engine, client, writes, result, backlog=backlog)
    result.api_calls = client.calls - calls_before
    if reached and result.api_calls:
        outage_end(connection=connection)
    api_usage_record(connection, client.api_usage, calls=result.api_calls)


def _writes_prepare(
    connection: SalesforceConnection,
    engine: Engine,
    client: SalesforceClient,
    entries: list[OutboxEntry],
    result: PushResult,
) -> tuple[list[Write], bool]:
    """First what must be read (or written conditionally) before the writes are known; then
    every collection write of the cycle, creates, updates and deletes together. Returns those
    writes and whether Salesforce was reached."""
    upserts = [e for e in entries if e.operation == OutboxEntry.Operation.UPSERT]
    deletes = [e for e in entries if e.operation == OutboxEntry.Operation.DELETE]
    reached = True
    writes: list[Write] = []
    for batch, prepare in ((upserts, _push_upserts), (deletes, push_deletes)):
        if not batch:
            continue
        if not reached:  # Salesforce is down: the rest waits too, without a call
            outage_wait(unfinished(batch), result)
            continue
        prepared, reached = _batch_prepare(connection, engine, client, batch, prepare, result)
        writes += prepared
    return writes, reached


def _batch_prepare(
    connection: SalesforceConnection,
    engine: Engine,
    client: SalesforceClient,
    batch: list[OutboxEntry],
    prepare: Callable[[Engine, SalesforceClient, list[OutboxEntry], PushResult], list[Write]],
    result: PushResult,
) -> tuple[list[Write], bool]:
    """The writes of one batch (the upserts, or the deletes); a batch that fails is failed
    on its entries. Returns its writes and whether Salesforce was reached."""
    try:
        return prepare(engine, client, batch, result), True
    except SalesforceError as exc:
        batch_failed(connection, unfinished(batch), exc, result)
        return [], not exc.transient
    except LeaseLostError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on every entry, never in a loop
        # A bug or an answer Cockpit does not understand: without this the entries
        # would stay claimed and be claimed again every cycle, with no trace.
        log.exception("A push batch failed unexpectedly")
        left = unfinished(batch)
        if len(left) < 2:
            batch_crashed(left, exc, result)
            return [], True
    # Prepared again in halves, down to single entries: one task's data that breaks the push
    # (a bug meeting a record nobody foresaw) fails that task alone, and every other change
    # of the cycle still goes out. A few more reads, only when something broke: about two a
    # halving for each entry that breaks.
    first, second = left[: len(left) // 2], left[len(left) // 2 :]
    writes, reached = _batch_prepare(connection, engine, client, first, prepare, result)
    if not reached:  # Salesforce is down: the other half waits too, without a call
        outage_wait(unfinished(second), result)
        return writes, False
    more, reached = _batch_prepare(connection, engine, client, second, prepare, result)
    return writes + more, reached


def _writes_push(
    connection: SalesforceConnection,
    engine: Engine,
    client: SalesforceClient,
    writes: list[Write],
    result: PushResult,
    *,
    backlog: bool,
) -> bool:
    """The cycle's writes sent, then those Salesforce refused (412) read, merged and written.
    Returns whether Salesforce was reached."""
    if not backlog:
        # Not a backlog's full cycle: the first call also re-reads twins Cockpit wrote a
        # moment ago, so their next writes can be conditional (guarantee 13).
        verify = verify_due(engine, exclude={e.task_id for w in writes for e in w.entries})
        if verify is not None:
            writes.insert(0, verify_write(client, verify))
    reached = writes_send(connection, client, writes, result)
    for write in writes:
        if reached and write.refused:
            reached = _refused_push(connection, engine, client, write, result)
    return reached


def _refused_push(
    connection: SalesforceConnection,
    engine: Engine,
    client: SalesforceClient,
    write: Write,
    result: PushResult,
) -> bool:
    """Conditional writes Salesforce refused (412), edited there since Cockpit's agreement:
    read, merged and written now. Returns whether Salesforce was reached."""
    refused, tasks = write.refused or [], write.tasks or {}
    entries = [e for e, _ in refused]
    try:
        # Conditional on what this read sees; refused again (a Salesforce user saving the
        # task right now), the task waits for the next cycle.
        again = push_read_merged(engine, client, refused, tasks, result, room=COMPOSITE_LIMIT)
    except SalesforceError as exc:
        batch_failed(connection, unfinished(entries), exc, result)
        return not exc.transient
    except LeaseLostError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on every entry, as in _cycle
        log.exception("A push batch failed unexpectedly")
        batch_crashed(unfinished(entries), exc, result)
        return True
    if not again:
        return True
    reached = writes_send(connection, client, again, result)
    refused_again = [e for w in again for e, _ in w.refused or []]
    if refused_again:
        entries_hold(refused_again)
    return reached


def outbox_push_all(
    *,
    max_batches: int = 50,
    limit: int = CYCLE_LIMIT,
    between_cycles: Callable[[], object] | None = None,
) -> PushResult:
    """Push until nothing is due (bounded, so one task run cannot hog a worker), in cycles of
    up to `limit` changes. `between_cycles`: the job that may run between two cycles of a
    backlog (sync/scheduler.py passes the pull, when due)."""
    total = PushResult()
    for _ in range(max_batches):
        batch = outbox_push(limit=limit)
        for name in ("pushed", "deleted", "retried", "failed", "api_calls"):
            setattr(total, name, getattr(total, name) + getattr(batch, name))
        total.errors += batch.errors
        if batch.pushed + batch.deleted + batch.retried + batch.failed + batch.unchanged == 0:
            break
        if batch.claimed < limit:
            # Not a backlog: changes made from now on ring the doorbell, and their cycle
            # lingers for company (group commit) instead of going out a few at a time, and
            # for as many seconds as this one made calls.
            cycle_calls_paced(batch.api_calls)
            break
        if between_cycles is not None:
            between_cycles()
    return total


def _push_upserts(
    engine: Engine, client: SalesforceClient, entries: list[OutboxEntry], result: PushResult
) -> list[Write]:
    """Updates and first pushes: what must be read first is read (and a small cycle's
    updates written conditionally); returns the collection writes that carry the rest."""
    # The tasks' picklist rows, owners and companies are few, shared by many tasks: fetched
    # once each (prefetch) instead of joined and built again for every task.
    tasks = {
        t.pk: t
        for t in Task.objects.prefetch_related(
            "status", "priority", "owner", "company", "type"
        ).filter(pk__in=[e.task_id for e in entries])
    }
    # Only what sorting them and finding lost first pushes read (their agreements, JSON to
    # decode, are read again where a merge needs them).
    records = {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=tasks).only(
            "task_id", "salesforce_id", "desynced_at", "uncertain_writes"
        )
    }
    linked, new = _upserts_sort(entries, tasks, records)
    unsure = [e for e in new if records.get(e.task_id) and records[e.task_id].uncertain_writes]
    if unsure:
        found = own_creates_find(engine, client, unsure, records)
        new = [e for e in new if e not in found]
        linked += [(e, sf_id) for e, sf_id in found.items() if sf_id]
    creates = push_creates(engine, new, tasks, result) if new else []
    writes: list[Write] = []
    if linked:
        # The first call's subrequests: one for the verifying read, one a create collection.
        room = COMPOSITE_LIMIT - 1 - min(len(creates), COMPOSITE_COLLECTIONS - 1)
        writes += push_updates(
            engine, client, linked, tasks, result, rides=bool(creates), room=room
        )
    return writes + creates


def _upserts_sort(
    entries: list[OutboxEntry], tasks: dict[int, Task], records: dict[int, TaskSyncRecord]
) -> tuple[list[tuple[OutboxEntry, str]], list[OutboxEntry]]:
    """The updates (with their twins' Ids) and the first pushes among a cycle's upserts. The
    rest finish here (task deleted, or no longer synced) or wait for a write of theirs that
    got no answer and may still land."""
    linked: list[tuple[OutboxEntry, str]] = []
    new: list[OutboxEntry] = []
    grace = dt.timedelta(seconds=django_settings.SYNC_UNCERTAIN_GRACE_SECONDS)
    now = timezone.now()
    for entry in entries:
        if entry.task_id not in tasks:  # deleted since: its delete entry takes over
            entry_done(entry)
            continue
        if entry.task_id in records and records[entry.task_id].desynced_at:
            entry_done(entry)  # its CSM stopped syncing it: nothing goes out
            continue
        sent_at = uncertain_since(records[entry.task_id]) if entry.task_id in records else None
        if sent_at and sent_at + grace > now:
            # A write of this task got no answer and may still be applied: writing again now
            # could land before it and be overwritten by it. Wait for it first.
            entry_to_pending(
                entry,
                failure=Failure.stored(entry),
                delay=sent_at + grace - now,
                count_attempt=False,
            )
            continue
        salesforce_id = _sf_id(records.get(entry.task_id))
        if salesforce_id:
            linked.append((entry, salesforce_id))
        else:
            new.append(entry)
    return linked, new


def _sf_id(record: TaskSyncRecord | None) -> str:
    return (record.salesforce_id or "") if record else ""
