"""Mail to sync admins when the sync needs a person: pushes failing, the change-event stream
down, pushing paused by the API budget.

Beat asks every minute (sync.alerts). Each kind of trouble has a start: the newest failure, the
listener's last sign of life, the pause the engine logged. A mail goes out when the trouble is
there now, started after the last mail of its kind, and that mail is at least
SYNC_ALERT_INTERVAL_MINUTES old, so trouble that lasts is told once and trouble that comes back
is told again, at most once an hour a kind. The last mail's time is a database row (AlertMail)
claimed by a conditional update, so processes never mail the same trouble twice.
"""

import datetime as dt
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.core.mail import EmailMessage, get_connection
from django.db.models import Count, Max, QuerySet
from django.urls import reverse
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from adminconfig.selectors import sync_admin_emails

from .health.budget import push_pause_reason
from .models import AlertMail, OutboxEntry, StreamState, SyncEvent
from .selectors import (
    inbound_connection,
    primary_connection,
    stream_live,
    sync_settings,
    task_names,
)

log = logging.getLogger(__name__)

# The newest failures a mail names; the rest are on the failed-records page.
NAMED_FAILURES = 5


@dataclass(frozen=True)
class Alert:
    kind: str  # AlertMail.Kind
    started_at: dt.datetime  # when this trouble began (for failures: the newest one)
    subject: str
    body: str


def _link(name: str) -> str:
    return f"{django_settings.COCKPIT_URL}{reverse(name)}"


def _local(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _pushes_failing(now: dt.datetime, since: dt.datetime | None) -> Alert | None:
    """Pushes that failed for good after the last mail (or within the interval, before any),
    and Salesforce refusing every call (a revoked secret, an error answer) while changes are
    retried: those take hours of backoff to fail for good."""
    since = since or now - _interval()
    failed = OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED, updated_at__gt=since)
    figures = failed.aggregate(count=Count("id"), newest=Max("updated_at"))
    count = figures["count"]
    refused = _calls_refused(since)
    if not count and refused is None:
        return None
    lines = []
    if refused is not None:
        connection, waiting, _ = refused
        lines.append(_refused_lines(connection, waiting))
    if count:
        lines.append(_failures_lines(failed, count, since))
    subject = (
        f"Cockpit: {count:,} push{'es' if count != 1 else ''} to Salesforce failed"
        if count
        else "Cockpit: Salesforce refuses Cockpit's pushes"
    )
    started = max(t for t in (figures["newest"], refused and refused[2]) if t is not None)
    return Alert(
        kind=AlertMail.Kind.PUSHES_FAILING,
        started_at=started,
        subject=subject,
        body="\n".join(lines)
        + f"\nRetry or skip them on the failed-records page: {_link('sync-failed')}\n",
    )


def _refused_lines(connection: SalesforceConnection, waiting: int) -> str:
    """The mail's part on Salesforce refusing every call: why, and how many changes wait."""
    return (
        f"Salesforce refuses Cockpit's calls ({connection.get_state_display()}): "
        f"{connection.last_error}\n{waiting:,} "
        f"{'changes wait and are' if waiting != 1 else 'change waits and is'} retried. "
        "Check the connection (Test connection) in the admin.\n"
    )


def _failures_lines(failed: QuerySet[OutboxEntry], count: int, since: dt.datetime) -> str:
    """The mail's part on pushes failed for good: how many, the newest few by task."""
    newest = list(failed.order_by("-updated_at", "-id")[:NAMED_FAILURES])
    names = task_names(e.task_id for e in newest)
    more = count - len(newest)
    return (
        f"{count:,} change{'s' if count != 1 else ''} could not be pushed to Salesforce "
        f"since {_local(since)} and will not be tried again by themselves:\n\n"
        + "\n".join(
            f"- {names.get(e.task_id, f'task {e.task_id} (deleted)')}: {e.last_error}"
            for e in newest
        )
        + (f"\n- and {more:,} more" if more > 0 else "")
        + "\n"
    )


def _calls_refused(since: dt.datetime) -> tuple[SalesforceConnection, int, dt.datetime] | None:
    """The primary connection, when a whole call was refused (its state says so) and changes
    failed a try since: how many wait, and the newest try."""
    connection = primary_connection()
    refused = (SalesforceConnection.State.UNAUTHORIZED, SalesforceConnection.State.ERROR)
    if connection is None or connection.state not in refused:
        return None
    tries = SyncEvent.objects.filter(
        kind=SyncEvent.Kind.RETRY, task_id__isnull=False, created_at__gt=since
    ).aggregate(newest=Max("created_at"))
    if tries["newest"] is None:
        return None
    waiting = OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING).count()
    return connection, waiting, tries["newest"]


def _stream_down(now: dt.datetime) -> Alert | None:
    """Bi-directional sync is on, a listener ran here before, and it has been silent for
    longer than a long poll: Salesforce changes come in only at the pull interval."""
    if inbound_connection(sync_settings()) is None:
        return None
    state = StreamState.objects.filter(pk=1).first()
    if state is None or state.last_seen_at is None or stream_live():
        return None
    quiet = dt.timedelta(seconds=django_settings.SYNC_STREAM_POLL_SECONDS + 30)
    if state.last_seen_at > now - quiet:
        return None  # a reconnect under way: not down yet
    error = f"\nIts last error: {state.last_error}\n" if state.last_error else ""
    return Alert(
        kind=AlertMail.Kind.STREAM_DOWN,
        started_at=state.last_seen_at,
        subject="Cockpit: the Salesforce change-event stream is down",
        body=(
            "The change-event listener (the stream process) has not answered since "
            f"{_local(state.last_seen_at)} (it says: {state.get_status_display()}).\n{error}\n"
            "Changes made in Salesforce reach Cockpit only at the pull interval until it is "
            "back. Check that the stream process runs (`manage.py sync_stream`) and that "
            f"Salesforce is reachable.\n\nSync health: {_link('sync-health')}\n"
        ),
    )


def _pushing_paused(now: dt.datetime) -> Alert | None:
    connection = primary_connection()
    if connection is None or not (
        connection.push_paused_until and connection.push_paused_until > now
    ):
        return None
    # The pause's start is the event the engine logged when it paused; without it (pruned)
    # the pause is as old as anything, so it is mailed once.
    paused = (
        SyncEvent.objects.filter(
            kind=SyncEvent.Kind.RETRY, task_id=None, message__contains="pushing paused"
        )
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return Alert(
        kind=AlertMail.Kind.PUSHING_PAUSED,
        started_at=paused or dt.datetime.min.replace(tzinfo=dt.UTC),
        subject="Cockpit: pushing to Salesforce is paused by the API budget",
        body=(
            f"{push_pause_reason(connection, now=now)}\n\n"
            f"Changes made in Cockpit wait until {_local(connection.push_paused_until)}. "
            "Raise Cockpit's daily API budget on the connection, or resume pushing on Sync "
            f"health if the org can take it: {_link('sync-health')}\n"
        ),
    )


def _interval() -> dt.timedelta:
    return dt.timedelta(minutes=django_settings.SYNC_ALERT_INTERVAL_MINUTES)


def _claim(
    kind: str, started_at: dt.datetime, sent_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """Whether this process mails now: the trouble is newer than the last mail, that mail is
    an interval old, and no other process claimed the row meanwhile."""
    if sent_at is not None and (started_at <= sent_at or sent_at > now - _interval()):
        return False
    return AlertMail.objects.filter(kind=kind, sent_at=sent_at).update(sent_at=now) == 1


def alerts_check(*, now: dt.datetime | None = None) -> list[str]:
    """Mail sync admins about trouble that is due a mail; returns the kinds mailed."""
    now = now or timezone.now()
    recipients = sync_admin_emails()
    if not recipients:
        return []
    for kind in AlertMail.Kind.values:
        AlertMail.objects.get_or_create(kind=kind)
    rows = dict(AlertMail.objects.values_list("kind", "sent_at"))
    checks: list[tuple[str, Callable[[], Alert | None]]] = [
        (
            AlertMail.Kind.PUSHES_FAILING,
            lambda: _pushes_failing(now, rows[AlertMail.Kind.PUSHES_FAILING]),
        ),
        (AlertMail.Kind.STREAM_DOWN, lambda: _stream_down(now)),
        (AlertMail.Kind.PUSHING_PAUSED, lambda: _pushing_paused(now)),
    ]
    mailed = []
    for kind, check in checks:
        alert = check()
        if alert is None or not _claim(kind, alert.started_at, rows[kind], now):
            continue
        # Claimed first, sent second: a mail server that fails loses this mail rather than
        # repeating it every minute; the trouble, if it lasts, is mailed after the interval.
        try:
            _send(alert, recipients)
        except (smtplib.SMTPException, OSError):
            log.exception("Could not mail sync admins: %s", alert.subject)
            continue
        mailed.append(kind)
    return mailed


def _send(alert: Alert, recipients: list[str]) -> None:
    footer = (
        "\n--\nYou get this because you are a Cockpit sync admin. Cockpit mails each kind of "
        f"trouble at most once every {django_settings.SYNC_ALERT_INTERVAL_MINUTES} minutes.\n"
    )
    # One message each: admins do not see each other's addresses.
    messages = [
        EmailMessage(subject=alert.subject, body=alert.body + footer, to=[address])
        for address in recipients
    ]
    with get_connection() as connection:
        connection.send_messages(messages)
