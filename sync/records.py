"""Applying Salesforce records to Cockpit: a pull's page, or what change events describe.

Each record is merged field by field against the values both sides last agreed on (rule 8); a
push's own echo changes nothing (rule 7); a Salesforce picklist value with no mapping is
skipped and logged (rule 5); a record Cockpit has no task for becomes one, unless its task was
deleted in Cockpit (a tombstone) or it is the twin of our own first push whose answer was lost.
The pull (sync/inbound.py) and change events (sync/stream.py) both apply through here, so
neither imports the other.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from . import outbox, telemetry
from .accounts import accounts_load
from .client import SalesforceClient
from .deletions import twins_deleted_in_salesforce
from .engine_config import Engine
from .external_ids import task_ids_of
from .lease import lease_fence
from .locks import twins_lock
from .merge_items import MergeItem
from .models import OutboxEntry
from .new_tasks import new_tasks_create
from .page_links import page_sorted
from .tombstones import untombstoned
from .twins import twins_merge_many


@dataclass
class ApplyResult:
    """What applying Salesforce records did, a pull's pages or a batch of change events:
    records_apply adds to it (to the pull's own result too, sync/inbound.py's PullResult)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    conflicts: int = 0


# Per Salesforce record, per field: values Salesforce held since the twins' agreement that the
# merge sees only the end of (change events applied together, or left to a pull that reads the
# last state): sync/merge.py, `passed`.
Passed = dict[str, dict[str, list[Any]]]


def passed_add(passed: Passed, salesforce_id: str, values: dict[str, Any]) -> None:
    fields = passed.setdefault(salesforce_id, {})
    for name, value in values.items():
        fields.setdefault(name, []).append(value)


def records_apply(
    engine: Engine,
    page: list[dict[str, Any]],
    result: ApplyResult,
    client: SalesforceClient,
    *,
    read_at: dt.datetime | None = None,
    passed: Passed | None = None,
) -> None:
    """Apply Salesforce records (a query's page, or what change events describe), whole or
    not at all: under the lease fence, after the calls that look up their Accounts.
    `read_at`: a query's, when its read began at the latest (Salesforce's clock); `passed`:
    values the records held before these, known from change events.

    A page of up to 2,000 changes is applied with a bounded number of queries: its tasks
    locked, links, tombstones and our own unlinked first pushes read once for the page,
    linked tasks merged together (twins_merge_many), new tasks created together."""
    accounts_load(engine, page, client)
    ext = engine.connection.external_id_field
    ours = task_ids_of({r["Id"]: str(r.get(ext) or "") for r in page})
    live = [r for r in page if not r.get("IsDeleted")]
    deleted = [r["Id"] for r in page if r.get("IsDeleted")]
    with lease_fence():
        # The page's tasks are locked before anything of them is read; the links are read
        # after Salesforce's deletions: a twin deleted on this page may have been the link of
        # a task whose other twin (a late first push) is also on it, and that one must meet
        # the task's tombstone, not be linked to it.
        twins_lock(salesforce_ids=[r["Id"] for r in page], ours=ours.values())
        if deleted:
            result.deleted += twins_deleted_in_salesforce(
                salesforce_ids=deleted,
                reason="was deleted in Salesforce, so it was deleted in Cockpit",
            )
        sorted_ = page_sorted(engine, live, ours, read_at=read_at, passed=passed or {})
        new = untombstoned(sorted_.unlinked)
        result.skipped += len(sorted_.unlinked) - len(new)
        _merge(engine, sorted_.merges, result)
        if new:
            made = new_tasks_create(engine, [(u.record, u.theirs) for u in new], read_at)
            result.created += made.created
            result.skipped += made.skipped


def _merge(engine: Engine, items: list[MergeItem], result: ApplyResult) -> None:
    outcomes = twins_merge_many(engine=engine, items=items)
    telemetry.records_pulled(items, outcomes)
    # In task order: outbox entries are locked in task order (locks.tasks_lock).
    for _, outcome in sorted(outcomes.items()):
        result.conflicts += len(outcome.merged.conflicts)
        result.skipped += len(outcome.merged.skipped)
        if outcome.changed_cockpit:
            result.updated += 1
        else:
            result.unchanged += 1
        if outcome.merged.to_salesforce:
            # Cockpit's side goes out at the next push, which merges again before it writes.
            with transaction.atomic():
                outbox.outbox_add(task_id=outcome.task_id, operation=OutboxEntry.Operation.UPSERT)
