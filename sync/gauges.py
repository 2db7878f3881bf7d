"""The sync's figures read from the database at scrape time (a Prometheus collector).

The database is the source of truth for work, so what it holds is read when /metrics is
scraped rather than kept in a process: the outbox by state and its oldest pending change, the
org's API usage against its limit and Cockpit's budget, the change-event stream, the engine
lease, the newest mapping re-sync. Any web process answers the same, whichever process did the
work. Counters of what happened (pushes, pulls, lag) live in sync/telemetry.py.
"""

import datetime as dt
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adminconfig.models import ResyncRun, SalesforceConnection

from .lease import ENGINE
from .models import Lease, OutboxEntry, PullState, StreamState
from .selectors import cockpit_calls_today, stream_live


class SyncGauges(Collector):
    """Reads a handful of rows (ten small queries) per scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        up = GaugeMetricFamily(
            "cockpit_metrics_database_up",
            "Whether the scrape could read the database (0: the sync figures are missing).",
        )
        try:
            figures = [
                *_outbox(now),
                *_api_usage(now),
                *_stream(now),
                *_lease(now),
                *_pull(now),
                *_resync(),
            ]
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from figures


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)


def _outbox(now: dt.datetime) -> Iterator[Metric]:
    by_state = dict(
        OutboxEntry.objects.order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    entries = GaugeMetricFamily(
        "cockpit_outbox_entries", "Outbox entries by state.", labels=["state"]
    )
    for state in OutboxEntry.State.values:
        entries.add_metric([state], by_state.get(state, 0))
    yield entries
    pending = OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING)
    yield GaugeMetricFamily(
        "cockpit_outbox_due_entries",
        "Pending outbox entries due now (not backing off).",
        value=pending.filter(next_attempt_at__lte=now).count(),
    )
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    yield GaugeMetricFamily(
        "cockpit_outbox_oldest_pending_age_seconds",
        "Age of the oldest pending outbox entry (0: none pending).",
        value=_age(now, oldest) or 0.0,
    )


def _api_usage(now: dt.datetime) -> Iterator[Metric]:
    labels = ["connection"]
    used = GaugeMetricFamily(
        "cockpit_salesforce_api_usage_calls",
        "The org's API calls in the last 24 h, as Salesforce last reported them.",
        labels=labels,
    )
    limit = GaugeMetricFamily(
        "cockpit_salesforce_api_limit_calls", "The org's daily API limit.", labels=labels
    )
    spent = GaugeMetricFamily(
        "cockpit_sync_api_calls_today",
        "Salesforce API calls Cockpit made today (UTC).",
        labels=labels,
    )
    budget = GaugeMetricFamily(
        "cockpit_sync_api_budget_calls",
        "Cockpit's own daily API budget, set by the admin.",
        labels=labels,
    )
    paused = GaugeMetricFamily(
        "cockpit_sync_push_paused",
        "1 while pushing is paused before the org's limit or past Cockpit's budget.",
        labels=labels,
    )
    for connection in SalesforceConnection.objects.order_by("pk"):
        name = [connection.name]
        if connection.api_usage is not None:
            used.add_metric(name, connection.api_usage)
        if connection.api_limit is not None:
            limit.add_metric(name, connection.api_limit)
        spent.add_metric(name, cockpit_calls_today(connection, now=now))
        budget.add_metric(name, connection.daily_api_budget)
        is_paused = connection.push_paused_until is not None and connection.push_paused_until > now
        paused.add_metric(name, int(is_paused))
    yield from (used, limit, spent, budget, paused)


def _stream(now: dt.datetime) -> Iterator[Metric]:
    state = StreamState.objects.filter(pk=1).first() or StreamState()
    status = GaugeMetricFamily(
        "cockpit_sync_stream_status",
        "The change-event listener's state as it last recorded it (1 for the current one).",
        labels=["status"],
    )
    for value in StreamState.Status.values:
        status.add_metric([value], int(state.status == value))
    yield status
    yield GaugeMetricFamily(
        "cockpit_sync_stream_live",
        "1 while the listener is connected and answered within its long-poll timeout.",
        value=int(stream_live()),
    )
    for name, then, doc in (
        ("last_event", state.last_event_at, "the last change event was applied"),
        ("last_seen", state.last_seen_at, "the listener last answered (each long poll)"),
    ):
        age = _age(now, then)
        if age is not None:
            yield GaugeMetricFamily(
                f"cockpit_sync_stream_{name}_age_seconds", f"Seconds since {doc}.", value=age
            )
    yield CounterMetricFamily(
        "cockpit_sync_stream_events_applied",
        "Change events the listener applied.",
        value=state.events_applied,
    )
    yield CounterMetricFamily(
        "cockpit_sync_stream_fallbacks",
        "Pulls the listener ran to cover a gap, a reconnect or a lost replay id.",
        value=state.fallbacks,
    )


def _lease(now: dt.datetime) -> Iterator[Metric]:
    lease = Lease.objects.filter(name=ENGINE).first()
    locked_until = lease.locked_until if lease else None
    held = locked_until is not None and locked_until > now
    yield GaugeMetricFamily(
        "cockpit_sync_lease_held",
        "1 while a push cycle, pull, change-event batch or reconcile holds the engine lease.",
        value=int(held),
    )
    acquired_at = lease.acquired_at if lease and held else None
    yield GaugeMetricFamily(
        "cockpit_sync_lease_holder_age_seconds",
        "How long the engine lease's current holder has held it (0: not held).",
        value=_age(now, acquired_at) or 0.0,
    )
    yield GaugeMetricFamily(
        "cockpit_sync_lease_expires_in_seconds",
        "Seconds until the engine lease runs out unless its holder renews it (it renews after "
        "every Salesforce call; a holder that died lets it run down to 0). 0: not held.",
        value=(locked_until - now).total_seconds() if held and locked_until else 0.0,
    )


def _pull(now: dt.datetime) -> Iterator[Metric]:
    state = PullState.objects.filter(pk=1).first()
    age = _age(now, state.last_pull_at if state else None)
    if age is not None:
        yield GaugeMetricFamily(
            "cockpit_sync_pull_last_run_age_seconds", "Seconds since the last pull ran.", value=age
        )


def _resync() -> Iterator[Metric]:
    run = ResyncRun.objects.filter(connection__is_primary=True).first()
    yield GaugeMetricFamily(
        "cockpit_sync_resync_running",
        "1 while a mapping re-sync is running.",
        value=int(run is not None and run.finished_at is None),
    )
    if run is None:
        return
    entries = GaugeMetricFamily(
        "cockpit_sync_resync_entries",
        "The newest mapping re-sync's progress: tasks to re-sync (total), done and failed.",
        labels=["state"],
    )
    for label, value in (("total", run.total), ("done", run.done), ("failed", run.failed)):
        entries.add_metric([label], value)
    yield entries
