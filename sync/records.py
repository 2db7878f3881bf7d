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

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tasks import services as task_services
from tasks.models import Company, Task, TaskSyncRecord

from . import outbox, telemetry
from .accounts import accounts_load
from .agreement import agreement_marked
from .client import SalesforceClient
from .context import applying_inbound
from .engine_config import Engine
from .external_ids import task_ids_of
from .lease import lease_fence
from .mapping import sf_datetime_parse
from .merge import SKIP
from .models import OutboxEntry, PullState, SyncEvent
from .page_links import PageLinks, page_links_locked
from .payload import COMPANY, OWNER, task_changes, task_values
from .record_fields import STAMP_FIELDS
from .stamps import stamp_settled
from .tombstones import tombstoned_twins_delete
from .twins import MergeItem, twins_merge_many
from .uncertain import first_push_base


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

    A page of up to 2,000 changes is applied with a bounded number of queries: links,
    tombstones and our own unlinked first pushes read once for the page, linked tasks merged
    together (twins_merge_many), new tasks created together."""
    accounts_load(engine, page, client)
    ext = engine.connection.external_id_field
    ours = task_ids_of({r["Id"]: str(r.get(ext) or "") for r in page})
    with lease_fence():
        links = page_links_locked(page=page, ours=ours)
        result.deleted += links.deleted
        tombstoned = tombstoned_twins_delete(unlinked=links.unlinked)
        result.skipped += len(tombstoned)
        items, new = _records_sorted(engine, links, tombstoned, read_at, passed or {})
        _merge(engine, items, result)
        if new:
            _create_tasks(engine, new, result, read_at)


def _records_sorted(
    engine: Engine,
    links: PageLinks,
    tombstoned: set[str],
    read_at: dt.datetime | None,
    passed: Passed,
) -> tuple[list[MergeItem], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """A page's live records, each where it goes: merged with its linked task (or with ours
    whose first push made it, linked now), or new, as (record, its mapped fields and stamps).
    A twin of a task deleted in Cockpit (`tombstoned`) goes nowhere."""
    items: list[MergeItem] = []
    new: list[tuple[dict[str, Any], dict[str, Any]]] = []
    own = dict(links.own)
    for record in links.live:
        salesforce_id = record["Id"]
        theirs = {name: record.get(name) for name in (*engine.field_names, *STAMP_FIELDS)}
        if salesforce_id in links.linked:
            items.append(
                MergeItem(
                    links.linked[salesforce_id],
                    theirs,
                    salesforce_id,
                    read_at=read_at,
                    passed=passed.get(salesforce_id, {}),
                )
            )
            continue
        if salesforce_id in tombstoned:
            continue
        mine = own.pop(links.ours.get(salesforce_id) or 0, None)
        if mine is not None:
            items.append(_link(engine, mine, theirs, salesforce_id))
        else:
            new.append((record, theirs))
    return items, new


def _merge(engine: Engine, items: list[MergeItem], result: ApplyResult) -> None:
    outcomes = twins_merge_many(engine=engine, items=items)
    telemetry.records_pulled(items, outcomes)
    # In task order: outbox entries are locked in task order (outbox.tasks_lock).
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


def _link(
    engine: Engine, record: TaskSyncRecord, theirs: dict[str, Any], salesforce_id: str
) -> MergeItem:
    base = first_push_base(record) or (dict.fromkeys(engine.field_names), {})
    # The agreement is what the lost push sent, as the push that finds its twin records it
    # (push/creates.py::own_creates_find): the merge below replaces it, but it merges nothing
    # for a task its CSM desynced meanwhile, which syncs again from this base.
    TaskSyncRecord.objects.filter(pk=record.pk).update(
        salesforce_id=salesforce_id, agreed_values=base[0], agreed_cockpit=base[1]
    )
    return MergeItem(record.task_id, theirs, salesforce_id, base_override=base)


def imported_count_add(count: int) -> None:
    """Count tasks created from Salesforce where the first import's progress reads them: one
    row, not a scan of the log for "created from Salesforce" on every poll (issue 19). Pulls
    never run before sync is first switched on, so the count is the first import's."""
    PullState.objects.get_or_create(pk=1)
    PullState.objects.filter(pk=1).update(imported=F("imported") + count)


@dataclass
class _NewTask:
    """A Salesforce record Cockpit has no task for, with what the mapping brings in of it."""

    record: dict[str, Any]
    theirs: dict[str, Any]  # the mapped fields and stamps, by Salesforce name
    values: dict[str, Any]  # Cockpit's values, by Salesforce name (Owner a user id)
    skipped: list[tuple[str, Any]]  # Salesforce values with no Cockpit value mapped


def _create_tasks(
    engine: Engine,
    new: list[tuple[dict[str, Any], dict[str, Any]]],
    result: ApplyResult,
    read_at: dt.datetime | None,
) -> None:
    """Salesforce tasks Cockpit does not have yet, created together."""
    planned = _tasks_planned(engine, new, result)
    if not planned:
        return
    rows = _task_rows(engine, planned)
    now = timezone.now()
    with transaction.atomic(), applying_inbound():
        made = task_services.tasks_create_from_salesforce(rows=rows)
        links: list[TaskSyncRecord] = []
        events: list[SyncEvent] = []
        for plan, task in zip(planned, made, strict=True):
            if not isinstance(task, Task):
                result.skipped += 1
                events.append(_refused_event(plan, task))
                continue
            links.append(_new_link(engine, plan, task, now, read_at))
            result.created += 1
            events += _created_events(engine, plan, task)
        TaskSyncRecord.objects.bulk_create(links, batch_size=500)
        SyncEvent.objects.bulk_create(events, batch_size=500)
        if links:
            imported_count_add(len(links))
    telemetry.records_created(links)


def _tasks_planned(
    engine: Engine, new: list[tuple[dict[str, Any], dict[str, Any]]], result: ApplyResult
) -> list[_NewTask]:
    """The new records that become tasks: a record whose owner is no Cockpit user's is
    skipped (counted), as a pull skips what it cannot show."""
    planned = []
    for record, theirs in new:
        values, skipped = _values_in(engine, theirs)
        if values.get(OWNER) is None:
            result.skipped += 1
            continue
        planned.append(_NewTask(record, theirs, values, skipped))
    return planned


def _values_in(
    engine: Engine, theirs: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """A record's incoming fields as Cockpit values, and the values no mapping can read."""
    values: dict[str, Any] = {}
    skipped: list[tuple[str, Any]] = []
    for item in engine.fields:
        if not item.comes_in or item.salesforce not in theirs:
            continue
        value = item.back(theirs[item.salesforce])
        if value is SKIP:
            skipped.append((item.salesforce, theirs[item.salesforce]))
        else:
            values[item.salesforce] = value
    return values, skipped


def _task_rows(
    engine: Engine, planned: list[_NewTask]
) -> list[tuple[User, str, task_services.TaskChanges]]:
    """What tasks_create_from_salesforce makes of each plan (owner, name, other fields), the
    owners and companies read once for all of them."""
    users = {u.pk: u for u in User.objects.filter(pk__in={plan.values[OWNER] for plan in planned})}
    company_ids = {plan.values[COMPANY] for plan in planned if plan.values.get(COMPANY)}
    companies = {c.pk: c for c in Company.objects.filter(pk__in=company_ids)}
    rows = []
    for plan in planned:
        values = {name: value for name, value in plan.values.items() if name != OWNER}
        changes = task_changes(values, engine.spec, engine.picklists, users, companies)
        name = changes.pop("name", "") or "(no subject)"
        rows.append((users[plan.values[OWNER]], name, changes))
    return rows


def _new_link(
    engine: Engine, plan: _NewTask, task: Task, now: dt.datetime, read_at: dt.datetime | None
) -> TaskSyncRecord:
    """The sync record of a task just made from its Salesforce twin: linked, synced, and the
    twin's values agreed as both sides' (the merge's base from here on)."""
    theirs, ours = plan.theirs, task_values(task, engine.spec)
    stamp = plan.record.get("SystemModstamp")
    return TaskSyncRecord(
        task=task,
        salesforce_id=plan.record["Id"],
        state=TaskSyncRecord.State.SYNCED,
        last_synced_at=now,
        salesforce_seen_at=sf_datetime_parse(stamp) if stamp else None,
        salesforce_modified_at=stamp_settled(theirs, read_at),
        agreed_values={n: theirs.get(n) for n in engine.field_names},
        agreed_cockpit=agreement_marked(
            engine,
            {n: theirs.get(n) for n in engine.field_names},
            {n: ours.get(n) for n in engine.field_names},
        ),
    )


def _created_events(engine: Engine, plan: _NewTask, task: Task) -> list[SyncEvent]:
    """The log of a task made from Salesforce: that it was, and each value it did not take."""
    salesforce_id = plan.record["Id"]
    created = SyncEvent(
        kind=SyncEvent.Kind.PULLED,
        task_id=task.pk,
        salesforce_id=salesforce_id,
        message=f"'{task.name}' created from Salesforce",
    )
    return [
        created,
        *(
            SyncEvent(
                kind=SyncEvent.Kind.SKIPPED,
                task_id=task.pk,
                salesforce_id=salesforce_id,
                message=f"Salesforce {name} '{value}' has no Cockpit value mapped: the "
                f"Cockpit {engine.labels.get(name, name)} keeps its value.",
            )
            for name, value in plan.skipped
        ),
    ]


def _refused_event(plan: _NewTask, refusal: ValidationError) -> SyncEvent:
    """A Salesforce task Cockpit's own rules refuse (a value a CSM could not save either)."""
    return SyncEvent(
        kind=SyncEvent.Kind.ERROR,
        salesforce_id=plan.record["Id"],
        message=f"Salesforce task '{plan.theirs.get('Subject', '')}' refused by "
        f"Cockpit: {'; '.join(refusal.messages)}",
    )
