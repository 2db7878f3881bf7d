"""Open conflicts and the sync log, each row naming its task."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import OuterRef, Q, Subquery

from adminconfig.models import FieldMapping, UserMapping
from tasks.models import Company

from ..models import Conflict, SyncEvent
from ..payload import COMPANY, OWNER
from ..selectors import sync_figures
from .links import TaskLink, task_link, task_name_of, task_url_name


@dataclass
class ConflictRow:
    conflict: Conflict
    task: TaskLink
    label: str  # the field as Cockpit calls it
    cockpit_text: str = ""  # the values as a person reads them (a username, not a user id)
    salesforce_text: str = ""


def _field_label(conflict: Conflict) -> str:
    """The field as Cockpit calls it ("due date", "effort hours"), from the primary
    connection's mapping read with the conflict (`mapped_to`)."""
    fixed = {"Status": "status", "Priority": "priority", OWNER: "owner", COMPANY: "company"}
    name = conflict.salesforce_field
    label = fixed.get(name) or getattr(conflict, "mapped_to", None) or name
    return label.removeprefix("custom:").replace("_", " ")


def _values_in_words(rows: Sequence[Conflict]) -> dict[tuple[str, str, Any], str]:
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
        names = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "username"))
        for c in owners:
            cockpit_id = c.cockpit_value if isinstance(c.cockpit_value, int) else None
            words[(OWNER, "cockpit", c.cockpit_value)] = (
                names.get(cockpit_id, "") if cockpit_id else ""
            )
            sf_name = mapped.get(c.salesforce_value) if c.salesforce_value else None
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
    # Each with its task's name and the Cockpit field it is mapped to, in the one query.
    mapped_to = FieldMapping.objects.filter(
        connection__is_primary=True, salesforce_field=OuterRef("salesforce_field")
    ).values("cockpit_field")[:1]
    rows = list(
        Conflict.objects.filter(resolved_at=None).annotate(
            task_name=task_name_of(), mapped_to=Subquery(mapped_to)
        )[:limit]
    )
    words = _values_in_words(rows)
    url_name = task_url_name()
    return [
        ConflictRow(
            c,
            task_link(c.task_id, c.task_name, url_name),
            _field_label(c),
            _in_words(words, c.salesforce_field, "cockpit", c.cockpit_value),
            _in_words(words, c.salesforce_field, "salesforce", c.salesforce_value),
        )
        for c in rows
    ]


def conflicts_open_count() -> int:
    return int(sync_figures()["conflicts_open"])


@dataclass
class EventRow:
    event: SyncEvent
    task: TaskLink | None


def log_events(*, limit: int = 30) -> list[EventRow]:
    """The newest lines of the log, each with its task's name read with it."""
    events = list(SyncEvent.objects.annotate(task_name=task_name_of())[:limit])
    url_name = task_url_name()
    return [
        EventRow(e, task_link(e.task_id, e.task_name, url_name) if e.task_id else None)
        for e in events
    ]
