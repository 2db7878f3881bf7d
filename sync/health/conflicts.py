"""Open conflicts and the sync log, each row naming its task."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q

from adminconfig.models import UserMapping
from tasks.models import Company

from ..mapping_specs import mapping_spec_load
from ..models import Conflict, SyncEvent
from ..payload import COMPANY, OWNER, field_labels
from ..selectors import primary_connection
from .links import TaskLink, task_links


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
    connection = primary_connection()
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
