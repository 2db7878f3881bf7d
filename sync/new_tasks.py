"""Salesforce tasks Cockpit has no task for yet, met in a pull's page or in change events:
created together, each linked to its twin with the twin's values agreed (the merge's base from
here on), a value no mapping reads logged and left out, an owner no Cockpit user is skipped.
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
from tasks.custom_fields import refusal_text
from tasks.models import Company, Task, TaskSyncRecord

from . import telemetry
from .agreement import agreement_marked
from .context import applying_inbound
from .engine_config import Engine
from .mapping import sf_datetime_parse
from .merge import SKIP
from .models import PullState, SyncEvent
from .payload import COMPANY, OWNER, task_changes, task_values
from .stamps import stamp_settled


@dataclass
class NewTasks:
    """What creating a page's new tasks did."""

    created: int = 0
    skipped: int = 0  # an owner no Cockpit user is, or values Cockpit's own rules refuse


@dataclass
class _NewTask:
    """A Salesforce record Cockpit has no task for, with what the mapping brings in of it."""

    record: dict[str, Any]
    theirs: dict[str, Any]  # the mapped fields and stamps, by Salesforce name
    values: dict[str, Any]  # Cockpit's values, by Salesforce name (Owner a user id)
    skipped: list[tuple[str, Any]]  # Salesforce values with no Cockpit value mapped


def new_tasks_create(
    engine: Engine,
    new: list[tuple[dict[str, Any], dict[str, Any]]],
    read_at: dt.datetime | None,
) -> NewTasks:
    """Salesforce tasks Cockpit does not have yet, as (record, its mapped fields and stamps),
    created together."""
    result = NewTasks()
    planned = _tasks_planned(engine, new, result)
    if not planned:
        return result
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
    return result


def _tasks_planned(
    engine: Engine, new: list[tuple[dict[str, Any], dict[str, Any]]], result: NewTasks
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
        f"Cockpit: {refusal_text(refusal)}",
    )


def imported_count_add(count: int) -> None:
    """Count tasks created from Salesforce where the first import's progress reads them: one
    row, not a scan of the log for "created from Salesforce" on every poll (issue 19). Pulls
    never run before sync is first switched on, so the count is the first import's."""
    PullState.objects.get_or_create(pk=1)
    PullState.objects.filter(pk=1).update(imported=F("imported") + count)
