"""Reads of the sync state that the engine and the interfaces need."""

import datetime as dt
from typing import Any

from django.db.models import Count, Max
from django.utils import timezone

from adminconfig.models import FieldMapping, SalesforceConnection, SyncSettings
from tasks.models import Task, TaskSyncRecord

from .models import OutboxEntry, SyncEvent


def sync_settings() -> SyncSettings:
    return SyncSettings.objects.filter(pk=1).first() or SyncSettings()


def outbound_connection(settings: SyncSettings | None = None) -> SalesforceConnection | None:
    """The connection Cockpit pushes to: the primary one, when Auto Sync is on and not paused."""
    settings = settings or sync_settings()
    if not settings.auto_sync:
        return None
    return (
        SalesforceConnection.objects.filter(is_primary=True)
        .exclude(state=SalesforceConnection.State.PAUSED)
        .first()
    )


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


def sync_status() -> dict[str, Any]:
    """Health and figures for admins: switches, the primary org, the outbox, task states."""
    settings = sync_settings()
    connection = SalesforceConnection.objects.filter(is_primary=True).first()
    outbox = dict(
        OutboxEntry.objects.exclude(state=OutboxEntry.State.DONE)
        .values_list("state")
        .annotate(n=Count("id"))
    )
    states = dict(TaskSyncRecord.objects.values_list("state").annotate(n=Count("id")))
    tracked = sum(states.values())
    states[TaskSyncRecord.State.NOT_SYNCED] = states.get(TaskSyncRecord.State.NOT_SYNCED, 0) + (
        Task.objects.count() - tracked
    )
    last = SyncEvent.objects.values("kind").annotate(at=Max("created_at"))
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
            "cockpit_calls_today": connection.cockpit_calls
            if connection.cockpit_calls_date == timezone.now().astimezone(dt.UTC).date()
            else 0,
            "daily_api_budget": connection.daily_api_budget,
        },
        "outbox": {state: outbox.get(state, 0) for state in ("pending", "in_flight", "failed")},
        "tasks": {state: states.get(state, 0) for state in TaskSyncRecord.State.values},
        "last": {row["kind"]: row["at"] for row in last},
    }
