"""Drift repair (Heroku Connect's "reconcile"): every linked task compared with its twin.

Pushes and pulls move changes; a change that never produced one (a row written around the
services, a write lost without trace, a pull that skipped a record of an owner who was not
mapped then) leaves the two sides apart for good. A reconcile reads every Salesforce task of
the mapped owners, 2,000 a page, and merges each linked one through the normal merge with one
difference: a field whose sides differ although both still hold what they last agreed on is
drift, seen as changed on both sides, and settled by the conflict policy with a conflict
recorded. Linked tasks the scan did not see are looked up by Id: a twin of another owner is
merged too, a twin deleted (or purged from the recycle bin) deletes its task (delete wins).

The scan goes by owner rather than by lists of linked Ids: Salesforce's request line is limited
to 16,384 bytes, and 2,000 quoted Ids would take 42,000. Its cost is ceil(tasks of the mapped
owners / 2,000) queries, plus one per 400 linked tasks it did not see.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from tasks.models import TaskSyncRecord

from . import outbox
from .accounts import accounts_load
from .client import SalesforceClient, SalesforceError, soql_ids
from .client_cache import client_for_connection
from .deletions import twins_deleted_in_salesforce
from .engine_config import Engine, engine_load
from .enqueue import RECONCILE, job_send_on_commit
from .exceptions import SyncOffError
from .lease import LeaseLostError, lease_fence, lease_hold
from .locks import twins_lock
from .merge_items import MergeItem
from .models import OutboxEntry, ReconcileRun, SyncEvent
from .record_fields import STAMP_FIELDS, select_fields
from .selectors import inbound_connection, sync_settings
from .sf_types import TASK_SOBJECT, SalesforceRecord
from .twins import twins_merge_many
from .usage import api_usage_record

log = logging.getLogger(__name__)

LEASE_WAIT = 60.0
MISSING_CHUNK = 400  # Ids in one SOQL IN list: well inside the request line's limit


@dataclass
class _Tally:
    checked: int = 0
    in_cockpit: int = 0
    in_salesforce: int = 0
    conflicts: int = 0
    missing: int = 0


def reconcile_start(*, trigger: str = "hand") -> ReconcileRun:
    """Record a reconcile asked for by an admin and queue it (it runs in the worker)."""
    if inbound_connection(sync_settings()) is None:
        # Reconcile reads Salesforce and may write both sides.
        raise SyncOffError(
            "Reconcile needs Auto Sync and Bi-directional Sync on, with a primary connection."
        )
    run = ReconcileRun.objects.create(trigger=trigger)
    job_send_on_commit(RECONCILE, run.pk)
    return run


def reconcile_run(*, run_id: int | None = None, trigger: str = "schedule") -> ReconcileRun:
    """Compare every linked task with its twin and repair what differs; returns the report."""
    run = ReconcileRun.objects.filter(pk=run_id).first() if run_id else None
    if run is None:
        run = ReconcileRun.objects.create(trigger=trigger)
    if run.finished_at:
        return run  # a message delivered twice
    settings = sync_settings()
    connection = inbound_connection(settings)
    if connection is None:
        return _finish(run, _Tally(), 0, error="Sync is off: nothing was compared.")
    with lease_hold(wait=LEASE_WAIT) as held:
        if not held:
            return _finish(run, _Tally(), 0, error="The sync stayed busy: try again later.")
        tally, calls = _Tally(), 0
        client: SalesforceClient | None = None
        try:
            client = client_for_connection(connection)
            before = client.calls
            engine = engine_load(connection, settings)
            seen = _scan(engine, client, tally)
            _missing(engine, client, seen, tally)
            calls = client.calls - before
        except SalesforceError as exc:
            calls = client.calls - before if client else 0
            return _finish(run, tally, calls, error=str(exc), connection=connection, client=client)
        except LeaseLostError:
            # Stalled past the lease and another worker took the engine over: what was
            # repaired stands (each page under the fence), the rest waits for the next run.
            calls = client.calls - before if client else 0
            error = "another worker took the sync engine over; run it again later"
            return _finish(run, tally, calls, error=error)
        return _finish(run, tally, calls, connection=connection, client=client)


def _scan(engine: Engine, client: SalesforceClient, tally: _Tally) -> set[str]:
    owners = engine.lookups.owners_in
    if not owners:
        return set()
    soql = (
        f"SELECT {', '.join(select_fields(engine))} FROM {TASK_SOBJECT} "  # noqa: S608 - ids validated
        f"WHERE OwnerId IN ({soql_ids(sorted(owners))}) ORDER BY Id"
    )
    seen: set[str] = set()
    read_at: dt.datetime | None = None
    # Each page's call renews the lease first (client.call_guard); each page is compared and
    # repaired under the fence.
    for number, page in enumerate(client.query_pages(soql)):
        if number == 0:  # the query's first call: its pages show what was there by then
            read_at = client.call_started_by
        seen.update(r["Id"] for r in page)
        accounts_load(engine, page, client)
        with lease_fence():
            _compare(engine, page, tally, read_at)
    return seen


def _missing(engine: Engine, client: SalesforceClient, seen: set[str], tally: _Tally) -> None:
    """Linked tasks whose twins the scan did not see: another owner's now, or gone."""
    linked = (
        TaskSyncRecord.objects.exclude(salesforce_id=None)
        .filter(desynced_at=None)
        .values_list("salesforce_id", flat=True)
        .iterator(chunk_size=2000)
    )
    unseen = [
        salesforce_id for salesforce_id in linked if salesforce_id and salesforce_id not in seen
    ]
    fields = ", ".join(select_fields(engine))
    for start in range(0, len(unseen), MISSING_CHUNK):
        chunk = unseen[start : start + MISSING_CHUNK]
        soql = f"SELECT {fields} FROM {TASK_SOBJECT} WHERE Id IN ({soql_ids(chunk)})"  # noqa: S608
        found: dict[str, SalesforceRecord] = {}
        read_at: dt.datetime | None = None
        for number, page in enumerate(client.query_pages(soql, include_deleted=True)):
            if number == 0:
                read_at = client.call_started_by
            found.update({r["Id"]: r for r in page})
        alive = [r for r in found.values() if not r.get("IsDeleted")]
        gone = [i for i in chunk if i not in found or found[i].get("IsDeleted")]
        accounts_load(engine, alive, client)
        with lease_fence():
            # Tasks first, as a CSM's change takes them (a delete reaches the sync record
            # before the task).
            twins_lock(salesforce_ids=chunk)
            _compare(engine, alive, tally, read_at)
            tally.missing += twins_deleted_in_salesforce(
                salesforce_ids=gone,
                reason="was found missing in Salesforce by a reconcile, so it was deleted in "
                "Cockpit",
            )


def _compare(
    engine: Engine, page: list[SalesforceRecord], tally: _Tally, read_at: dt.datetime | None
) -> None:
    linked = dict(
        TaskSyncRecord.objects.filter(salesforce_id__in=[r["Id"] for r in page]).values_list(
            "salesforce_id", "task_id"
        )
    )
    items = [
        MergeItem(
            linked[r["Id"]],
            {name: r.get(name) for name in (*engine.field_names, *STAMP_FIELDS)},
            r["Id"],
            drift=True,
            read_at=read_at,
        )
        for r in page
        if r["Id"] in linked
    ]
    outcomes = twins_merge_many(engine=engine, items=items)
    tally.checked += len(outcomes)
    for _, outcome in sorted(outcomes.items()):  # entries are locked in task order
        tally.conflicts += len(outcome.merged.conflicts)
        if outcome.changed_cockpit:
            tally.in_cockpit += 1
        if outcome.merged.to_salesforce:
            tally.in_salesforce += 1
            with transaction.atomic():
                outbox.outbox_add(task_id=outcome.task_id, operation=OutboxEntry.Operation.UPSERT)


def _finish(
    run: ReconcileRun,
    tally: _Tally,
    calls: int,
    *,
    error: str = "",
    connection: SalesforceConnection | None = None,
    client: SalesforceClient | None = None,
) -> ReconcileRun:
    run.checked, run.conflicts, run.twins_missing = tally.checked, tally.conflicts, tally.missing
    run.repaired_in_cockpit, run.repaired_in_salesforce = tally.in_cockpit, tally.in_salesforce
    run.api_calls, run.error, run.finished_at = calls, error, timezone.now()
    run.save()
    if connection is not None and client is not None:
        api_usage_record(connection, client.api_usage, calls=calls)
    repaired = tally.in_cockpit + tally.in_salesforce + tally.missing
    message = (
        f"Reconcile: {tally.checked:,} linked tasks compared, {repaired:,} repaired "
        f"({tally.in_cockpit:,} in Cockpit, {tally.in_salesforce:,} queued for Salesforce, "
        f"{tally.missing:,} twins missing), {tally.conflicts:,} conflicts, {calls:,} API calls"
        + (f"; stopped: {error}" if error else ".")
    )
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.ERROR if error else SyncEvent.Kind.RECONCILED, message=message
    )
    log.info("%s", message)
    return run
