"""Reads for the sync health page, an admin's control room: failed pushes grouped by kind, open
conflicts, the log, the day's activity per hour, the API budget, the running re-sync or first
import, and the getting-started checklist. Writes live in sync/resolve.py and sync/resync.py."""

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from adminconfig.models import ResyncRun, SalesforceConnection, UserMapping
from tasks.models import Company, Task

from .config import mapping_spec_load
from .models import Conflict, OutboxEntry, PullState, ResyncWatch, SyncEvent
from .payload import COMPANY, OWNER, field_labels
from .selectors import sync_settings
from .usage import API_USAGE_CEILING, cockpit_calls_today

# ---- tasks, named and linked ---------------------------------------------------------------


def task_url_name() -> str:
    """The task page when the cockpit has one (issue 10 adds it), else the edit form."""
    try:
        reverse("task-detail", args=[1])
    except NoReverseMatch:
        return "task-edit"
    return "task-detail"


@dataclass(frozen=True)
class TaskLink:
    id: int
    name: str  # empty when the task is gone
    url: str

    @property
    def label(self) -> str:
        return self.name or f"Task {self.id} (deleted)"


def task_links(task_ids: Iterable[int | None]) -> dict[int, TaskLink]:
    """Each task by id with its name and page, in one query whatever the number."""
    ids = {i for i in task_ids if i is not None}
    names = dict(Task.objects.filter(pk__in=ids).values_list("pk", "name"))
    url_name = task_url_name()
    return {
        i: TaskLink(i, names.get(i, ""), reverse(url_name, args=[i]) if i in names else "")
        for i in ids
    }


# ---- failed pushes, grouped by kind --------------------------------------------------------

GAVE_UP = re.compile(r"\s*\(gave up after \d+ attempts\)$")
ERROR_CODE = re.compile(r"^([A-Z][A-Z0-9_]{2,}):")
KIND = re.compile(r"^[A-Z][A-Z0-9_]{1,79}$")
OWNER_NOT_MAPPED = "OWNER_NOT_MAPPED"
CONNECTION = "CONNECTION"
OTHER = "OTHER"
CONNECTION_WORDS = (
    "connection",
    "timed out",
    "timeout",
    "max retries",
    "temporarily unavailable",
    "name or service not known",
)

# What an admin reads on each card: a title in words and what to do about it.
ERROR_KINDS: dict[str, tuple[str, str]] = {
    OWNER_NOT_MAPPED: (
        "The task's owner has no Salesforce user",
        "Match users by email on the connection page (or set the user mapping), then Retry.",
    ),
    CONNECTION: (
        "Salesforce could not be reached",
        "Check the connection (Test connection), then Retry.",
    ),
    "REQUIRED_FIELD_MISSING": (
        "A field Salesforce requires is empty",
        "Map the field or fill it in on the tasks, then Retry.",
    ),
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (
        "A Salesforce validation rule refused the task",
        "The message names the rule; change the tasks or the rule, then Retry.",
    ),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": (
        "A picklist value Salesforce does not accept",
        "Check the Status and Priority mappings on the connection page, then Retry.",
    ),
    "STRING_TOO_LONG": (
        "A value is too long for its Salesforce field",
        "Shorten the values or map a longer field, then Retry.",
    ),
    "INSUFFICIENT_ACCESS_OR_READONLY": (
        "The integration user may not write these tasks",
        "Give the connected app's user access in Salesforce, then Retry.",
    ),
    "INSUFFICIENT_ACCESS": (
        "The integration user may not write these tasks",
        "Give the connected app's user access in Salesforce, then Retry.",
    ),
    "INVALID_CROSS_REFERENCE_KEY": (
        "An owner or account Salesforce does not know",
        "Check the user mapping and the companies' Salesforce Accounts, then Retry.",
    ),
    "ENTITY_IS_DELETED": (
        "The Salesforce task was deleted",
        "Skip these: the task is gone in Salesforce.",
    ),
    "INVALID_FIELD_FOR_INSERT_UPDATE": (
        "A mapped field Salesforce does not let Cockpit write",
        "Map the field from Salesforce only, then Retry.",
    ),
    "REQUEST_LIMIT_EXCEEDED": (
        "Salesforce's daily API limit was reached",
        "Wait for the org's usage to fall, then Retry.",
    ),
    OTHER: ("Other errors", "Read the message; Retry once the cause is fixed."),
}


def error_kind(message: str) -> str:
    """The kind of a failed push, from its recorded reason: Salesforce's error code where the
    reason starts with one ("STRING_TOO_LONG: ..."), else Cockpit's own classification."""
    text = GAVE_UP.sub("", message or "").strip()
    found = ERROR_CODE.match(text)
    if found:
        return found.group(1)
    if "has no Salesforce user" in text:
        return OWNER_NOT_MAPPED
    lowered = text.lower()
    if any(word in lowered for word in CONNECTION_WORDS):
        return CONNECTION
    return OTHER


def error_kind_title(kind: str) -> tuple[str, str]:
    return ERROR_KINDS.get(kind) or (kind.replace("_", " ").capitalize(), ERROR_KINDS[OTHER][1])


@dataclass
class ErrorGroup:
    kind: str
    title: str
    hint: str
    count: int
    message: str  # the newest reason, as Salesforce or Cockpit worded it
    up_to: int  # the newest entry counted: the group's actions stop there
    tasks: list[TaskLink] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.tasks)


def failed_entries(*, kind: str, up_to: int | None = None) -> list[OutboxEntry]:
    """The failed entries of one kind (up to an entry id: what the admin saw on the card)."""
    rows = OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED)
    if up_to is not None:
        rows = rows.filter(pk__lte=up_to)
    return [e for e in rows.order_by("id") if error_kind(e.last_error) == kind]


def error_groups(*, shown_tasks: int = 8) -> list[ErrorGroup]:
    """Failed pushes grouped by kind, the biggest group first, each with a few tasks linked."""
    groups: dict[str, ErrorGroup] = {}
    task_ids: dict[str, list[int]] = {}
    rows = (
        OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED)
        .order_by("-id")
        .values_list("id", "task_id", "last_error")
    )
    for entry_id, task_id, error in rows.iterator():
        kind = error_kind(error)
        group = groups.get(kind)
        if group is None:
            title, hint = error_kind_title(kind)
            group = groups[kind] = ErrorGroup(kind, title, hint, 0, error, entry_id)
            task_ids[kind] = []
        group.count += 1
        if len(task_ids[kind]) < shown_tasks and task_id not in task_ids[kind]:
            task_ids[kind].append(task_id)
    links = task_links(i for ids in task_ids.values() for i in ids)
    for kind, group in groups.items():
        group.tasks = [links[i] for i in task_ids[kind]]
    return sorted(groups.values(), key=lambda g: (-g.count, g.kind))


# ---- conflicts and the log -----------------------------------------------------------------


@dataclass
class ConflictRow:
    conflict: Conflict
    task: TaskLink
    label: str  # the field as Cockpit calls it
    cockpit_text: str = ""  # the values as a person reads them (a username, not a user id)
    salesforce_text: str = ""


def _field_label(salesforce_field: str, labels: dict[str, str]) -> str:
    return labels.get(salesforce_field, salesforce_field)


def field_labels_primary() -> dict[str, str]:
    """Salesforce field → the Cockpit field's name, for the primary connection's mapping."""
    connection = SalesforceConnection.objects.filter(is_primary=True).first()
    if connection is None:
        return {}
    labels = field_labels(mapping_spec_load(connection))
    return {name: label.removeprefix("custom:").replace("_", " ") for name, label in labels.items()}


def _values_in_words(rows: list[Conflict]) -> dict[tuple[str, str, Any], str]:
    """Owner and company values by name: Cockpit's side holds ids (a user, a company),
    Salesforce's a User or Account Id. Two queries at most, only for such conflicts."""
    owners = [c for c in rows if c.salesforce_field == OWNER]
    companies = [c for c in rows if c.salesforce_field == COMPANY]
    words: dict[tuple[str, str, Any], str] = {}
    if owners:
        sf_users = {c.salesforce_value for c in owners if c.salesforce_value}
        mapped = dict(
            UserMapping.objects.filter(salesforce_user_id__in=sf_users).values_list(
                "salesforce_user_id", "user__username"
            )
        )
        user_ids = {c.cockpit_value for c in owners if isinstance(c.cockpit_value, int)}
        names = dict(
            Task._meta.get_field("owner")
            .related_model.objects.filter(pk__in=user_ids)
            .values_list("pk", "username")
        )
        for c in owners:
            words[(OWNER, "cockpit", c.cockpit_value)] = names.get(c.cockpit_value, "")
            sf_name = mapped.get(c.salesforce_value)
            words[(OWNER, "salesforce", c.salesforce_value)] = (
                f"{sf_name} ({c.salesforce_value})" if sf_name else ""
            )
    if companies:
        ids = {c.cockpit_value for c in companies if isinstance(c.cockpit_value, int)}
        accounts = {c.salesforce_value for c in companies if c.salesforce_value}
        found = Company.objects.filter(Q(pk__in=ids) | Q(salesforce_account_id__in=accounts))
        for pk, name, account in found.values_list("pk", "name", "salesforce_account_id"):
            words[(COMPANY, "cockpit", pk)] = name
            if account:
                words[(COMPANY, "salesforce", account)] = f"{name} ({account})"
    return words


def _in_words(words: dict[tuple[str, str, Any], str], field: str, side: str, value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    try:
        return words.get((field, side, value)) or str(value)
    except TypeError:  # a JSON list or object: not a key, shown as it is
        return str(value)


def conflicts_open(*, limit: int = 20) -> list[ConflictRow]:
    """Conflicts no admin has settled yet, newest first, with their tasks linked."""
    rows = list(Conflict.objects.filter(resolved_at=None)[:limit])
    links = task_links(c.task_id for c in rows)
    labels = field_labels_primary() if rows else {}
    words = _values_in_words(rows)
    return [
        ConflictRow(
            c,
            links[c.task_id],
            _field_label(c.salesforce_field, labels),
            _in_words(words, c.salesforce_field, "cockpit", c.cockpit_value),
            _in_words(words, c.salesforce_field, "salesforce", c.salesforce_value),
        )
        for c in rows
    ]


def conflicts_open_count() -> int:
    return Conflict.objects.filter(resolved_at=None).count()


@dataclass
class EventRow:
    event: SyncEvent
    task: TaskLink | None


def log_events(*, limit: int = 30) -> list[EventRow]:
    events = list(SyncEvent.objects.all()[:limit])
    links = task_links(e.task_id for e in events)
    return [EventRow(e, links.get(e.task_id) if e.task_id else None) for e in events]


# ---- the day's activity, per hour -----------------------------------------------------------

CHART_SERIES = (
    ("pushed", "Pushes", SyncEvent.Kind.PUSHED),
    ("pulled", "Pulls", SyncEvent.Kind.PULLED),
    ("skipped", "Skips", SyncEvent.Kind.SKIPPED),
    ("failed", "Failures", SyncEvent.Kind.ERROR),
)


@dataclass
class HourCounts:
    start: dt.datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def activity_by_hour(*, now: dt.datetime | None = None, hours: int = 24) -> list[HourCounts]:
    """Pushes, pulls, skips and failures per hour over the last `hours` (this hour last), in
    one grouped query."""
    now = now or timezone.now()
    end = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - dt.timedelta(hours=hours)
    by_kind = {kind: key for key, _, kind in CHART_SERIES}
    rows = (
        SyncEvent.objects.filter(created_at__gte=start, created_at__lt=end, kind__in=by_kind)
        .annotate(hour=TruncHour("created_at", tzinfo=dt.UTC))
        .values("hour", "kind")
        .annotate(n=Count("id"))
    )
    buckets = [
        HourCounts(start + dt.timedelta(hours=i), dict.fromkeys(by_kind.values(), 0))
        for i in range(hours)
    ]
    for row in rows:
        index = int((row["hour"] - start).total_seconds() // 3600)
        if 0 <= index < hours:
            buckets[index].counts[by_kind[row["kind"]]] += row["n"]
    return buckets


# ---- the API budget ------------------------------------------------------------------------


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
    connection = SalesforceConnection.objects.filter(is_primary=True).first()
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


# ---- the running re-sync or first import ---------------------------------------------------

STALL_MINUTES = 5


@dataclass
class RunProgress:
    kind: str  # "resync" or "import"
    title: str
    done: int
    failed: int
    total: int | None  # None: not known (the first import counts as it goes)
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    stopped_reason: str = ""
    waiting_reason: str = ""
    stalled_reason: str = ""  # running, but nothing moved for longer than it should

    @property
    def running(self) -> bool:
        return self.finished_at is None and not self.waiting_reason

    @property
    def percent(self) -> int | None:
        if self.total is None:
            return None
        if not self.total:
            return 100
        return min(100, round(100 * (self.done + self.failed) / self.total))


def resync_progress() -> RunProgress | None:
    """The newest mapping re-sync, running or finished (stopped ones with their reason)."""
    run = ResyncRun.objects.filter(connection__is_primary=True).first()
    if run is None:
        return None
    watch = ResyncWatch.objects.filter(run_id=run.pk).first()
    return RunProgress(
        kind="resync",
        title=f"Re-sync after mapping changes ({run.reason})",
        done=run.done,
        failed=run.failed,
        total=run.total,
        started_at=run.started_at,
        finished_at=run.finished_at,
        stopped_reason=watch.stopped_reason if watch else "",
    )


def first_import() -> RunProgress | None:
    """The first import of Salesforce tasks: waiting for the switches, running, or done."""
    settings = sync_settings()
    if settings.first_enabled_at is None:
        return None
    state = PullState.objects.filter(pk=1).first()
    pulled = state is not None and state.last_pull_at is not None
    imported = SyncEvent.objects.filter(
        kind=SyncEvent.Kind.PULLED,
        created_at__gte=settings.first_enabled_at,
        message__endswith="created from Salesforce",
    ).count()
    waiting = stalled = ""
    if not settings.bidirectional_sync and not pulled:
        waiting = "It starts when Bi-directional Sync is switched on."
    elif not pulled and timezone.now() - settings.updated_at > dt.timedelta(minutes=STALL_MINUTES):
        # The first pull is due at the next beat tick (10 s): minutes without one mean no
        # worker or no beat is running.
        stalled = (
            f"No pull has run in the {STALL_MINUTES} minutes since the switches changed: are "
            "the Celery worker and beat running?"
        )
    return RunProgress(
        kind="import",
        title=f"First import (Salesforce tasks of the last {settings.initial_import_hours} h)",
        done=imported,
        failed=0,
        total=imported if pulled else None,
        started_at=settings.first_enabled_at,
        finished_at=state.last_pull_at if pulled and state else None,
        stopped_reason=(state.last_error if pulled and state else ""),
        waiting_reason=waiting,
        stalled_reason=stalled,
    )


def runs_in_progress() -> list[RunProgress]:
    """What the progress panel shows: the first import until it is done, the newest re-sync."""
    runs = []
    imported = first_import()
    if imported is not None and imported.finished_at is None:
        runs.append(imported)
    resync = resync_progress()
    if resync is not None:
        runs.append(resync)
    return runs


# ---- getting started -------------------------------------------------------------------------

STEP_TITLES = (
    "Test the connection",
    "Match users by email",
    "Switch on Auto Sync and Bi-directional Sync",
    "First import",
)


@dataclass
class Step:
    number: int
    title: str
    state: str  # "done", "todo", "running" or "problem"
    detail: str
    url: str
    action: str  # the link's words

    @property
    def state_label(self) -> str:
        return {"done": "Done", "todo": "To do", "running": "Running", "problem": "Problem"}[
            self.state
        ]


def users_blocking_pushes() -> list[str]:
    """Active users who own tasks but have no Salesforce user: their tasks cannot be pushed."""
    return list(
        Task.objects.filter(owner__is_active=True, owner__salesforce_user=None)
        .values_list("owner__username", flat=True)
        .distinct()
        .order_by("owner__username")
    )


def getting_started() -> list[Step]:
    """Connection tested → users matched → switches on → first import, each with its state and
    where to do it (the same steps `make run` prints)."""
    connection = SalesforceConnection.objects.filter(is_primary=True).first()
    settings = sync_settings()
    steps = []

    if connection is None:
        state, detail = "todo", "Add a Salesforce connection and make it primary."
        url = reverse("admin:adminconfig_salesforceconnection_add")
    else:
        url = reverse("admin:adminconfig_salesforceconnection_change", args=[connection.pk])
        if connection.state == SalesforceConnection.State.CONNECTED:
            state, detail = "done", f"{connection.name} is connected."
        elif connection.state == SalesforceConnection.State.NEW:
            state, detail = "todo", f"Open {connection.name} and press Test connection."
        else:
            state = "problem"
            detail = f"{connection.name}: {connection.get_state_display()}. {connection.last_error}"
    steps.append(Step(1, STEP_TITLES[0], state, detail.strip(), url, "Open the connection"))

    blocking = users_blocking_pushes()
    mapped = UserMapping.objects.exists()
    if blocking:
        shown = ", ".join(blocking[:5]) + (
            f" and {len(blocking) - 5} more" if len(blocking) > 5 else ""
        )
        state = "todo" if not mapped else "problem"
        detail = f"Without a Salesforce user their tasks cannot be pushed: {shown}."
    elif mapped:
        state, detail = "done", "Every CSM with tasks has a Salesforce user."
    else:
        state, detail = "todo", "Nobody has a Salesforce user yet."
    url = (
        reverse("admin:adminconfig_salesforceconnection_change", args=[connection.pk])
        if connection
        else reverse("admin:adminconfig_usermapping_changelist")
    )
    steps.append(Step(2, STEP_TITLES[1], state, detail, url, "Match users"))

    url = reverse("admin:adminconfig_syncsettings_changelist")
    if settings.auto_sync and settings.bidirectional_sync:
        state, detail = "done", "Cockpit pushes its changes and pulls Salesforce's."
    elif settings.auto_sync:
        state = "todo"
        detail = "Auto Sync is on (pushing). Salesforce tasks are pulled and imported only "
        detail += "once Bi-directional Sync is on too."
    else:
        state, detail = "todo", "Sync is off."
    steps.append(Step(3, STEP_TITLES[2], state, detail, url, "Open Sync settings"))

    imported = first_import()
    url = reverse("sync-health") + "#progress"
    if imported is None or imported.waiting_reason:
        state, detail = "todo", "Starts when both switches are on."
    elif imported.finished_at is None and imported.stalled_reason:
        state, detail = "problem", imported.stalled_reason
    elif imported.finished_at is None:
        state, detail = "running", "Importing the Salesforce tasks of mapped owners…"
    elif imported.stopped_reason:
        state, detail = "problem", f"The last pull failed: {imported.stopped_reason}"
    else:
        state = "done"
        plural = "s" if imported.done != 1 else ""
        detail = f"{imported.done:,} Salesforce task{plural} imported since sync was switched on."
    steps.append(Step(4, STEP_TITLES[3], state, detail, url, "Watch it on Sync health"))
    return steps


def getting_started_done(steps: list[Step] | None = None) -> bool:
    return all(step.state == "done" for step in steps or getting_started())


# ---- the page's figures ----------------------------------------------------------------------


def outbox_counts() -> dict[str, Any]:
    return OutboxEntry.objects.aggregate(
        pending=Count("id", filter=Q(state=OutboxEntry.State.PENDING)),
        in_flight=Count("id", filter=Q(state=OutboxEntry.State.IN_FLIGHT)),
        failed=Count("id", filter=Q(state=OutboxEntry.State.FAILED)),
    )
