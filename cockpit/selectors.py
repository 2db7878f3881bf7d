"""Reads of the cockpit pages: a task's sync state in a CSM's words, and its sync timeline.

Errors are stored as the engine saw them (Salesforce's codes, transport exceptions). Admins
need that text; a CSM needs to know what happened and what to do, so the pages show these
words instead, and never a raw transport error ("HTTPSConnectionPool(host=…").
"""

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, F, Q, QuerySet, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from adminconfig.fields import STANDARD_FIELDS
from adminconfig.models import SalesforceConnection, SalesforceUser, UserMapping
from adminconfig.selectors import sync_settings
from sync.failures import OWNER_NOT_MAPPED, reason_of
from sync.mapping_specs import field_mappings_of
from sync.models import Conflict, OutboxEntry, SalesforceAccount, SyncEvent
from sync.selectors import (
    TwinDifference,
    outbound_connection,
    primary_connection,
    twin_differences,
)
from sync.sf_types import TASK_SOBJECT
from tasks.models import CustomField, Priority, Status, Task, TaskSyncRecord
from tasks.selectors import custom_fields_all

from .page_rows import page_table

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


def _reason_in_words(text: str, kind: str) -> str:
    """A stored reason (without the give-up) as a CSM reads it."""
    text = text.removeprefix("Will retry:").strip()
    words = OWNER_UNMATCHED if kind == OWNER_NOT_MAPPED else None
    words = words or next((w for pattern, w in _ERROR_WORDS if pattern.search(text)), None)
    if words is None:
        refusal = _SALESFORCE_REFUSAL.match(text)
        words = f"Salesforce refused the change: {refusal.group(2).strip()}" if refusal else text
    if len(words) > 300:
        words = words[:299] + "…"
    return words


def _given_up(words: str) -> str:
    """Words of a reason Cockpit stopped retrying: no promise of a retry, ending a sentence."""
    for promise in ("; Cockpit will retry later.", "; Cockpit will retry."):
        words = words.replace(promise, ".")
    return _sentence(words.replace(" Cockpit will retry.", ""))


def _sentence(words: str) -> str:
    """Words that end a sentence (Salesforce's messages often end without a stop)."""
    return words if words.endswith((".", "!", "?", "…")) else words + "."


def error_in_words(error: str, *, kind: str = "", gave_up_after: int | None = None) -> str:
    """A sync error as a sentence a CSM understands; '' for no error. `kind` and
    `gave_up_after` are what the sync stored beside the text (sync/failures.py); a log message
    has the text alone."""
    text = reason_of((error or "").strip(), gave_up_after)
    if not text:
        return ""
    words = _reason_in_words(text, kind)
    if gave_up_after is not None:
        words = _given_up(words)
        words += f" Cockpit gave up after {gave_up_after} attempts: use Retry to try again."
    return words


def sync_error_in_words(row: TaskSyncRecord | OutboxEntry) -> str:
    """The error a sync record or an outbox entry holds, in a CSM's words."""
    return error_in_words(row.last_error, kind=row.error_kind, gave_up_after=row.gave_up_after)


def task_custom_values(task: Task) -> list[tuple[CustomField, Any]]:
    """The task's custom fields that hold a value, with their definitions."""
    values = task.custom_fields or {}
    if not values:
        return []
    return [
        (field, values.get(field.key))
        for field in custom_fields_all()
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
    return f"{base.rstrip('/')}/lightning/r/{TASK_SOBJECT}/{salesforce_id}/view"


@dataclass(frozen=True)
class Difference:
    """What Salesforce holds that Cockpit does not show, in words, for one field."""

    field: str  # the Cockpit field: status, priority, owner, company, name, custom:<key>...
    label: str  # the field as a CSM knows it ("Status", "Effort hours")
    words: str  # beside the field: "In Salesforce: Deferred"
    sentence: str  # on its own: "Status in Salesforce: Deferred"


def field_label(cockpit_field: str, custom_labels: dict[str, str] | None = None) -> str:
    """A Cockpit field (a mapping's name for it) as people know it: 'custom:effort_hours' is
    'Effort hours', 'due_date' is 'Due date'."""
    if cockpit_field.startswith("custom:"):
        key = cockpit_field.removeprefix("custom:")
        if custom_labels is None:
            custom_labels = {field.key: field.label for field in custom_fields_all()}
        return custom_labels.get(key) or key.replace("_", " ").capitalize()
    known = STANDARD_FIELDS.get(cockpit_field)
    return known.label if known else cockpit_field.replace("_", " ").capitalize()


def _value_in_words(value: Any) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return dt.date.fromisoformat(text).strftime("%a %-d %b %Y")
    return text if len(text) <= 80 else text[:79] + "…"


def _difference_words(
    diff: TwinDifference, people: dict[str, str], accounts: dict[str, str]
) -> str:
    value = diff.salesforce_value
    if diff.cockpit_field == "owner":
        name = people.get(str(value))
        who = name or f"a Salesforce user ({value})"
        return f"Assigned in Salesforce to {who}, who has no Cockpit account"
    if diff.cockpit_field == "company":
        if not value:
            return "In Salesforce: no Account"
        account = accounts.get(str(value))
        named = f"“{account}”" if account else f"an Account ({value})"
        return f"In Salesforce: related to {named}, which is no Cockpit company"
    return f"In Salesforce: {_value_in_words(value)}"


def task_differences(tasks: list[Task]) -> dict[int, list[Difference]]:
    """Per task id, what its Salesforce twin holds that the page cannot show, in words. A few
    queries for a whole page of tasks, whatever its length."""
    found = twin_differences(tasks)
    if not found:
        return {}
    everything = [d for diffs in found.values() for d in diffs]
    owners = {str(d.salesforce_value) for d in everything if d.cockpit_field == "owner"}
    whats = {str(d.salesforce_value) for d in everything if d.cockpit_field == "company"}
    # The org's users and Accounts by name, in one query for both.
    named = [
        names.filter(pk__in=ids).order_by().annotate(of=Value(of)).values_list("pk", "name", "of")
        for names, ids, of in [
            (SalesforceUser.objects, owners, "user"),
            (SalesforceAccount.objects, whats, "account"),
        ]
        if ids
    ]
    rows = list(named[0].union(*named[1:], all=True)) if named else []
    people = {pk: name for pk, name, of in rows if of == "user"}
    accounts = {pk: name for pk, name, of in rows if of == "account"}
    custom_labels = {field.key: field.label for field in custom_fields_all()}
    said: dict[int, list[Difference]] = {}
    for task_id, diffs in found.items():
        for d in diffs:
            label = field_label(d.cockpit_field, custom_labels)
            words = _difference_words(d, people, accounts)
            sentence = words
            if words.startswith("In Salesforce: "):
                sentence = f"{label} in Salesforce: {words.removeprefix('In Salesforce: ')}"
            said.setdefault(task_id, []).append(Difference(d.cockpit_field, label, words, sentence))
    return said


def tasks_with_differences(tasks: list[Task]) -> list[Task]:
    """The tasks, each with `differences` (a list of Difference) and `differences_by_field`."""
    found = task_differences(tasks)
    for task in tasks:
        diffs = found.get(task.pk, [])
        task.differences = diffs  # type: ignore[attr-defined]
        task.differences_by_field = {d.field: d for d in diffs}  # type: ignore[attr-defined]
    return tasks


@dataclass(frozen=True)
class SyncExplained:
    """What the task page says about the sync: a headline, why, and a badge tone."""

    tone: str  # synced, pending, error, not_synced, desynced
    headline: str
    reason: str = ""


def _when(moment: dt.datetime) -> str:
    local = timezone.localtime(moment)
    return local.strftime("%-d %b %Y, %H:%M")


def task_sync_explained(task: Task, differences: list[Difference] | None = None) -> SyncExplained:
    """The task's sync state in a CSM's words: pending says why it waits; synced tells
    "synced, with differences" (Salesforce holds values Cockpit cannot show) apart."""
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
        if differences:
            return SyncExplained(
                "synced differs",
                "Synced, with differences",
                "Salesforce holds values Cockpit cannot show (listed below); Cockpit keeps "
                "its own until you change the field." + when,
            )
        return SyncExplained("synced", "Synced with Salesforce", when.strip())
    owner_matched = UserMapping.objects.filter(user_id=task.owner_id).exists()
    if record.state == TaskSyncRecord.State.ERROR:
        reason = sync_error_in_words(record) or "Salesforce refused the change."
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
        words = sync_error_in_words(entry if entry.last_error else record) or UNREACHABLE
        retry = ""
        if entry.next_attempt_at > timezone.now():
            retry = f" Next try {_when(entry.next_attempt_at)}."
        return SyncExplained("pending", "Waiting to retry", f"{words}{retry}")
    if record.last_error:
        return SyncExplained("pending", "Waiting to retry", sync_error_in_words(record))
    return SyncExplained(
        "pending", "Waiting to be sent", "Changes usually reach Salesforce within seconds."
    )


@dataclass(frozen=True)
class TimelineItem:
    at: dt.datetime
    kind: str  # pushed, pulled, deleted, skipped, conflict, retry, error, desynced, resynced
    title: str
    detail: str = ""


class _Words:
    """What the history needs to name people, fields and values as a CSM knows them, each
    read once per page and only when a line needs it (issue 19: the task page's queries):
    field labels (by the mapping's Cockpit field and by Salesforce field), Cockpit users and
    the org's users by id, picklist labels."""

    def __init__(self) -> None:
        # People are read as they are named (a history names few), never the whole table.
        self.people: dict[str, str] = {}

    @cached_property
    def custom(self) -> dict[str, str]:
        return {field.key: field.label for field in custom_fields_all()}

    @cached_property
    def by_salesforce(self) -> dict[str, str]:
        labels = {
            "Status": "Status",
            "Priority": "Priority",
            "OwnerId": "Assigned to",
            "WhatId": "Company",
        }
        connection = primary_connection()
        for mapping in field_mappings_of(connection) if connection else []:
            labels[mapping.salesforce_field] = self._label(mapping.cockpit_field)
        return labels

    @cached_property
    def picklists(self) -> dict[str, str]:
        # Status values first, so a Priority value of the same name wins, as it did.
        read = page_table("statuses"), page_table("priorities")
        if read[0] is not None and read[1] is not None:
            return {row.value: row.label for row in [*read[0], *read[1]]}
        statuses = Status.objects.order_by().values_list("value", "label")
        priorities = Priority.objects.order_by().values_list("value", "label")
        rows = statuses.annotate(n=Value(0)).union(priorities.annotate(n=Value(1)), all=True)
        return {value: label for value, label, _ in sorted(rows, key=lambda row: row[2])}

    def field(self, name: str) -> str:
        """A field named by the engine: a mapping's Cockpit field ('custom:effort_hours',
        'due_date', 'owner') or a Salesforce field ('ActivityDate')."""
        if name in self.by_salesforce:
            return self.by_salesforce[name]
        if name == "owner":
            return "Assigned to"
        return self._label(name)

    def _label(self, cockpit_field: str) -> str:
        custom = self.custom if cockpit_field.startswith("custom:") else {}
        return field_label(cockpit_field, custom)

    def person(self, value: Any) -> str:
        """A person the engine named: a Salesforce User Id (the org's directory), a Cockpit
        user's id (an owner value) or username (who settled a conflict)."""
        text = str(value)
        if text not in self.people:
            name = None
            if re.fullmatch(r"005[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?", text):
                name = SalesforceUser.objects.filter(pk=text).values_list("name", flat=True).first()
            else:
                lookup = (
                    {"pk": int(text)} if text.isascii() and text.isdigit() else {"username": text}
                )
                user = User.objects.filter(**lookup).first()
                if user is not None:
                    name = user.get_full_name() or user.get_username()
            self.people[text] = name or text
        return self.people[text]

    def value(self, salesforce_field: str, value: Any) -> str:
        if value is None or value == "":
            return "nothing"
        if salesforce_field == "OwnerId":
            return self.person(value)
        if salesforce_field in ("Status", "Priority"):
            return f"“{self.picklists.get(str(value), value)}”"
        return f"“{_value_in_words(value)}”"


_PUSHED = re.compile(r"^'.*' pushed to Salesforce(?:: (?P<fields>.+)| \(created\))?$", re.S)
_CREATED = re.compile(r"^'.*' created from Salesforce$", re.S)
_PULLED = re.compile(r"^'.*' updated from Salesforce: (?P<fields>.+)$", re.S)
_SKIPPED = re.compile(
    r"^Salesforce (?P<field>\S+) '(?P<value>.*)' has no Cockpit value mapped", re.S
)
# The push's log lines of a failed try (sync/outbox.py) and of a give-up (Failure.log_line).
_RETRIED = re.compile(r"^Attempt (?P<attempt>\d+) failed, will retry: (?P<reason>.+)$", re.S)
_GAVE_UP = re.compile(r"^Gave up after (?P<attempts>\d+) attempts: (?P<reason>.+)$", re.S)
# Where a give-up the task still shows is retried: its owner's button, a sync admin's queue.
RETRY_HERE = "Retry from “Retry sync to Salesforce” on this page."
RETRY_FROM_QUEUE = "Retry from Failed pushes on the sync health page."
_SETTLED = re.compile(
    r"^'.*': (?P<who>\S+) settled the (?P<field>\S+) conflict, keeping (?P<side>\S+) value "
    r"'(?P<value>.*)'\.$",
    re.S,
)


def _event_in_words(event: SyncEvent, words: _Words) -> TimelineItem | None:
    """A log line as a CSM reads it; None for a line the history shows otherwise (the
    engine's own conflict lines: the Conflict rows say the same, with both values)."""
    message = event.message
    title = event.get_kind_display()
    detail = message
    if event.kind == SyncEvent.Kind.PUSHED and (found := _PUSHED.match(message)):
        if found.group("fields"):
            names = [words.field(n.strip()) for n in found.group("fields").split(",")]
            title, detail = "Sent to Salesforce", "Changed there: " + ", ".join(names) + "."
        else:
            title, detail = "Created in Salesforce", ""
    elif event.kind == SyncEvent.Kind.PULLED and _CREATED.match(message):
        title, detail = "Created from Salesforce", ""
    elif event.kind == SyncEvent.Kind.PULLED and (found := _PULLED.match(message)):
        names = [words.field(n.strip()) for n in found.group("fields").split(",")]
        title, detail = "Updated from Salesforce", "Changed there: " + ", ".join(names) + "."
    elif event.kind == SyncEvent.Kind.SKIPPED and (found := _SKIPPED.match(message)):
        field, value = found.group("field"), found.group("value")
        if field == "OwnerId":
            title = "Reassigned in Salesforce"
            detail = (
                f"Assigned in Salesforce to {words.person(value)}, who has no Cockpit account; "
                "the task stays with its owner here."
            )
        elif field == "WhatId":
            title = "Company not synced"
            detail = "Related in Salesforce to an Account no Cockpit company is linked to."
        else:
            label = words.field(field)
            title = f"{label} not synced"
            detail = (
                f"In Salesforce: {value}. Cockpit has no {label.lower()} for it, so it keeps "
                "its own; Salesforce keeps its value until you change the field."
            )
    elif event.kind == SyncEvent.Kind.CONFLICT:
        found = _SETTLED.match(message)
        if not found:
            return None
        side = "Cockpit's" if found.group("side") == "Cockpit's" else "Salesforce's"
        title = f"Conflict settled: {words.field(found.group('field'))}"
        detail = f"{words.person(found.group('who'))} kept {side} value."
    elif event.kind == SyncEvent.Kind.ERROR and (found := _GAVE_UP.match(message)):
        title = _gave_up_title(int(found.group("attempts")))
        detail = _given_up(_reason_in_words(found.group("reason"), ""))
    elif event.kind == SyncEvent.Kind.RETRY and (found := _RETRIED.match(message)):
        reason = _reason_in_words(found.group("reason"), "")
        detail = f"Attempt {found.group('attempt')} failed: {_sentence(reason)}"
    elif event.kind in (SyncEvent.Kind.ERROR, SyncEvent.Kind.RETRY):
        detail = error_in_words(message)
    elif event.kind in (SyncEvent.Kind.DESYNCED, SyncEvent.Kind.RESYNCED):
        detail = message.split(": ", 1)[-1].capitalize()
    return TimelineItem(event.created_at, event.kind, title, detail)


def _gave_up_title(attempts: int) -> str:
    return f"Gave up after {attempts} attempts"


def _failed_push(entry: OutboxEntry, retry_hint: str) -> TimelineItem:
    """A push that failed for good, from what the sync stored on its entry (the kind and the
    attempts, never read back from the text)."""
    if entry.gave_up_after is None:
        words = sync_error_in_words(entry) or "Salesforce refused the change."
        return TimelineItem(entry.updated_at, "error", "Push failed", words)
    reason = _reason_in_words(reason_of(entry.last_error, entry.gave_up_after), entry.error_kind)
    return TimelineItem(
        entry.updated_at,
        "error",
        _gave_up_title(entry.gave_up_after),
        f"{_given_up(reason)} {retry_hint}",
    )


def _logged_with(item: TimelineItem, failed: TimelineItem, hint: str) -> bool:
    """Whether a log line is the failed push's own (written with it, in the same words): a
    give-up's line says what the failed push says, less where to retry; a refusal's line
    says it word for word under the log's own title."""
    if item.at < failed.at or item.kind != "error":
        return False
    return item.detail in (failed.detail, failed.detail.removesuffix(f" {hint}"))


def task_timeline(task: Task, *, limit: int = 50, read_only: bool = False) -> list[TimelineItem]:
    """What the sync did with this task, newest first, naming people and fields as a CSM
    knows them: its log, each conflict once, failed pushes. `read_only`: the page of a sync
    admin who reads another CSM's task (they retry from their queue, not from the page)."""
    words = _Words()
    items: list[TimelineItem] = []
    for event in SyncEvent.objects.filter(task_id=task.pk).order_by("-created_at", "-id")[:limit]:
        item = _event_in_words(event, words)
        if item is not None:
            items.append(item)
    for conflict in Conflict.objects.filter(task_id=task.pk).order_by("-created_at")[:limit]:
        label = words.field(conflict.salesforce_field)
        ours = words.value(conflict.salesforce_field, conflict.cockpit_value)
        theirs = words.value(conflict.salesforce_field, conflict.salesforce_value)
        kept = "Cockpit's" if conflict.winner == "cockpit" else "Salesforce's"
        if conflict.policy == "late_write":
            detail = (
                f"A slow, older write of Cockpit's ({theirs}) reached Salesforce after a newer "
                f"one; Cockpit's {ours} was written again."
            )
        elif conflict.policy == "unseen":
            detail = (
                f"Salesforce changed it and back to {theirs} before Cockpit read it; Cockpit's "
                f"{ours} was written over it, and Salesforce's change events told later."
            )
        else:
            detail = f"Cockpit had {ours}, Salesforce had {theirs}; {kept} value was kept."
        items.append(
            TimelineItem(conflict.created_at, "conflict", f"Changed on both sides: {label}", detail)
        )
    hint = RETRY_FROM_QUEUE if read_only else RETRY_HERE
    failed = OutboxEntry.objects.filter(task_id=task.pk, state=OutboxEntry.State.FAILED)
    for entry in failed.order_by("-updated_at")[:limit]:
        item = _failed_push(entry, hint)
        # The give-up's log line says the same a moment later: the page says it once, with
        # where to retry.
        items = [i for i in items if not _logged_with(i, item, hint)]
        items.append(item)
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]


def task_deletions(task_ids: Iterable[int]) -> list[str]:
    """How to name tasks that are gone: "“Renewal call” was deleted in Salesforce" when the
    sync deleted it (its log keeps the name), else "A task was deleted"."""
    ids = list(task_ids)
    if not ids:
        return []
    logged = {
        event.task_id: event.message
        for event in SyncEvent.objects.filter(task_id__in=ids, kind=SyncEvent.Kind.DELETED)
    }
    said = []
    for pk in ids:
        found = re.match(r"^'(.*?)' ", logged.get(pk, ""), re.S)
        said.append(
            f"“{found.group(1)}” was deleted in Salesforce" if found else "A task was deleted"
        )
    return said


# What each sortable column sorts by; a task without the value sorts last either way.
_SORT_FIELDS = {
    "name": "name",
    "company": "company__name",
    "type": "type__name",
    "status": "status__order",
    "priority": "priority__order",
    "due": "due_date",
}
WEEK_DAYS = 7


def tasks_sorted(qs: QuerySet[Task], sort: str) -> QuerySet[Task]:
    """The list sorted by a column ("due", "-priority"); ties keep the due date, then the id."""
    field = _SORT_FIELDS.get(sort.removeprefix("-"))
    if field is None:
        return qs
    order = (
        F(field).desc(nulls_last=True) if sort.startswith("-") else F(field).asc(nulls_last=True)
    )
    return qs.order_by(order, F("due_date").asc(nulls_last=True), "id")


def tasks_next_days(qs: QuerySet[Task], *, today: dt.date) -> QuerySet[Task]:
    """Open work due today and in the six days after it (Salesforce's "Next 7 days")."""
    last = today + dt.timedelta(days=WEEK_DAYS - 1)
    return qs.filter(status__is_closed=False, due_date__gte=today, due_date__lte=last).order_by(
        "due_date", "-priority__order", "id"
    )


def tasks_today_and_tomorrow(
    qs: QuerySet[Task], *, today: dt.date, sort: str, limit: int
) -> tuple[list[Task], list[Task]]:
    """The tasks due today and those due tomorrow, the first `limit` of each, in one query.
    Open work first within a day (what is done today sinks to the bottom), unless the CSM
    sorts by a column."""
    tomorrow = today + dt.timedelta(days=1)
    order: list[Any] = [F("status__is_closed").asc(), F("priority__order").desc(), F("id").asc()]
    field = _SORT_FIELDS.get(sort.removeprefix("-"))
    if field is not None:
        column = (
            F(field).desc(nulls_last=True)
            if sort.startswith("-")
            else F(field).asc(nulls_last=True)
        )
        order = [column, F("id").asc()]
    rows = list(
        qs.filter(due_date__in=[today, tomorrow])
        .annotate(row=Window(RowNumber(), partition_by=F("due_date"), order_by=order))
        .filter(row__lte=limit)
        .order_by("due_date", *order)
    )
    return [t for t in rows if t.due_date == today], [t for t in rows if t.due_date == tomorrow]


def task_tab_counts(qs: QuerySet[Task], *, today: dt.date) -> dict[str, int]:
    """How many tasks each tab of the list shows, in one query."""
    tomorrow = today + dt.timedelta(days=1)
    is_open = Q(status__is_closed=False)
    return qs.aggregate(
        today=Count(
            "id",
            filter=(is_open & Q(due_date__lt=today)) | Q(due_date__in=[today, tomorrow]),
        ),
        week=Count(
            "id",
            filter=is_open
            & Q(due_date__gte=today, due_date__lte=today + dt.timedelta(days=WEEK_DAYS - 1)),
        ),
        open=Count("id", filter=is_open),
        overdue=Count("id", filter=is_open & Q(due_date__lt=today)),  # the first tab's pager
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
                f"{record.state}:{record.last_error}:{record.desynced_at}:{record.last_synced_at}:"
                # What Salesforce holds ("In Salesforce: Deferred") shows in the row too.
                + json.dumps(record.agreed_values, sort_keys=True, default=str)
                if record
                else "-"
            )
        )
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
