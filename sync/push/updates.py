"""Updates of linked tasks: read → merge → write (collections), or, for a small cycle, written
conditionally on the version Cockpit agreed with, and read only when Salesforce refuses it."""

import datetime as dt
from email.utils import format_datetime
from functools import partial
from typing import Any

from django.utils import timezone

from tasks.models import Task, TaskSyncRecord

from ..agreed import twin_agreed_after_push
from ..client import COLLECTION_LIMIT, RecordStatus, SalesforceClient, record_result
from ..deletions import twins_deleted_in_salesforce
from ..engine_config import Engine
from ..failures import OWNER_NOT_MAPPED, Failure
from ..merge_items import MergeItem, Outcome
from ..models import OutboxEntry
from ..outbox import doorbell, entries_done, entry_done, entry_fail, entry_to_pending, tasks_synced
from ..payload import OWNER, owner_missing_reason
from ..sf_types import TASK_SOBJECT, CompositeAnswer, CompositeSubrequest, RecordAnswer
from ..stamps import conditional_since, modified_at, stamp_awaited
from ..twins import twins_merge_many
from .answers import pushed_log, record_failure
from .base import PushResult, Write, finishing
from .reads import read_current


def push_updates(
    engine: Engine,
    client: SalesforceClient,
    linked: list[tuple[OutboxEntry, str]],
    tasks: dict[int, Task],
    result: PushResult,
    *,
    rides: bool,
    room: int,
) -> list[Write]:
    """A cycle's updates of linked tasks: conditional writes for the cycle's first Composite
    call, or collection writes after a read; and the entries held for the next cycle."""
    plan = _conditional_plan(engine, linked, rides=rides, room=room)
    if plan is None:
        return push_read_merged(engine, client, linked, tasks, result, room=room)
    ready, since, held = plan
    if held:
        entries_hold(held)
    if not ready:
        return []
    # Salesforce not read: the merge takes Cockpit's side only, as with Bi-directional Sync
    # off; the condition stands in for the read.
    with finishing([e for e, _ in ready]):
        sendable = _merge_for_push(engine, ready, None, tasks, result)
    if not sendable:
        return []
    return [_conditional_write(engine, client, sendable, since, tasks, result)]


def _conditional_write(
    engine: Engine,
    client: SalesforceClient,
    sendable: list[tuple[OutboxEntry, str, Outcome]],
    since: dict[int, dt.datetime],
    tasks: dict[int, Task],
    result: PushResult,
) -> Write:
    """A small cycle's updates as PATCHes in its first Composite call, each applied only if
    the twin is still the version Cockpit agreed with (If-Unmodified-Since); the writes
    Salesforce refuses (412) are kept in the Write's `refused`, for the cycle to read first."""
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
    return Write(
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


def entries_hold(entries: list[OutboxEntry]) -> None:
    """Back to pending for the next cycle, no attempt counted; the doorbell rings for it."""
    with finishing(entries):
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


def push_read_merged(
    engine: Engine,
    client: SalesforceClient,
    linked: list[tuple[OutboxEntry, str]],
    tasks: dict[int, Task],
    result: PushResult,
    *,
    room: int = 0,
) -> list[Write]:
    """Updates after a read: Salesforce's current values merged in; returns the writes that
    carry them. Up to `room` of them (the subrequests left in the cycle's first Composite
    call) go as PATCHes conditional on the version the read saw, so a Salesforce edit saved
    after the read, in a later second, is refused (412) and merged instead of overwritten;
    more go in collections, which have no conditions."""
    theirs_by_id: dict[str, dict[str, Any]] | None = None
    read_at: dt.datetime | None = None
    if engine.settings.bidirectional_sync:
        theirs_by_id, read_at = read_current(engine, client, [sf_id for _, sf_id in linked])
    with finishing([e for e, _ in linked]):
        sendable = _merge_for_push(engine, linked, theirs_by_id, tasks, result, read_at)
    if theirs_by_id is not None and 0 < len(sendable) <= room:
        stamps = {
            outcome.task_id: modified_at(theirs_by_id[sf_id], "LastModifiedDate")
            for _, sf_id, outcome in sendable
        }
        since = {task_id: stamp for task_id, stamp in stamps.items() if stamp is not None}
        if len(since) == len(sendable):
            return [_conditional_write(engine, client, sendable, since, tasks, result)]
    return _collection_updates(engine, sendable, result)


def _collection_updates(
    engine: Engine, sendable: list[tuple[OutboxEntry, str, Outcome]], result: PushResult
) -> list[Write]:
    """The merged updates as collection PATCHes of up to 200 records: no condition."""
    writes = []
    for start in range(0, len(sendable), COLLECTION_LIMIT):
        chunk = sendable[start : start + COLLECTION_LIMIT]
        writes.append(
            Write(
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
        linked = _gone_settle(linked, theirs_by_id, result)
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
    return _outcomes_sort(linked, outcomes, tasks, result)


def _gone_settle(
    linked: list[tuple[OutboxEntry, str]],
    theirs_by_id: dict[str, dict[str, Any]],
    result: PushResult,
) -> list[tuple[OutboxEntry, str]]:
    """The twins the read did not find are deleted in Salesforce: their deletes win. Returns
    the rest."""
    gone = [(e, sf_id) for e, sf_id in linked if sf_id not in theirs_by_id]
    if not gone:
        return linked
    _deleted_in_salesforce([e for e, _ in gone], [sf_id for _, sf_id in gone], result)
    return [(e, sf_id) for e, sf_id in linked if sf_id in theirs_by_id]


def _outcomes_sort(
    linked: list[tuple[OutboxEntry, str]],
    outcomes: dict[int, Outcome],
    tasks: dict[int, Task],
    result: PushResult,
) -> list[tuple[OutboxEntry, str, Outcome]]:
    """The merges with something to send; the entries with nothing to send are settled, and
    those whose owner has no Salesforce user fail."""
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
            record_failure(entry, answered, result)
    held = {e.pk for e in entries_done([e for e, _, _ in confirmed])}
    twin_agreed_after_push(
        engine=engine, outcomes=[(o, s) for e, o, s in confirmed if e.pk in held]
    )
    pushed_log(
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
