"""Salesforce's daily API limit and Cockpit's own budget: counted, recorded, and obeyed before
they are reached, never after (DESIGN rule 10)."""

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from adminconfig.models import SalesforceConnection

from .models import SyncEvent
from .selectors import cockpit_calls_today

# Slow down before the org's daily limit, never after it (rule 10).
API_USAGE_CEILING = 0.9
LIMIT_PAUSE = dt.timedelta(minutes=15)


def api_usage_record(
    connection: SalesforceConnection, usage: tuple[int, int] | None, *, calls: int = 0
) -> None:
    """Record the org's usage (Sforce-Limit-Info) and Cockpit's own calls of the day; pause
    pushing before the org's limit or Cockpit's daily budget is reached, never after."""
    now = timezone.now()
    today = now.astimezone(dt.UTC).date()
    with transaction.atomic():
        row = SalesforceConnection.objects.select_for_update().get(pk=connection.pk)
        spent = row.cockpit_calls_on(today) + calls
        changes: dict[str, Any] = {"cockpit_calls": spent, "cockpit_calls_date": today}
        if usage:
            changes.update(api_usage=usage[0], api_limit=usage[1], api_usage_checked_at=now)
        reason = ""
        paused = None
        if usage and usage[0] >= usage[1] * API_USAGE_CEILING:
            paused = now + LIMIT_PAUSE
            reason = (
                f"Salesforce API usage {usage[0]:,} of {usage[1]:,}: pushing paused for "
                f"{int(LIMIT_PAUSE.total_seconds() // 60)} minutes, before the daily limit."
            )
        elif spent >= row.daily_api_budget:
            midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.UTC)
            paused = midnight
            reason = (
                f"Cockpit spent its daily API budget ({spent:,} of {row.daily_api_budget:,} "
                "calls): pushing paused until midnight UTC."
            )
        changes["push_paused_until"] = paused
        SalesforceConnection.objects.filter(pk=connection.pk).update(**changes)
    if reason and not (row.push_paused_until and row.push_paused_until > now):
        SyncEvent.objects.create(kind=SyncEvent.Kind.RETRY, message=reason)


def push_pause_holds(connection: SalesforceConnection, *, now: dt.datetime | None = None) -> bool:
    """Whether the figures Cockpit holds still call for a pause: the org's newest usage reading
    past the ceiling, or Cockpit's calls today at its budget (as the admin set it now)."""
    used, limit = connection.api_usage, connection.api_limit
    if used is not None and limit and used >= limit * API_USAGE_CEILING:
        return True
    return cockpit_calls_today(connection, now=now) >= connection.daily_api_budget


def push_pause_recheck(*, now: dt.datetime | None = None) -> int:
    """Lift pauses whose cause is gone; returns how many were lifted.

    A pause is decided when a push or pull records its usage, and the pause itself stops
    pushes and slows pulls to one every 15 minutes (sync.inbound.pull_due). Figures that change
    meanwhile (an admin raises the budget, Test connection reads a lower usage) would otherwise
    keep pushes stopped and pulls slow until the pause runs out, up to midnight UTC for the
    budget. Beat's sweep calls this.
    """
    now = now or timezone.now()
    lifted = 0
    for connection in SalesforceConnection.objects.filter(push_paused_until__gt=now):
        if push_pause_holds(connection, now=now):
            continue
        with transaction.atomic():
            # Conditional: a push or pull that paused again meanwhile keeps its pause.
            won = SalesforceConnection.objects.filter(
                pk=connection.pk, push_paused_until=connection.push_paused_until
            ).update(push_paused_until=None)
            if won:
                SyncEvent.objects.create(
                    kind=SyncEvent.Kind.RETRY,
                    message="Pushing resumed: the API usage and Cockpit's budget allow it again.",
                )
        lifted += won
    return lifted
