"""The getting-started checklist (issue 10, item 4), the same steps `make run` prints."""

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef
from django.urls import reverse

from adminconfig.models import SalesforceConnection, SyncSettings
from tasks.models import Task

from ..selectors import primary_connection, sync_figures, sync_settings
from .progress import first_import

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
    """Active users who own tasks but have no Salesforce user: their tasks cannot be pushed.
    Users first, each asked whether they own a task (an index seek): the distinct owners of
    every task read the 100,000 tasks of issue 19's scale (25 ms on SQLite)."""
    return list(
        User.objects.filter(is_active=True, salesforce_user=None)
        .filter(Exists(Task.objects.filter(owner=OuterRef("pk"))))
        .order_by("username")
        .values_list("username", flat=True)
    )


def getting_started() -> list[Step]:
    """Connection tested → users matched → switches on → first import, each with its state and
    where to do it (the same steps `make run` prints)."""
    connection = primary_connection()
    settings = sync_settings()
    return [
        _connection_step(connection),
        _users_step(connection),
        _switches_step(settings),
        _import_step(),
    ]


def _connection_step(connection: SalesforceConnection | None) -> Step:
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
    return Step(1, STEP_TITLES[0], state, detail.strip(), url, "Open the connection")


def _users_step(connection: SalesforceConnection | None) -> Step:
    """Done once some user is matched and no active owner of tasks is left without one."""
    blocking = users_blocking_pushes()
    mapped = sync_figures()["users_mapped"] > 0
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
    return Step(2, STEP_TITLES[1], state, detail, url, "Match users")


def _switches_step(settings: SyncSettings) -> Step:
    url = reverse("admin:adminconfig_syncsettings_changelist")
    if settings.auto_sync and settings.bidirectional_sync:
        state, detail = "done", "Cockpit pushes its changes and pulls Salesforce's."
    elif settings.auto_sync:
        state = "todo"
        detail = "Auto Sync is on (pushing). Salesforce tasks are pulled and imported only "
        detail += "once Bi-directional Sync is on too."
    else:
        state, detail = "todo", "Sync is off."
    return Step(3, STEP_TITLES[2], state, detail, url, "Open Sync settings")


def _import_step() -> Step:
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
    return Step(4, STEP_TITLES[3], state, detail, url, "Watch it on Sync health")


def getting_started_done(steps: list[Step] | None = None) -> bool:
    return all(step.state == "done" for step in steps or getting_started())
