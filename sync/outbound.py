"""Outbound sync: Cockpit task changes → the outbox → Salesforce, in collections of 200, up to
5 in one Composite call and up to 3 calls in flight.

Rules (DESIGN section 3): only tasks created after sync was first switched on are pushed, or
tasks a CSM pushes by hand, or tasks already linked to Salesforce (rule 2). A task's first push
upserts by the external id field, so a retry never duplicates (rule 9); after that its twin is
written by Id, and only with the fields Cockpit changed since the two last agreed, merged first
with what Salesforce changed meanwhile (rule 11): read first, or, for a small cycle, written
conditionally on the version Cockpit agreed with (If-Unmodified-Since, one Composite call) and
read only when Salesforce refuses it (rule 15). Every change is retried with backoff until it
succeeds or fails permanently, and then shows on the task (rule 9).
"""

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import format_datetime
from functools import partial
from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from tasks.bulk import rows_update
from tasks.models import Task, TaskSyncRecord

from . import telemetry
from .agreement import agreement_marked
from .client import (
    COLLECTION_LIMIT,
    COMPOSITE_COLLECTIONS,
    COMPOSITE_LIMIT,
    IN_FLIGHT,
    AuthError,
    RecordResult,
    RecordStatus,
    SalesforceClient,
    SalesforceError,
    record_result,
    soql_ids,
    subrequest_error,
)
from .client_cache import client_for_connection
from .engine_config import Engine, engine_load
from .enqueue import PUSH, job_send
from .external_ids import external_id
from .failures import CONNECTION, NO_FAILURE, OTHER, OWNER_NOT_MAPPED, Failure
from .lease import LeaseLostError, lease_fence, lease_hold
from .models import OutboxEntry, SyncEvent, Tombstone
from .outages import outage_end, outage_record, outage_waiting
from .outbox import (
    doorbell,
    entries_done,
    entry_done,
    entry_fail,
    entry_retry_later,
    entry_to_pending,
    outbox_add,
    outbox_claim,
    outbox_release_orphans,
    task_sync_state_set,
    tasks_lock,
    tasks_synced,
    tombstone_delete_queue,
)
from .payload import OWNER, create_payload, owner_missing_reason, task_values
from .selectors import outbound_connection, sync_settings
from .sf_types import TASK_SOBJECT, CompositeAnswer, CompositeSubrequest, QueryPage, RecordAnswer
from .stamps import conditional_since, stamp_awaited
from .tombstones import twins_deleted_in_salesforce
from .twins import AGREED_FIELDS, MergeItem, Outcome, twin_agreed_after_push, twins_merge_many
from .uncertain import first_push_base, uncertain_add, uncertain_since
from .usage import api_usage_record

log = logging.getLogger(__name__)

# One cycle claims up to this many entries: what they write goes in Composite calls of up to
# 5 collections of 200 (1,000 records), up to IN_FLIGHT of them at once; the reads their
# updates need go in Composite calls of up to 5 queries of READ_CHUNK Ids (400 keep a query's
# URL well inside Salesforce's limit).
CYCLE_LIMIT = IN_FLIGHT * COMPOSITE_COLLECTIONS * COLLECTION_LIMIT
LEASE_WAIT = 30.0  # seconds a push waits for a running pull or push to finish
READ_CHUNK = 2 * COLLECTION_LIMIT  # Ids in one SOQL IN list
OUTAGE_MESSAGE = "Salesforce could not be reached; Cockpit tries again in a few seconds."
OUTAGE = Failure(OUTAGE_MESSAGE, CONNECTION)
# The verifying read a cycle's first call carries (_verify_due): twins Cockpit wrote at least
# VERIFY_AFTER and at most VERIFY_WINDOW ago whose stamps are not settled, up to VERIFY_LIMIT.
VERIFY_AFTER = dt.timedelta(seconds=1)
VERIFY_WINDOW = dt.timedelta(seconds=60)
VERIFY_LIMIT = COLLECTION_LIMIT


# ---- pushing -------------------------------------------------------------------------------


@dataclass
class PushResult:
    pushed: int = 0
    unchanged: int = 0
    deleted: int = 0
    retried: int = 0
    failed: int = 0
    api_calls: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)


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
    outbox_release_orphans()
    entries = outbox_claim(limit=limit)
    result.claimed = len(entries)
    if not entries:
        return
    try:
        client = client_for_connection(connection)
    except SalesforceError as exc:  # the stored secret no longer decrypts
        _batch_failed(connection, entries, exc, result)
        return
    calls_before = client.calls
    engine = engine_load(connection, sync_settings())
    upserts = [e for e in entries if e.operation == OutboxEntry.Operation.UPSERT]
    deletes = [e for e in entries if e.operation == OutboxEntry.Operation.DELETE]
    reached = True
    writes: list[_Write] = []
    # First what must be read (or written conditionally) before the writes are known; then
    # every collection write of the cycle, creates, updates and deletes together.
    for batch, prepare in ((upserts, _push_upserts), (deletes, _push_deletes)):
        if not batch:
            continue
        if not reached:  # Salesforce is down: the rest waits too, without a call
            _outage_wait(_unfinished(batch), result)
            continue
        try:
            writes += prepare(engine, client, batch, result)
        except SalesforceError as exc:
            _batch_failed(connection, _unfinished(batch), exc, result)
            reached = not exc.transient
        except LeaseLostError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on every entry, never in a loop
            # A bug or an answer Cockpit does not understand: without this the entries
            # would stay claimed and be claimed again every cycle, with no trace.
            log.exception("A push batch failed unexpectedly")
            _batch_crashed(_unfinished(batch), exc, result)
    if writes and not reached:
        _outage_wait(_unfinished([e for w in writes for e in w.entries]), result)
    elif writes:
        if len(entries) < limit:
            # Not a backlog's full cycle: the first call also re-reads twins Cockpit wrote a
            # moment ago, so their next writes can be conditional (guarantee 13).
            verify = _verify_due(engine, exclude={e.task_id for w in writes for e in w.entries})
            if verify is not None:
                writes.insert(0, _verify_write(client, verify))
        reached = _writes_send(connection, client, writes, result)
        for write in writes:
            if reached and write.refused:
                reached = _refused_push(connection, engine, client, write, result)
    result.api_calls = client.calls - calls_before
    if reached and result.api_calls:
        outage_end(connection=connection)
    api_usage_record(connection, client.api_usage, calls=result.api_calls)


def _refused_push(
    connection: SalesforceConnection,
    engine: Engine,
    client: SalesforceClient,
    write: "_Write",
    result: PushResult,
) -> bool:
    """Conditional writes Salesforce refused (412), edited there since Cockpit's agreement:
    read, merged and written now. Returns whether Salesforce was reached."""
    refused, tasks = write.refused or [], write.tasks or {}
    entries = [e for e, _ in refused]
    try:
        again = _push_read_merged(engine, client, refused, tasks, result)
    except SalesforceError as exc:
        _batch_failed(connection, _unfinished(entries), exc, result)
        return not exc.transient
    except LeaseLostError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on every entry, as in _cycle
        log.exception("A push batch failed unexpectedly")
        _batch_crashed(_unfinished(entries), exc, result)
        return True
    return _writes_send(connection, client, again, result) if again else True


def _batch_failed(
    connection: SalesforceConnection,
    entries: list[OutboxEntry],
    exc: SalesforceError,
    result: PushResult,
) -> None:
    """A whole call failed. Transient: an outage of the connection, not of these records.
    Otherwise every entry counts an attempt and backs off, and the connection shows why."""
    with _finishing(entries):
        _batch_failed_record(connection, entries, exc, result)


def _batch_failed_record(
    connection: SalesforceConnection,
    entries: list[OutboxEntry],
    exc: SalesforceError,
    result: PushResult,
) -> None:
    if exc.transient:
        delay = outage_record(connection=connection, error=str(exc))
        _outage_wait(entries, result)
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


@contextmanager
def _finishing(entries: list[OutboxEntry]) -> Iterator[None]:
    """Where what a call's answer means is written: under the lease fence (a holder that lost
    the lease writes none of it), with the entries' tasks locked first (outbox.tasks_lock)."""
    with lease_fence():
        tasks_lock([e.task_id for e in entries])
        yield


def _outage_wait(entries: list[OutboxEntry], result: PushResult) -> None:
    telemetry.push_unreachable(entries)
    for entry in entries:
        if entry_to_pending(entry, failure=None, delay=dt.timedelta(0), count_attempt=False):
            task_sync_state_set(entry.task_id, TaskSyncRecord.State.PENDING, OUTAGE)
            result.retried += 1


def _push_later(delay: dt.timedelta) -> None:
    job_send(PUSH, countdown=delay.total_seconds())


def _unfinished(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    """The entries of a batch still in flight (an exception cut the batch short)."""
    still = set(
        OutboxEntry.objects.filter(
            pk__in=[e.pk for e in entries], state=OutboxEntry.State.IN_FLIGHT
        ).values_list("pk", flat=True)
    )
    return [e for e in entries if e.pk in still]


def _batch_crashed(entries: list[OutboxEntry], exc: Exception, result: PushResult) -> None:
    with _finishing(entries):
        reason = f"Unexpected error while pushing ({type(exc).__name__}: {exc})"
        _retry_all(entries, Failure(reason, OTHER), result)


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
            # lingers for company (group commit) instead of going out a few at a time.
            break
        if between_cycles is not None:
            between_cycles()
    return total


def _retry_all(entries: list[OutboxEntry], failure: Failure, result: PushResult) -> None:
    for entry in entries:
        entry_retry_later(entry, failure)
    result.retried += len(entries)
    result.errors.append(failure.reason)


def _connection_state(connection: SalesforceConnection, state: str, error: str) -> None:
    SalesforceConnection.objects.filter(pk=connection.pk).update(state=state, last_error=error)


def _push_upserts(
    engine: Engine, client: SalesforceClient, entries: list[OutboxEntry], result: PushResult
) -> list["_Write"]:
    """Updates and first pushes: what must be read first is read (and a small cycle's
    updates written conditionally); returns the collection writes that carry the rest."""
    tasks = {
        t.pk: t
        for t in Task.objects.select_related(
            "status", "priority", "owner", "company", "type"
        ).filter(pk__in=[e.task_id for e in entries])
    }
    records = {r.task_id: r for r in TaskSyncRecord.objects.filter(task_id__in=tasks)}
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
    unsure = [e for e in new if records.get(e.task_id) and records[e.task_id].uncertain_writes]
    if unsure:
        found = _own_creates_find(engine, client, unsure, records)
        new = [e for e in new if e not in found]
        linked += [(e, sf_id) for e, sf_id in found.items() if sf_id]
    creates = _push_creates(engine, new, tasks, result) if new else []
    writes: list[_Write] = []
    if linked:
        # The first call's subrequests: one for the verifying read, one a create collection.
        room = COMPOSITE_LIMIT - 1 - min(len(creates), COMPOSITE_COLLECTIONS - 1)
        writes += _push_updates(
            engine, client, linked, tasks, result, rides=bool(creates), room=room
        )
    return writes + creates


@dataclass
class _Write:
    """One sObject Collections write of a cycle: what goes out, and what its answer finishes."""

    method: str
    path: str  # under the REST API's data path
    records: list[dict[str, Any]]
    entries: list[OutboxEntry]
    answered: Callable[[Any], None]  # run under _finishing(entries)
    # What `uncertain_add` keeps when its answer never comes: task id → (sent, Cockpit's).
    sent: dict[int, tuple[dict[str, Any], dict[str, Any]]]
    # Not a collection (a small cycle's conditional PATCHes, or the verifying read): its own
    # subrequests, sent only in a Composite call; `answered` gets their answers.
    subrequests: list[CompositeSubrequest] | None = None
    heavy: int = 1  # of a Composite call's 5 collections or queries, how many it takes
    verify: "_Verify | None" = None  # the verifying read, applied once the writes are recorded
    # Conditional writes Salesforce refused (412), filled by `answered`: read, merged and
    # written after the cycle's calls, with the cycle's tasks.
    refused: list[tuple[OutboxEntry, str]] | None = None
    tasks: dict[int, Task] | None = None


def _writes_send(
    connection: SalesforceConnection,
    client: SalesforceClient,
    writes: list[_Write],
    result: PushResult,
) -> bool:
    """A cycle's collection writes: up to 5 in one Composite call (one API call where each
    was one; a lone one as a collection call), up to IN_FLIGHT calls at once. Each answer is
    recorded as it comes, under the lease fence; a failed call, or a failed collection in
    one, fails its own entries as a failed call does. After an outage the calls not yet
    started wait without a call. Returns whether Salesforce was reached."""
    groups = _groups(writes)
    outage: list[SalesforceError] = []  # the transient failure that ended the sending
    heard: set[int] = set()
    reads: list[tuple[_Verify, Any, dt.datetime | None]] = []
    calls = [partial(_group_send, client, group) for group in groups]
    for number, answer, began in client.in_flight(calls, go_on=lambda: not outage):
        heard.add(number)
        group = groups[number]
        if isinstance(answer, SalesforceError):
            if answer.uncertain:
                # Kept even by a holder that lost the lease: Salesforce may yet apply these
                # writes, and whoever holds the lease now must recognise them when they land.
                uncertain_add({k: v for w in group for k, v in w.sent.items()})
            entries = _unfinished([e for w in group for e in w.entries])
            _call_failed(connection, entries, answer, result, outage)
            continue
        if isinstance(answer, Exception):
            log.error("A push call failed unexpectedly", exc_info=answer)
            _batch_crashed(_unfinished([e for w in group for e in w.entries]), answer, result)
            continue
        for write, written in zip(group, answer, strict=True):
            if write.verify is not None:
                reads.append((write.verify, written, began))
                continue
            if isinstance(written, SalesforceError):
                if written.uncertain:
                    uncertain_add(write.sent)
                _call_failed(connection, _unfinished(write.entries), written, result, outage)
                continue
            try:
                with _finishing(write.entries):
                    write.answered(written)
            except LeaseLostError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on its entries, as a call's
                log.exception("Recording a push's answers failed unexpectedly")
                _batch_crashed(_unfinished(write.entries), exc, result)
    # Salesforce is down: the calls not yet started wait too, without a call.
    unsent = [
        e for n, group in enumerate(groups) if n not in heard for w in group for e in w.entries
    ]
    if unsent:
        _outage_wait(_unfinished(unsent), result)
    # The writes are recorded: now what the verifying read saw (it may call for Accounts).
    for verify, read, read_at in reads:
        _verified(verify, read, read_at)
    return not outage


def _call_failed(
    connection: SalesforceConnection,
    entries: list[OutboxEntry],
    exc: SalesforceError,
    result: PushResult,
    outage: list[SalesforceError],
) -> None:
    """A failed call (or collection) of a cycle's writes, as `_batch_failed`; a transient
    failure after another of the same cycle only waits: one outage a cycle, however many of
    its calls in flight met it (each would have grown the pause a step)."""
    if exc.transient and outage:
        with _finishing(entries):
            _outage_wait(entries, result)
    else:
        _batch_failed(connection, entries, exc, result)
    if exc.transient:
        outage.append(exc)


def _groups(writes: list[_Write]) -> list[list[_Write]]:
    """The cycle's writes in Composite calls, in order: up to 5 collections or queries and
    25 subrequests a call."""
    groups: list[list[_Write]] = []
    heavy = size = 0
    for write in writes:
        own = len(write.subrequests) if write.subrequests is not None else 1
        if (
            groups
            and heavy + write.heavy <= COMPOSITE_COLLECTIONS
            and size + own <= COMPOSITE_LIMIT
        ):
            groups[-1].append(write)
            heavy, size = heavy + write.heavy, size + own
        else:
            groups.append([write])
            heavy, size = write.heavy, own
    return groups


def _group_send(client: SalesforceClient, group: list[_Write]) -> list[Any]:
    """One call of up to 5 collection writes (in a thread of `client.in_flight`: no database);
    with a conditional write or the verifying read among them, one Composite call of all
    their subrequests, the read first. Answers each write's answer: its records' answers or
    the error its collection met, or its own subrequests' answers."""
    if any(w.subrequests is not None for w in group):
        return _composite_send(client, group)
    if len(group) == 1:
        write = group[0]
        if write.method == "DELETE":
            return [client.collection_delete([str(r["id"]) for r in write.records])]
        return [client.collection(write.method, write.path, write.records)]
    return client.collections([(w.method, w.path, w.records) for w in group])


def _composite_send(client: SalesforceClient, group: list[_Write]) -> list[Any]:
    prefix = client.data_path()
    subrequests: list[CompositeSubrequest] = []
    sizes = []
    for number, write in enumerate(group):
        if write.subrequests is not None:
            own = write.subrequests
        elif write.method == "DELETE":
            ids = ",".join(str(r["id"]) for r in write.records)
            query = urlencode({"ids": ids, "allOrNone": "false"}, safe=",")
            own = [
                {
                    "method": "DELETE",
                    "url": f"{prefix}{write.path}?{query}",
                    "referenceId": f"write{number}",
                }
            ]
        else:
            own = [
                {
                    "method": write.method,
                    "url": prefix + write.path,
                    "referenceId": f"write{number}",
                    "body": {
                        "allOrNone": False,
                        "records": [
                            {"attributes": {"type": TASK_SOBJECT}, **r} for r in write.records
                        ],
                    },
                }
            ]
        subrequests += own
        sizes.append(len(own))
    answers = client.composite(subrequests)
    out: list[Any] = []
    at = 0
    for write, size in zip(group, sizes, strict=True):
        mine, at = answers[at : at + size], at + size
        if write.subrequests is not None:
            out.append(mine)
        elif mine[0]["httpStatusCode"] == 200:
            out.append(cast(list[RecordAnswer], mine[0]["body"]))
        else:
            out.append(subrequest_error(mine[0]))
    return out


@dataclass
class _Verify:
    """The verifying read (README, "What the sync guarantees", 13): a query subrequest in the
    cycle's first Composite call, re-reading the twins Cockpit wrote a moment before (none
    that the call writes, so the order Salesforce runs the subrequests in does not matter).
    Merged as a push's read is, it brings in what Salesforce changed meanwhile and settles
    their stamps once it began 2 s past them (twins.stamp_settled)."""

    engine: Engine
    salesforce_ids: list[str]


# What a push's reads select: the mapped fields and the stamps the merge and the stamp rule
# read (the pull's select adds what its apply needs: IsDeleted, the external id).
STAMP_FIELDS = ("SystemModstamp", "LastModifiedDate", "LastModifiedById")


def _read_fields(engine: Engine) -> list[str]:
    return list(dict.fromkeys(["Id", *engine.field_names, *STAMP_FIELDS]))


def _verify_write(client: SalesforceClient, verify: _Verify) -> _Write:
    soql = (
        f"SELECT {', '.join(_read_fields(verify.engine))} FROM {TASK_SOBJECT} "  # noqa: S608
        f"WHERE Id IN ({soql_ids(verify.salesforce_ids)})"
    )
    subrequest: CompositeSubrequest = {
        "method": "GET",
        "url": f"{client.data_path()}query/?{urlencode({'q': soql})}",
        "referenceId": "verify",
    }
    return _Write("GET", "query", [], [], lambda _: None, {}, [subrequest], verify=verify)


def _verify_due(engine: Engine, *, exclude: set[int]) -> _Verify | None:
    """The twins a cycle's call re-reads: linked tasks Cockpit wrote (or read within a
    version's own second) VERIFY_AFTER to VERIFY_WINDOW ago, whose stamps are not settled,
    oldest first; none the call writes."""
    if not engine.settings.bidirectional_sync:
        return None
    now = timezone.now()
    ids = [
        i
        for i in TaskSyncRecord.objects.filter(
            salesforce_id__isnull=False,
            salesforce_modified_at__isnull=True,
            desynced_at__isnull=True,
            last_synced_at__gte=now - VERIFY_WINDOW,
            last_synced_at__lte=now - VERIFY_AFTER,
        )
        .exclude(task_id__in=exclude)
        .order_by("last_synced_at")
        .values_list("salesforce_id", flat=True)[:VERIFY_LIMIT]
        if i
    ]
    return _Verify(engine, ids) if ids else None


def _verified(verify: _Verify, answer: Any, read_at: dt.datetime | None) -> None:
    """Merge what the verifying read saw, as a push merges what it read first (the same merge
    a pull makes, under the tasks' row locks): Salesforce's changes come in, conflicts are
    recorded, stamps read 2 s past their second settle, and a task whose merge leaves Cockpit
    something to send is queued. A twin the read did not find is left to its next push or
    pull; a failed read settles nothing (those twins' next writes read first)."""
    read = answer[0] if isinstance(answer, list) and answer else None
    if read is None or read["httpStatusCode"] != 200 or not isinstance(read.get("body"), dict):
        log.warning("The verifying read of a push cycle failed: %s", answer)
        return
    found = {str(r["Id"]): r for r in read["body"].get("records", [])}
    links = dict(
        TaskSyncRecord.objects.filter(
            salesforce_id__in=found, desynced_at__isnull=True
        ).values_list("salesforce_id", "task_id")
    )
    names = [*verify.engine.field_names, *STAMP_FIELDS]
    accounts = verify.engine.lookups.accounts_in
    items = [
        MergeItem(task_id, {n: found[sf_id].get(n) for n in names}, sf_id, read_at=read_at)
        for sf_id, task_id in links.items()
        # An Account no company has yet: a pull links a company to it by name first (it may
        # call for the Account's name), so that task is left to the pull, or its next write
        # reads first.
        if sf_id and not _unknown_account(found[sf_id].get("WhatId"), accounts)
    ]
    if not items:
        return
    with lease_fence():
        tasks_lock([item.task_id for item in items])
        outcomes = twins_merge_many(engine=verify.engine, items=items)
        telemetry.records_pulled(items, outcomes)
        for task_id, outcome in sorted(outcomes.items()):
            if outcome.merged.to_salesforce:
                # Cockpit's side goes out at its next push, which merges again first.
                outbox_add(task_id=task_id, operation=OutboxEntry.Operation.UPSERT)


def _unknown_account(what_id: Any, accounts: dict[str, int]) -> bool:
    return bool(what_id) and str(what_id).startswith("001") and what_id not in accounts


def _own_creates_find(
    engine: Engine,
    client: SalesforceClient,
    entries: list[OutboxEntry],
    records: dict[int, TaskSyncRecord],
) -> dict[OutboxEntry, str]:
    """First pushes whose answer never came: did Salesforce make the twin after all?

    A live twin is linked and then written by Id. A twin Salesforce has deleted meanwhile
    deletes the task (an upsert would quietly make a new twin). Entries not found are left out
    and pushed as creates. Returns entry → Salesforce Id ('' when the task was deleted)."""
    ext = engine.connection.external_id_field
    if not _has_field(engine.connection, ext):
        return {}
    by_external = {external_id(e.task_id): e for e in entries}
    quoted = ", ".join(f"'{key}'" for key in by_external)  # our own "cockpit-<int>" values
    soql = f"SELECT Id, IsDeleted, {ext} FROM {TASK_SOBJECT} WHERE {ext} IN ({quoted})"  # noqa: S608
    rows: dict[OutboxEntry, dict[str, Any]] = {}
    # Each page's call renews the lease first (client.call_guard): a long lookup keeps it.
    for page in client.query_pages(soql, include_deleted=True):
        for row in page:
            entry = by_external.get(str(row.get(ext)))
            if entry is not None and (entry not in rows or rows[entry]["IsDeleted"]):
                rows[entry] = row  # a live twin wins over a deleted one
    found: dict[OutboxEntry, str] = {}
    with _finishing(list(rows)):
        for entry, row in rows.items():
            base_sf, base_ck = first_push_base(records[entry.task_id]) or ({}, {})
            TaskSyncRecord.objects.filter(pk=records[entry.task_id].pk).update(
                salesforce_id=row["Id"],
                agreed_values=base_sf,
                agreed_cockpit=base_ck,
                salesforce_modified_at=None,
            )
            if row["IsDeleted"]:
                twins_deleted_in_salesforce(
                    salesforce_ids=[row["Id"]],
                    reason="was deleted in Salesforce before Cockpit learnt it had been "
                    "created there: the delete wins, so it was deleted in Cockpit too",
                )
                entry_done(entry)
                found[entry] = ""
            else:
                found[entry] = row["Id"]
    return found


def _read_current(
    engine: Engine, client: SalesforceClient, salesforce_ids: list[str]
) -> tuple[dict[str, dict[str, Any]], dt.datetime | None]:
    """Salesforce's current values of these records (deleted ones are left out), so a push
    never writes over an edit it has not seen: queries of READ_CHUNK Ids, up to 5 in one
    Composite call (one API call; a lone query as a query call), the calls in flight
    together. Also when the read began at the latest (Salesforce's clock; the earliest of
    its calls')."""
    names = ["Id", *engine.field_names, "SystemModstamp", "LastModifiedDate", "LastModifiedById"]
    soqls = [
        f"SELECT {', '.join(dict.fromkeys(names))} FROM {TASK_SOBJECT} "  # noqa: S608 - Ids
        f"WHERE Id IN ({soql_ids(salesforce_ids[start : start + READ_CHUNK])})"
        for start in range(0, len(salesforce_ids), READ_CHUNK)
    ]
    groups = [
        soqls[start : start + COMPOSITE_COLLECTIONS]
        for start in range(0, len(soqls), COMPOSITE_COLLECTIONS)
    ]
    calls = [
        partial(client.queries, group) if len(group) > 1 else partial(_query_first, client, group)
        for group in groups
    ]
    found: dict[str, dict[str, Any]] = {}
    read_at: dt.datetime | None = None
    unknown = False
    # Each call renews the lease just before it starts (client.in_flight): a long read keeps it.
    for _, answer, began in client.in_flight(calls):
        if isinstance(answer, Exception):
            raise answer
        unknown = unknown or began is None
        if began is not None and (read_at is None or began < read_at):
            read_at = began
        for first in answer:
            found.update({r["Id"]: dict(r) for r in first["records"]})
            for page in client.pages_after(first):
                found.update({r["Id"]: r for r in page})
    return found, None if unknown else read_at


def _query_first(client: SalesforceClient, soqls: list[str]) -> list[QueryPage]:
    return [client.query_first(soqls[0])]


def _push_updates(
    engine: Engine,
    client: SalesforceClient,
    linked: list[tuple[OutboxEntry, str]],
    tasks: dict[int, Task],
    result: PushResult,
    *,
    rides: bool,
    room: int,
) -> list["_Write"]:
    """A cycle's updates of linked tasks: conditional writes for the cycle's first Composite
    call, or collection writes after a read; and the entries held for the next cycle."""
    plan = _conditional_plan(engine, linked, rides=rides, room=room)
    if plan is None:
        return _push_read_merged(engine, client, linked, tasks, result)
    ready, since, held = plan
    if held:
        _hold(held)
    if not ready:
        return []
    # Salesforce not read: the merge takes Cockpit's side only, as with Bi-directional Sync
    # off; the condition stands in for the read.
    with _finishing([e for e, _ in ready]):
        sendable = _merge_for_push(engine, ready, None, tasks, result)
    if not sendable:
        return []
    prefix = client.data_path()
    subrequests: list[CompositeSubrequest] = [
        {
            "method": "PATCH",
            "url": f"{prefix}sobjects/{TASK_SOBJECT}/{salesforce_id}",
            "referenceId": f"task{outcome.task_id}",
            "body": outcome.merged.to_salesforce,
            "httpHeaders": {
                "If-Unmodified-Since": format_datetime(since[outcome.task_id], usegmt=True)
            },
        }
        for _, salesforce_id, outcome in sendable
    ]
    refused: list[tuple[OutboxEntry, str]] = []
    return [
        _Write(
            "PATCH",
            "sobjects",
            [],
            [e for e, _, _ in sendable],
            partial(_conditional_recorded, engine, sendable, refused, result=result),
            {o.task_id: (o.merged.to_salesforce, o.ours) for _, _, o in sendable},
            subrequests,
            heavy=0,
            refused=refused,
            tasks=tasks,
        )
    ]


def _conditional_plan(
    engine: Engine, linked: list[tuple[OutboxEntry, str]], *, rides: bool, room: int
) -> tuple[list[tuple[OutboxEntry, str]], dict[int, dt.datetime], list[OutboxEntry]] | None:
    """Which updates go conditionally (README "What the sync guarantees", 13): those whose
    twins have a settled stamp. A twin Cockpit wrote a moment ago (its stamp not settled yet)
    waits for the next cycle when this one makes a call anyway: that call re-reads it (the
    verifying read) and the next cycle writes it conditionally, one call where reading first
    made two. None: the cycle reads them all first (Bi-directional Sync off, more updates
    than a Composite call carries, a task that must be read, or no call to ride)."""
    if not engine.settings.bidirectional_sync or len(linked) > room:
        return None
    records = {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=[e.task_id for e, _ in linked])
    }
    now = timezone.now()
    ready: list[tuple[OutboxEntry, str]] = []
    since: dict[int, dt.datetime] = {}
    held: list[OutboxEntry] = []
    for entry, salesforce_id in linked:
        record = records.get(entry.task_id)
        stamp = conditional_since(engine, record) if record is not None else None
        if stamp is not None:
            ready.append((entry, salesforce_id))
            since[entry.task_id] = stamp
        elif record is not None and stamp_awaited(engine, record, now):
            held.append(entry)
        else:
            # This one must be read anyway: the read and one collection carry them all (two
            # calls), where a Composite call beside them would make three.
            return None
    if held and not (ready or rides):
        return None  # no call to ride: reading first costs what waiting would
    return ready, since, held


def _hold(entries: list[OutboxEntry]) -> None:
    """Back to pending for the next cycle, no attempt counted; the doorbell rings for it."""
    with _finishing(entries):
        for entry in entries:
            entry_to_pending(
                entry, failure=Failure.stored(entry), delay=dt.timedelta(0), count_attempt=False
            )
    doorbell()


def _conditional_recorded(
    engine: Engine,
    chunk: list[tuple[OutboxEntry, str, Outcome]],
    refused: list[tuple[OutboxEntry, str]],
    answers: list[CompositeAnswer],
    result: PushResult,
) -> None:
    refused += _conditional_answered(engine, chunk, answers, result)


def _conditional_answered(
    engine: Engine,
    chunk: list[tuple[OutboxEntry, str, Outcome]],
    answers: list[CompositeAnswer],
    result: PushResult,
) -> list[tuple[OutboxEntry, str]]:
    """Record a conditional Composite call's answers (under the lease fence); returns the
    twins edited in Salesforce since Cockpit's agreement (412), their entries still claimed."""
    refused: list[tuple[OutboxEntry, str]] = []
    written: list[tuple[OutboxEntry, str, Outcome]] = []
    written_answers: list[RecordAnswer] = []
    for item, answer in zip(chunk, answers, strict=True):
        if answer["httpStatusCode"] == PRECONDITION_FAILED:
            refused.append((item[0], item[1]))
        else:
            written.append(item)
            written_answers.append(_record_answer(answer))
    if refused:
        # The stamp is no longer the twin's: the read that follows keeps the new one.
        TaskSyncRecord.objects.filter(task_id__in=[e.task_id for e, _ in refused]).update(
            salesforce_modified_at=None
        )
    if written:
        _updates_answered(engine, written, written_answers, result)
    return refused


PRECONDITION_FAILED = 412


def _record_answer(answer: CompositeAnswer) -> RecordAnswer:
    """A subrequest's answer in a collection's per-record form (sync/client.record_result)."""
    if 200 <= answer["httpStatusCode"] < 300:
        return {"success": True, "errors": []}
    body = answer.get("body")
    errors = body if isinstance(body, list) else []
    return {
        "success": False,
        "errors": [
            {
                "statusCode": str(error.get("errorCode", "")),
                "message": str(error.get("message", "")),
                "fields": list(error.get("fields") or []),
            }
            for error in errors
            if isinstance(error, dict)
        ]
        or [{"statusCode": "", "message": f"HTTP {answer['httpStatusCode']}"}],
    }


def _push_read_merged(
    engine: Engine,
    client: SalesforceClient,
    linked: list[tuple[OutboxEntry, str]],
    tasks: dict[int, Task],
    result: PushResult,
) -> list["_Write"]:
    """Updates after a read: Salesforce's current values merged in; returns the collection
    writes that carry them."""
    theirs_by_id: dict[str, dict[str, Any]] | None = None
    read_at: dt.datetime | None = None
    if engine.settings.bidirectional_sync:
        theirs_by_id, read_at = _read_current(engine, client, [sf_id for _, sf_id in linked])
    with _finishing([e for e, _ in linked]):
        sendable = _merge_for_push(engine, linked, theirs_by_id, tasks, result, read_at)
    writes = []
    for start in range(0, len(sendable), COLLECTION_LIMIT):
        chunk = sendable[start : start + COLLECTION_LIMIT]
        writes.append(
            _Write(
                "PATCH",
                "composite/sobjects",
                [{"id": sf_id, **outcome.merged.to_salesforce} for _, sf_id, outcome in chunk],
                [e for e, _, _ in chunk],
                partial(_updates_answered, engine, chunk, result=result),
                {o.task_id: (o.merged.to_salesforce, o.ours) for _, _, o in chunk},
            )
        )
    return writes


def _merge_for_push(
    engine: Engine,
    linked: list[tuple[OutboxEntry, str]],
    theirs_by_id: dict[str, dict[str, Any]] | None,
    tasks: dict[int, Task],
    result: PushResult,
    read_at: dt.datetime | None = None,
) -> list[tuple[OutboxEntry, str, Outcome]]:
    """Merge Salesforce's current values in (under the lease fence: the merge writes what
    Salesforce changed into Cockpit) and settle the entries with nothing to send."""
    if theirs_by_id is not None:
        gone = [(e, sf_id) for e, sf_id in linked if sf_id not in theirs_by_id]
        if gone:
            _deleted_in_salesforce([e for e, _ in gone], [sf_id for _, sf_id in gone], result)
            linked = [(e, sf_id) for e, sf_id in linked if sf_id in theirs_by_id]
    outcomes = twins_merge_many(
        engine=engine,
        items=[
            MergeItem(
                entry.task_id,
                theirs_by_id.get(salesforce_id) if theirs_by_id is not None else None,
                salesforce_id,
                read_at=read_at,
            )
            for entry, salesforce_id in linked
        ],
    )
    sendable: list[tuple[OutboxEntry, str, Outcome]] = []
    settled: list[OutboxEntry] = []
    for entry, salesforce_id in linked:
        outcome = outcomes.get(entry.task_id)
        if outcome is None:  # deleted meanwhile, or desynced
            settled.append(entry)
            continue
        delta = outcome.merged.to_salesforce
        if not delta:
            # Nothing Cockpit changed is missing in Salesforce: no call at all.
            settled.append(entry)
            result.unchanged += 1
            continue
        if OWNER in delta and not delta[OWNER]:
            entry_fail(entry, Failure(owner_missing_reason(tasks[entry.task_id]), OWNER_NOT_MAPPED))
            result.failed += 1
            continue
        sendable.append((entry, salesforce_id, outcome))
    tasks_synced([e.task_id for e in entries_done(settled)])
    return sendable


def _updates_answered(
    engine: Engine,
    chunk: list[tuple[OutboxEntry, str, Outcome]],
    answers: list[RecordAnswer],
    result: PushResult,
) -> None:
    """Record a collection update's answers (under the lease fence). The agreement moves only
    for entries whose claims still hold: a claim taken back means another cycle pushes the
    task again, merging first, and records the agreement itself."""
    confirmed: list[tuple[OutboxEntry, Outcome, str]] = []
    deleted: list[tuple[OutboxEntry, str]] = []
    for (entry, salesforce_id, outcome), answer in zip(chunk, answers, strict=True):
        answered = record_result(answer)
        if answered.status == RecordStatus.OK:
            confirmed.append((entry, outcome, salesforce_id))
        elif answered.status == RecordStatus.GONE:
            deleted.append((entry, salesforce_id))
        else:
            _record_failure(entry, answered, result)
    held = {e.pk for e in entries_done([e for e, _, _ in confirmed])}
    twin_agreed_after_push(outcomes=[(o, s) for e, o, s in confirmed if e.pk in held])
    _pushed_log(
        [e for e, _, _ in confirmed if e.pk in held],
        result,
        sent={
            o.task_id: sorted(engine.labels.get(n, n) for n in o.merged.to_salesforce)
            for _, _, o in chunk
        },
    )
    if deleted:
        _deleted_in_salesforce([e for e, _ in deleted], [s for _, s in deleted], result)


def _deleted_in_salesforce(
    entries: list[OutboxEntry], salesforce_ids: list[str], result: PushResult
) -> None:
    """Salesforce deleted these twins: the delete wins over the Cockpit edit being pushed."""
    result.deleted += twins_deleted_in_salesforce(
        salesforce_ids=salesforce_ids,
        reason="was deleted in Salesforce while it was being changed in Cockpit: the delete "
        "wins, so it was deleted in Cockpit too",
    )
    for entry in entries:
        entry_done(entry)


def _push_creates(
    engine: Engine, entries: list[OutboxEntry], tasks: dict[int, Task], result: PushResult
) -> list[_Write]:
    """First pushes: the collection writes that upsert (or create) their twins."""
    connection = engine.connection
    use_upsert = _has_field(connection, connection.external_id_field)
    sendable: list[tuple[OutboxEntry, dict[str, Any], dict[str, Any]]] = []
    for entry in entries:
        task = tasks[entry.task_id]
        ours = task_values(task, engine.spec)
        payload, _ = create_payload(engine.fields, ours)
        if payload is None:
            entry_fail(entry, Failure(owner_missing_reason(task), OWNER_NOT_MAPPED))
            result.failed += 1
            continue
        sendable.append((entry, payload, ours))
    ext = connection.external_id_field
    writes = []
    for start in range(0, len(sendable), COLLECTION_LIMIT):
        chunk = sendable[start : start + COLLECTION_LIMIT]
        if use_upsert:
            method, path = "PATCH", f"composite/sobjects/{TASK_SOBJECT}/{ext}"
            body = [{ext: external_id(e.task_id), **p} for e, p, _ in chunk]
        else:
            # No external id field in the org: a retry after a lost answer may duplicate
            # (Test connection warns about it).
            method, path, body = "POST", "composite/sobjects", [p for _, p, _ in chunk]
        writes.append(
            _Write(
                method,
                path,
                body,
                [e for e, _, _ in chunk],
                partial(_creates_answered, engine, chunk, result=result),
                {e.task_id: (p, ours) for e, p, ours in chunk},
            )
        )
    return writes


def _creates_answered(
    engine: Engine,
    chunk: list[tuple[OutboxEntry, dict[str, Any], dict[str, Any]]],
    answers: list[RecordAnswer],
    result: PushResult,
) -> None:
    """Record a collection create's answers (under the lease fence); the link and the
    agreement only for entries whose claims still hold. A claim taken back is pushed again by
    the cycle that has it, and the upsert by external id finds the twin made here."""
    created: list[tuple[OutboxEntry, dict[str, Any], dict[str, Any], str]] = []
    for (entry, payload, ours), answer in zip(chunk, answers, strict=True):
        answered = record_result(answer)
        if answered.status == RecordStatus.OK:
            created.append((entry, payload, ours, answered.id))
        else:
            _record_failure(entry, answered, result)
    held = {e.pk for e in entries_done([e for e, _, _, _ in created])}
    created = [c for c in created if c[0].pk in held]
    if created:
        _record_created(engine, created)
        _pushed_log([e for e, _, _, _ in created], result)


def _record_created(
    engine: Engine, created: list[tuple[OutboxEntry, dict[str, Any], dict[str, Any], str]]
) -> None:
    now = timezone.now()
    names = engine.field_names
    records = {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=[e.task_id for e, _, _, _ in created])
    }
    for entry, payload, ours, salesforce_id in created:
        record = records.get(entry.task_id)
        if record is None:
            # Deleted in Cockpit while its first push was on the way: the new twin goes. (A
            # task deleted after this read leaves a tombstone and a delete entry that finds
            # the twin by its external id.)
            tombstone = Tombstone.objects.filter(pk=entry.task_id).first()
            if tombstone is not None:
                tombstone_delete_queue(tombstone=tombstone, salesforce_id=salesforce_id)
            continue
        record.salesforce_id = salesforce_id
        record.salesforce_modified_at = None  # a version Cockpit wrote and has not read
        record.state, record.last_synced_at = TaskSyncRecord.State.SYNCED, now
        record.error_clear()
        # What both sides now hold: the base of the next three-way merge, and how the next
        # pull recognises this push's echo (rule 7).
        record.agreed_values = {n: payload.get(n) for n in names}
        record.agreed_cockpit = agreement_marked(
            engine, record.agreed_values, {n: ours.get(n) for n in names}
        )
    rows_update(list(records.values()), AGREED_FIELDS)


def _record_failure(entry: OutboxEntry, answered: RecordResult, result: PushResult) -> None:
    if answered.status == RecordStatus.TRANSIENT:
        entry_retry_later(entry, answered.failure)
        result.retried += 1
    else:
        entry_fail(entry, answered.failure)
        result.failed += 1
    result.errors.append(answered.message)


def _pushed_log(
    entries: list[OutboxEntry], result: PushResult, sent: dict[int, list[str]] | None = None
) -> None:
    """Entries whose pushes Salesforce confirmed and whose claims held (finished already).
    `sent`: per task, the fields an update changed (by the names in `engine.labels`), so
    the task's history says what the push changed; a first push (a create) sends them all."""
    if not entries:
        return
    # Earlier pushes of these tasks that failed for good are settled by this one.
    OutboxEntry.objects.filter(
        task_id__in=[e.task_id for e in entries],
        operation=OutboxEntry.Operation.UPSERT,
        state=OutboxEntry.State.FAILED,
    ).update(
        state=OutboxEntry.State.DONE, **{**NO_FAILURE, "last_error": "settled by a later push"}
    )
    names = dict(Task.objects.filter(pk__in=[e.task_id for e in entries]).values_list("pk", "name"))
    links = dict(
        TaskSyncRecord.objects.filter(task_id__in=names).values_list("task_id", "salesforce_id")
    )
    telemetry.records_pushed(entries, links)
    SyncEvent.objects.bulk_create(
        SyncEvent(
            kind=SyncEvent.Kind.PUSHED,
            task_id=entry.task_id,
            salesforce_id=links.get(entry.task_id) or "",
            message=f"'{names[entry.task_id]}' pushed to Salesforce"
            + (" (created)" if sent is None else f": {', '.join(sent.get(entry.task_id, []))}"),
        )
        for entry in entries
        if entry.task_id in names
    )
    result.pushed += len(entries)


def _sf_id(record: TaskSyncRecord | None) -> str:
    return (record.salesforce_id or "") if record else ""


def _has_field(connection: SalesforceConnection, name: str) -> bool:
    fields = (connection.task_describe or {}).get("fields")
    if not fields:
        return True  # not described yet: assume the documented setup, upsert
    return any(f["name"] == name for f in fields)


def _push_deletes(
    engine: Engine, client: SalesforceClient, entries: list[OutboxEntry], result: PushResult
) -> list[_Write]:
    """Deletes: the collection writes that carry them (in the cycle's Composite calls, beside
    its creates and updates)."""
    _resolve_by_external_id(engine, client, entries)
    unknown = [e for e in entries if not e.salesforce_id]
    # Never reached Salesforce (or not yet: a twin that turns up later is deleted then).
    with _finishing(unknown):
        entries_done(unknown)
    known = [e for e in entries if e.salesforce_id]
    writes = []
    for start in range(0, len(known), COLLECTION_LIMIT):
        chunk = known[start : start + COLLECTION_LIMIT]
        writes.append(
            _Write(
                "DELETE",
                "composite/sobjects",
                [{"id": e.salesforce_id} for e in chunk],
                chunk,
                partial(_deletes_answered, chunk, result=result),
                {},
            )
        )
    return writes


def _deletes_answered(
    chunk: list[OutboxEntry], answers: list[RecordAnswer], result: PushResult
) -> None:
    for entry, answer in zip(chunk, answers, strict=True):
        answered = record_result(answer, deleting=True)
        if answered.status not in (RecordStatus.OK, RecordStatus.GONE):
            _record_failure(entry, answered, result)
        elif entry_done(entry):
            result.deleted += 1
            telemetry.record_deleted(entry)
            SyncEvent.objects.create(
                kind=SyncEvent.Kind.DELETED,
                task_id=entry.task_id,
                salesforce_id=entry.salesforce_id,
                message="Deleted in Cockpit, deleted in Salesforce",
            )


def _resolve_by_external_id(
    engine: Engine, client: SalesforceClient, entries: list[OutboxEntry]
) -> None:
    """Deletes of tasks whose first push was in flight: find their twins by external id."""
    ext = engine.connection.external_id_field
    blank = [e for e in entries if not e.salesforce_id]
    if not blank or not _has_field(engine.connection, ext):
        return
    by_external = {external_id(e.task_id): e for e in blank}
    quoted = ", ".join(f"'{key}'" for key in by_external)  # our own "cockpit-<int>" values
    soql = f"SELECT Id, {ext} FROM {TASK_SOBJECT} WHERE {ext} IN ({quoted})"  # noqa: S608
    found: dict[OutboxEntry, str] = {}
    for page in client.query_pages(soql):
        for row in page:
            entry = by_external.get(str(row.get(ext)))
            if entry is not None:
                found[entry] = row["Id"]
    with lease_fence():
        for entry, salesforce_id in found.items():
            entry.salesforce_id = salesforce_id
            OutboxEntry.objects.filter(pk=entry.pk).update(salesforce_id=salesforce_id)
            Tombstone.objects.filter(pk=entry.task_id).update(salesforce_id=salesforce_id)
