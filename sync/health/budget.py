"""The primary org's API usage against its limit and Cockpit's budget, and a pause."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from adminconfig.models import SalesforceConnection

from ..models import SyncEvent
from ..selectors import cockpit_calls_today, primary_connection
from ..usage import API_USAGE_CEILING


@dataclass
class Budget:
    connection_id: int
    org_used: int | None
    org_limit: int | None
    cockpit_calls: int
    cockpit_budget: int
    checked_at: dt.datetime | None
    paused_until: dt.datetime | None
    pause_reason: str

    @property
    def org_percent(self) -> float | None:
        if not self.org_limit:
            return None
        return min(100.0, 100.0 * (self.org_used or 0) / self.org_limit)

    @property
    def cockpit_percent(self) -> float:
        return min(100.0, 100.0 * self.cockpit_calls / max(self.cockpit_budget, 1))

    @property
    def ceiling_percent(self) -> float:
        return API_USAGE_CEILING * 100

    @property
    def paused(self) -> bool:
        return self.paused_until is not None


def api_budget(*, now: dt.datetime | None = None) -> Budget | None:
    """The primary org's API usage against its limit and Cockpit's budget, and a pause."""
    now = now or timezone.now()
    connection = primary_connection()
    if connection is None:
        return None
    paused = connection.push_paused_until
    paused = paused if paused and paused > now else None
    reason = ""
    if paused:
        reason = push_pause_reason(connection, now=now)
    return Budget(
        connection_id=connection.pk,
        org_used=connection.api_usage,
        org_limit=connection.api_limit,
        cockpit_calls=cockpit_calls_today(connection, now=now),
        cockpit_budget=connection.daily_api_budget,
        checked_at=connection.api_usage_checked_at,
        paused_until=paused,
        pause_reason=reason,
    )


def push_pause_reason(connection: SalesforceConnection, *, now: dt.datetime) -> str:
    """Why pushing is paused, in the words the engine logged when it paused (the newest
    budget event), or from the figures when that event is gone."""
    event = (
        SyncEvent.objects.filter(
            kind=SyncEvent.Kind.RETRY, task_id=None, message__contains="pushing paused"
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if event is not None:
        return event.message
    used, limit = connection.api_usage, connection.api_limit
    if used is not None and limit and used >= limit * API_USAGE_CEILING:
        return f"Salesforce API usage {used:,} of {limit:,} is past {API_USAGE_CEILING:.0%}."
    return "Cockpit's daily API budget is spent."
