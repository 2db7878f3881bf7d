"""Deletes: the twins of deleted tasks, found by external id when their first push was in flight."""

from functools import partial

from .. import telemetry
from ..client import COLLECTION_LIMIT, RecordStatus, SalesforceClient, record_result
from ..engine_config import Engine
from ..external_ids import external_id
from ..lease import lease_fence
from ..models import OutboxEntry, SyncEvent, Tombstone
from ..outbox import entries_done, entry_done
from ..sf_types import TASK_SOBJECT, RecordAnswer
from .answers import record_failure
from .base import PushResult, Write, finishing, has_field


def push_deletes(
    engine: Engine, client: SalesforceClient, entries: list[OutboxEntry], result: PushResult
) -> list[Write]:
    """Deletes: the collection writes that carry them (in the cycle's Composite calls, beside
    its creates and updates)."""
    _resolve_by_external_id(engine, client, entries)
    unknown = [e for e in entries if not e.salesforce_id]
    # Never reached Salesforce (or not yet: a twin that turns up later is deleted then).
    with finishing(unknown):
        entries_done(unknown)
    known = [e for e in entries if e.salesforce_id]
    writes = []
    for start in range(0, len(known), COLLECTION_LIMIT):
        chunk = known[start : start + COLLECTION_LIMIT]
        writes.append(
            Write(
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
            record_failure(entry, answered, result)
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
    if not blank or not has_field(engine.connection, ext):
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
