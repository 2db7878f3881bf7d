"""First pushes: upserts by the external id (a retry never duplicates), the link and the
agreement they leave, and first pushes whose answer never came looked up."""

from functools import partial
from typing import Any

from django.utils import timezone

from tasks.bulk import rows_set
from tasks.models import Task, TaskSyncRecord

from ..agreement import agreement_marked
from ..client import COLLECTION_LIMIT, RecordStatus, SalesforceClient, record_result
from ..deletions import twins_deleted_in_salesforce
from ..engine_config import Engine
from ..external_ids import external_id
from ..failures import NO_FAILURE, OWNER_NOT_MAPPED, Failure
from ..models import OutboxEntry, Tombstone
from ..outbox import entries_done, entry_done, entry_fail, tombstone_delete_queue
from ..payload import create_payload, owner_missing_reason, task_values
from ..sf_types import TASK_SOBJECT, RecordAnswer
from ..uncertain import first_push_base
from .answers import pushed_log, record_failure
from .base import PushResult, Write, finishing, has_field


def own_creates_find(
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
    if not has_field(engine.connection, ext):
        return {}
    rows = _own_creates_rows(client, ext, entries)
    found: dict[OutboxEntry, str] = {}
    with finishing(list(rows)):
        for entry, row in rows.items():
            found[entry] = _own_create_link(entry, row, records[entry.task_id])
    return found


def _own_creates_rows(
    client: SalesforceClient, ext: str, entries: list[OutboxEntry]
) -> dict[OutboxEntry, dict[str, Any]]:
    """The twins Salesforce holds (or has deleted) under the entries' external ids: entry →
    its twin's row, a live twin rather than a deleted one."""
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
    return rows


def _own_create_link(entry: OutboxEntry, row: dict[str, Any], record: TaskSyncRecord) -> str:
    """The task linked to the twin its first push made, agreed on what that push sent; a
    twin deleted since deletes the task. Returns the twin's Id ('' when the task was
    deleted). Runs under `finishing`."""
    base_sf, base_ck = first_push_base(record) or ({}, {})
    TaskSyncRecord.objects.filter(pk=record.pk).update(
        salesforce_id=row["Id"],
        agreed_values=base_sf,
        agreed_cockpit=base_ck,
        salesforce_modified_at=None,
    )
    if not row["IsDeleted"]:
        return str(row["Id"])
    twins_deleted_in_salesforce(
        salesforce_ids=[row["Id"]],
        reason="was deleted in Salesforce before Cockpit learnt it had been "
        "created there: the delete wins, so it was deleted in Cockpit too",
    )
    entry_done(entry)
    return ""


def push_creates(
    engine: Engine, entries: list[OutboxEntry], tasks: dict[int, Task], result: PushResult
) -> list[Write]:
    """First pushes: the collection writes that upsert (or create) their twins."""
    connection = engine.connection
    use_upsert = has_field(connection, connection.external_id_field)
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
            # Our own external id last, so nothing in the payload can replace it.
            body = [{**p, ext: external_id(e.task_id)} for e, p, _ in chunk]
        else:
            # No external id field in the org: a retry after a lost answer may duplicate
            # (Test connection warns about it).
            method, path, body = "POST", "composite/sobjects", [p for _, p, _ in chunk]
        writes.append(
            Write(
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
            record_failure(entry, answered, result)
    held = {e.pk for e in entries_done([e for e, _, _, _ in created])}
    created = [c for c in created if c[0].pk in held]
    if created:
        _record_created(engine, created)
        pushed_log([e for e, _, _, _ in created], result)


def _record_created(
    engine: Engine, created: list[tuple[OutboxEntry, dict[str, Any], dict[str, Any], str]]
) -> None:
    """The links and agreements of confirmed first pushes: one UPDATE for the collection, by
    task, of the columns that differ from task to task; the rest (synced now, no failure, a
    version Cockpit wrote and has not read) written once for all."""
    names = engine.field_names
    present = set(
        TaskSyncRecord.objects.filter(
            task_id__in=[e.task_id for e, _, _, _ in created]
        ).values_list("task_id", flat=True)
    )
    rows = []
    for entry, payload, ours, salesforce_id in created:
        if entry.task_id not in present:
            # Deleted in Cockpit while its first push was on the way: the new twin goes. (A
            # task deleted after this read leaves a tombstone and a delete entry that finds
            # the twin by its external id.)
            tombstone = Tombstone.objects.filter(pk=entry.task_id).first()
            if tombstone is not None:
                tombstone_delete_queue(tombstone=tombstone, salesforce_id=salesforce_id)
            continue
        # What both sides now hold: the base of the next three-way merge, and how the next
        # pull recognises this push's echo (rule 7).
        agreed = {n: payload.get(n) for n in names}
        marked = agreement_marked(engine, agreed, {n: ours.get(n) for n in names})
        rows.append((entry.task_id, salesforce_id, agreed, marked))
    rows_set(
        TaskSyncRecord,
        key="task_id",
        fields=["salesforce_id", "agreed_values", "agreed_cockpit"],
        rows=rows,
        same={
            "salesforce_modified_at": None,
            "state": TaskSyncRecord.State.SYNCED,
            "last_synced_at": timezone.now(),
            **NO_FAILURE,
        },
    )
