"""Reads of the sync state that the engine and the interfaces need."""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.db.models import QuerySet
from django.utils import timezone

from adminconfig.models import FieldMapping, SalesforceConnection, SyncSettings, UserMapping

# The sync's modules read the switches from here.
from adminconfig.selectors import sync_settings as sync_settings
from cockpit.page_rows import page_row
from cockpit.reads_at_once import count_of, values_at_once
from cockpit.request_memo import memoized
from tasks.models import Task, TaskSyncRecord

from .mapping import MappingSpec
from .mapping_specs import mapping_spec_load
from .merge import SKIP, SyncField
from .models import Conflict, OutboxEntry, StreamState, SyncEvent
from .payload import COMPANY, OWNER, lookups_load, sync_fields, task_values


def _primary_unpaused() -> SalesforceConnection | None:
    # Through primary_connection(), so a page that asks for both reads the row once.
    connection = primary_connection()
    if connection is None or connection.state == SalesforceConnection.State.PAUSED:
        return None
    return connection


def outbound_connection(settings: SyncSettings | None = None) -> SalesforceConnection | None:
    """The connection Cockpit pushes to: the primary one, when Auto Sync is on and not paused."""
    settings = settings or sync_settings()
    if not settings.auto_sync:
        return None
    return _primary_unpaused()


def inbound_connection(settings: SyncSettings | None = None) -> SalesforceConnection | None:
    """The connection Cockpit pulls from: the same one, when Bi-directional Sync is on too."""
    settings = settings or sync_settings()
    if not (settings.auto_sync and settings.bidirectional_sync):
        return None
    return _primary_unpaused()


def primary_connection() -> SalesforceConnection | None:
    """The primary connection, whether sync is on or not (for links and figures)."""
    return page_row("primary_connection")  # type: ignore[no-any-return]


def stream_live() -> bool:
    """The change-event listener is connected and answered lately: pulls can be rare (the
    safety net). Read by the pull's interval, the alerts, the gauges and the health page."""
    state: StreamState | None = page_row("stream_state")
    if state is None or state.status != StreamState.Status.LIVE or state.last_seen_at is None:
        return False
    quiet = dt.timedelta(seconds=django_settings.SYNC_STREAM_POLL_SECONDS + 30)
    return state.last_seen_at > timezone.now() - quiet


def task_is_desynced(task: Task) -> bool:
    """A CSM stopped syncing this task: it is neither pushed nor updated from Salesforce."""
    return TaskSyncRecord.objects.filter(task=task, desynced_at__isnull=False).exists()


def failed_pushes() -> QuerySet[OutboxEntry]:
    """Pushes that failed for good, the latest first."""
    return OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED).order_by("-updated_at")


def task_names(task_ids: Iterable[int | None]) -> dict[int, str]:
    """Each task's name by id, in one query (a deleted task is missing)."""
    ids = {i for i in task_ids if i is not None}
    return dict(Task.objects.filter(pk__in=ids).values_list("pk", "name"))


def sync_events(*, kind: str | None = None) -> QuerySet[SyncEvent]:
    """The sync log, newest first (the model's order), of one kind when asked."""
    events = SyncEvent.objects.all()
    return events.filter(kind=kind) if kind else events


def cockpit_calls_today(connection: SalesforceConnection, *, now: dt.datetime | None = None) -> int:
    """Cockpit's own API calls on this connection today (UTC, as Salesforce counts a day)."""
    return connection.cockpit_calls_on((now or timezone.now()).astimezone(dt.UTC).date())


def fields_locked_for(task: Task) -> set[str]:
    """Cockpit fields an admin mapped as not editable, for a task linked to Salesforce."""
    linked = TaskSyncRecord.objects.filter(task=task).exclude(salesforce_id=None).exists()
    if not linked:
        return set()
    return set(
        FieldMapping.objects.filter(connection__is_primary=True, editable=False).values_list(
            "cockpit_field", flat=True
        )
    )


def sync_figures() -> dict[str, Any]:
    """The counts and dates sync health and the status API show, in one query of one
    subquery each (cockpit/reads_at_once.py), once a GET request: the outbox and the tasks by
    state, the newest event of each kind (an index seek per kind: a GROUP BY read the whole
    log, 200,000 rows at issue 19's scale), open conflicts, whether any user is matched."""
    return memoized("sync_figures", _sync_figures_read)


def _sync_figures_read() -> dict[str, Any]:
    reads: dict[str, QuerySet[Any]] = {
        f"outbox_{state}": count_of(OutboxEntry.objects.filter(state=state))
        for state in ("pending", "in_flight", "failed")
    }
    reads |= {
        f"tasks_{state}": count_of(TaskSyncRecord.objects.filter(state=state))
        for state in TaskSyncRecord.State.values
    }
    reads |= {
        f"latest_{kind}": SyncEvent.objects.filter(kind=kind)
        .order_by("-created_at")
        .values("created_at")
        for kind in SyncEvent.Kind.values
    }
    reads["tasks"] = count_of(Task.objects.all())
    reads["conflicts_open"] = count_of(Conflict.objects.filter(resolved_at=None))
    reads["users_mapped"] = count_of(UserMapping.objects.all())
    return values_at_once(reads, statement="sync_figures")


def sync_status() -> dict[str, Any]:
    """Health and figures for admins: switches, the primary org, the outbox, task states."""
    settings = sync_settings()
    connection = primary_connection()
    figures = sync_figures()
    states = {state: figures[f"tasks_{state}"] for state in TaskSyncRecord.State.values}
    # A task without a sync record has never been synced.
    states[TaskSyncRecord.State.NOT_SYNCED] += figures["tasks"] - sum(states.values())
    return {
        "auto_sync": settings.auto_sync,
        "bidirectional_sync": settings.bidirectional_sync,
        "first_enabled_at": settings.first_enabled_at,
        "connection": None
        if connection is None
        else {
            "id": connection.pk,
            "name": connection.name,
            "state": connection.state,
            "last_error": connection.last_error,
            "api_usage": connection.api_usage,
            "api_limit": connection.api_limit,
            "push_paused_until": connection.push_paused_until,
            "cockpit_calls_today": cockpit_calls_today(connection),
            "daily_api_budget": connection.daily_api_budget,
        },
        "outbox": {
            state: figures[f"outbox_{state}"] for state in ("pending", "in_flight", "failed")
        },
        "tasks": states,
        "last": events_latest_by_kind(),
    }


def events_latest_by_kind() -> dict[str, dt.datetime]:
    """When the log last saw each kind of event."""
    figures = sync_figures()
    return {
        kind: figures[f"latest_{kind}"]
        for kind in SyncEvent.Kind.values
        if figures[f"latest_{kind}"] is not None
    }


@dataclass(frozen=True)
class TwinDifference:
    """A field where the Salesforce twin holds what Cockpit does not show: a value with no
    Cockpit mapping ("Deferred"), an owner with no Cockpit account, or a one-way field's value
    the other side never took."""

    salesforce_field: str
    cockpit_field: str  # status, priority, owner, company, or the mapping's Cockpit field
    salesforce_value: Any
    unmapped: bool  # Cockpit has no value for it at all (else: a value Cockpit does not hold)


def _cockpit_field(spec: MappingSpec, salesforce_field: str) -> str:
    fixed = {
        spec.status.salesforce_field: "status",
        spec.priority.salesforce_field: "priority",
        OWNER: "owner",
        COMPANY: "company",
    }
    if spec.type is not None:
        fixed[spec.type.salesforce_field] = "type"
    if salesforce_field in fixed:
        return fixed[salesforce_field]
    return next(
        (r.cockpit_field for r in spec.fields if r.salesforce_field == salesforce_field),
        salesforce_field,
    )


def twin_differences(tasks: Sequence[Task]) -> dict[int, list[TwinDifference]]:
    """Per task (by id, only those with any): the fields where Salesforce's value, as the sync
    last saw and agreed it (TaskSyncRecord.agreed_values), is not what Cockpit shows. A Cockpit
    edit not pushed yet is no difference: the push is on its way. Reads the mapping once for
    all the tasks (a page of the list); the tasks' sync records come with them."""
    linked = _twins_linked(tasks)
    connection = primary_connection() if linked else None
    if connection is None:
        return {}
    spec = mapping_spec_load(connection)
    lookups = lookups_load(
        companies={t.company_id for t, _ in linked if t.company_id},
        accounts={
            str(r.agreed_values.get(COMPANY)) for _, r in linked if r.agreed_values.get(COMPANY)
        },
    )
    fields: list[SyncField] = sync_fields(spec, lookups)
    found: dict[int, list[TwinDifference]] = {}
    for task, record in linked:
        differences = _task_differences(task, record, spec, fields)
        if differences:
            found[task.pk] = differences
    return found


def _twins_linked(tasks: Sequence[Task]) -> list[tuple[Task, TaskSyncRecord]]:
    """The tasks with a synced twin and an agreement to compare with, and their records."""
    linked: list[tuple[Task, TaskSyncRecord]] = []
    for task in tasks:
        try:
            record = task.sync_record
        except TaskSyncRecord.DoesNotExist:
            continue
        if record.salesforce_id and record.desynced_at is None and record.agreed_values:
            linked.append((task, record))
    return linked


def _task_differences(
    task: Task, record: TaskSyncRecord, spec: MappingSpec, fields: list[SyncField]
) -> list[TwinDifference]:
    """One task's differences from its twin's agreed values, as twin_differences says."""
    ours = task_values(task, spec)
    agreed_cockpit = record.agreed_cockpit or {}
    differences: list[TwinDifference] = []
    for field in fields:
        if field.salesforce not in record.agreed_values:
            continue
        theirs = record.agreed_values[field.salesforce]
        shown = field.back(theirs)
        if shown is not SKIP and shown == ours.get(field.salesforce):
            continue
        if field.goes_out and ours.get(field.salesforce) != agreed_cockpit.get(field.salesforce):
            continue  # a Cockpit edit the next push sends
        differences.append(
            TwinDifference(
                salesforce_field=field.salesforce,
                cockpit_field=_cockpit_field(spec, field.salesforce),
                salesforce_value=theirs,
                unmapped=shown is SKIP,
            )
        )
    return differences
