"""Reads of the cockpit pages: a task's sync state in a CSM's words, and its sync timeline.

Errors are stored as the engine saw them (Salesforce's codes, transport exceptions). Admins
need that text; a CSM needs to know what happened and what to do, so the pages show these
words instead, and never a raw transport error ("HTTPSConnectionPool(host=…").
"""

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from adminconfig.models import SalesforceConnection, UserMapping
from adminconfig.selectors import sync_settings
from sync.models import Conflict, OutboxEntry, SyncEvent
from sync.selectors import outbound_connection
from tasks.models import CustomField, Task, TaskSyncRecord

UNREACHABLE = "Salesforce could not be reached; Cockpit will retry."
NO_ANSWER = "Salesforce did not answer in time; Cockpit will retry."
LOGIN = "Cockpit could not sign in to Salesforce; an admin needs to check the connection."
CERTIFICATE = (
    "Cockpit could not verify Salesforce's certificate; an admin needs to check the connection."
)
OWNER_UNMATCHED = (
    "Your Cockpit user is not matched to a Salesforce user yet; ask an admin to match users "
    "(Match users by email)."
)
LOCKED = "The Salesforce record was busy with another update; Cockpit will retry."
LIMIT = "The org used up its Salesforce API calls for now; Cockpit will retry later."
DELETED = "The task was deleted in Salesforce."
UNEXPECTED = "Something went wrong while syncing; Cockpit will retry. An admin can see details."

# (pattern in the stored error, what a CSM reads), first match wins.
_ERROR_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.IGNORECASE), words)
    for p, words in [
        (r"has no Salesforce user", OWNER_UNMATCHED),
        (r"TLS verification|SSLError|CERTIFICATE_VERIFY", CERTIFICATE),
        (r"INVALID_SESSION_ID|Login refused|invalid_client|invalid_grant|SECRET_UNREADABLE", LOGIN),
        (r"did not answer|Read timed out|ReadTimeout", NO_ANSWER),
        (
            r"could not be reached|unreachable|HTTPSConnectionPool|HTTPConnectionPool|"
            r"Max retries exceeded|NewConnectionError|Connection refused|ConnectionError|"
            r"ConnectTimeout|Name or service not known|Login failed with HTTP 5",
            UNREACHABLE,
        ),
        (r"UNABLE_TO_LOCK_ROW", LOCKED),
        (r"REQUEST_LIMIT_EXCEEDED|API usage|API limit", LIMIT),
        (r"ENTITY_IS_DELETED|NOT_FOUND", DELETED),
        (r"Unexpected error|Traceback|\w+Error\(", UNEXPECTED),
    ]
]
# Salesforce's own refusal of a value: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Due date ... (Subject)"
_SALESFORCE_REFUSAL = re.compile(r"^([A-Z][A-Z_]+[A-Z]):\s*(.+)$", re.DOTALL)
_GAVE_UP = re.compile(r"\s*\(gave up after (\d+) attempts\)\s*$")


def error_in_words(error: str) -> str:
    """A stored sync error as a sentence a CSM understands; '' for no error."""
    text = (error or "").strip()
    if not text:
        return ""
    text = text.removeprefix("Will retry:").strip()
    gave_up = _GAVE_UP.search(text)
    if gave_up:
        text = text[: gave_up.start()]
    words = next((w for pattern, w in _ERROR_WORDS if pattern.search(text)), None)
    if words is None:
        refusal = _SALESFORCE_REFUSAL.match(text)
        words = f"Salesforce refused the change: {refusal.group(2).strip()}" if refusal else text
    if len(words) > 300:
        words = words[:299] + "…"
    if gave_up:
        words = words.replace("; Cockpit will retry.", ".").replace(" Cockpit will retry.", "")
        words += f" Cockpit gave up after {gave_up.group(1)} attempts: use Retry to try again."
    return words


def task_custom_values(task: Task) -> list[tuple[CustomField, Any]]:
    """The task's custom fields that hold a value, with their definitions."""
    values = task.custom_fields or {}
    return [
        (field, values.get(field.key))
        for field in CustomField.objects.filter(key__in=list(values))
        if values.get(field.key) not in (None, "")
    ]


def sync_record_of(task: Task) -> TaskSyncRecord | None:
    try:
        return task.sync_record
    except TaskSyncRecord.DoesNotExist:
        return None


def salesforce_record_url(connection: SalesforceConnection | None, salesforce_id: str) -> str:
    """The Lightning page of a Salesforce Task, on the org's own address (the instance URL its
    login answered with, recorded by Test connection). Before the first test, the login URL:
    with My Domain, which Lightning requires, that is the org's address too."""
    if connection is None or not salesforce_id:
        return ""
    base = connection.instance_url or connection.login_url
    return f"{base.rstrip('/')}/lightning/r/Task/{salesforce_id}/view"


@dataclass(frozen=True)
class SyncExplained:
    """What the task page says about the sync: a headline, why, and a badge tone."""

    tone: str  # synced, pending, error, not_synced, desynced
    headline: str
    reason: str = ""


def _when(moment: dt.datetime) -> str:
    local = timezone.localtime(moment)
    return local.strftime("%-d %b %Y, %H:%M")


def task_sync_explained(task: Task) -> SyncExplained:
    """The task's sync state in a CSM's words: pending says why it waits."""
    record = sync_record_of(task)
    settings = sync_settings()
    connection = outbound_connection(settings)
    if record is not None and record.desynced_at is not None:
        return SyncExplained(
            "desynced",
            "Not syncing",
            f"You stopped syncing this task on {_when(record.desynced_at)}. Cockpit and "
            "Salesforce keep their own copies; changes on either side stay there until you "
            "sync it again.",
        )
    if record is None or record.state == TaskSyncRecord.State.NOT_SYNCED:
        if connection is None:
            return SyncExplained(
                "not_synced", "Not synced", "Sync with Salesforce is switched off."
            )
        return SyncExplained(
            "not_synced",
            "Not synced",
            "This task is older than the sync, so it is not sent on its own. "
            "Sync to Salesforce sends it now.",
        )
    if record.state == TaskSyncRecord.State.SYNCED:
        when = f" Last synced {_when(record.last_synced_at)}." if record.last_synced_at else ""
        return SyncExplained("synced", "Synced with Salesforce", when.strip())
    owner_matched = UserMapping.objects.filter(user_id=task.owner_id).exists()
    if record.state == TaskSyncRecord.State.ERROR:
        reason = error_in_words(record.last_error) or "Salesforce refused the change."
        if not owner_matched:
            reason = OWNER_UNMATCHED
        return SyncExplained("error", "Not synced: it failed", reason)
    # Pending: say why it waits, the most likely cause first.
    if connection is None:
        return SyncExplained(
            "pending",
            "Waiting: sync is switched off",
            "Sync with Salesforce is switched off (or paused by an admin). The change is kept "
            "and goes out when it is switched on again.",
        )
    if not owner_matched:
        return SyncExplained("pending", "Waiting: your user is not matched", OWNER_UNMATCHED)
    if connection.push_paused_until and connection.push_paused_until > timezone.now():
        return SyncExplained(
            "pending",
            "Waiting: Salesforce API budget",
            "The org is close to its daily Salesforce API limit, so Cockpit paused sending "
            f"changes until {_when(connection.push_paused_until)}. Nothing is lost.",
        )
    entry = (
        OutboxEntry.objects.filter(task_id=task.pk, state=OutboxEntry.State.PENDING)
        .order_by("-id")
        .first()
    )
    if entry is not None and (entry.attempts or entry.last_error or record.last_error):
        words = error_in_words(entry.last_error or record.last_error) or UNREACHABLE
        retry = ""
        if entry.next_attempt_at > timezone.now():
            retry = f" Next try {_when(entry.next_attempt_at)}."
        return SyncExplained("pending", "Waiting to retry", f"{words}{retry}")
    if record.last_error:
        return SyncExplained("pending", "Waiting to retry", error_in_words(record.last_error))
    return SyncExplained(
        "pending", "Waiting to be sent", "Changes usually reach Salesforce within seconds."
    )


@dataclass(frozen=True)
class TimelineItem:
    at: dt.datetime
    kind: str  # pushed, pulled, deleted, skipped, conflict, retry, error
    title: str
    detail: str = ""


def task_timeline(task: Task, *, limit: int = 50) -> list[TimelineItem]:
    """What the sync did with this task, newest first: its log, conflicts, failed pushes."""
    items: list[TimelineItem] = []
    for event in SyncEvent.objects.filter(task_id=task.pk).order_by("-created_at", "-id")[:limit]:
        detail = event.message
        if event.kind in (SyncEvent.Kind.ERROR, SyncEvent.Kind.RETRY):
            detail = error_in_words(event.message)
        items.append(TimelineItem(event.created_at, event.kind, event.get_kind_display(), detail))
    for conflict in Conflict.objects.filter(task_id=task.pk).order_by("-created_at")[:limit]:
        winner = "Cockpit's" if conflict.winner == "cockpit" else "Salesforce's"
        items.append(
            TimelineItem(
                conflict.created_at,
                "conflict",
                f"Changed on both sides: {conflict.salesforce_field}",
                f"Cockpit had {_shown(conflict.cockpit_value)}, Salesforce had "
                f"{_shown(conflict.salesforce_value)}; {winner} value was kept.",
            )
        )
    failed = OutboxEntry.objects.filter(task_id=task.pk, state=OutboxEntry.State.FAILED)
    for entry in failed.order_by("-updated_at")[:limit]:
        items.append(
            TimelineItem(
                entry.updated_at,
                "error",
                "Push failed",
                error_in_words(entry.last_error) or "Salesforce refused the change.",
            )
        )
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "nothing"
    return f"“{value}”"


def task_tab_counts(qs: QuerySet[Task], *, today: dt.date) -> dict[str, int]:
    """How many tasks each tab of the list shows, in one query."""
    tomorrow = today + dt.timedelta(days=1)
    is_open = Q(status__is_closed=False)
    return qs.aggregate(
        today=Count(
            "id",
            filter=(is_open & Q(due_date__lt=today)) | Q(due_date__in=[today, tomorrow]),
        ),
        open=Count("id", filter=is_open),
        upcoming=Count("id", filter=is_open & Q(due_date__gt=tomorrow)),
        completed=Count("id", filter=Q(status__is_closed=True)),
    )


def rows_version(tasks: list[Task]) -> str:
    """A short fingerprint of what the list's rows show (task fields and sync state), so a
    poll can answer "nothing changed" without sending the rows."""
    parts = []
    for task in sorted(tasks, key=lambda t: t.pk):
        record = sync_record_of(task)
        parts.append(
            f"{task.pk}:{task.updated_at.isoformat()}:"
            + (
                f"{record.state}:{record.last_error}:{record.desynced_at}:{record.last_synced_at}"
                if record
                else "-"
            )
        )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
