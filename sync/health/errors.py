"""Failed pushes grouped by kind (HubSpot's error cards): the titles of the kinds, the groups.
The kind is stored on each entry where its failure was met (sync/failures.py)."""

import re
from dataclasses import dataclass, field

from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import RowNumber

from ..failures import CONNECTION, OTHER, OWNER_NOT_MAPPED, reason_of
from ..models import OutboxEntry
from .links import TaskLink, task_links

KIND = re.compile(r"^[A-Z][A-Z0-9_]{1,79}$")
RESTRICTED_PICKLIST = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
# Salesforce's wording: "Status: bad value for restricted picklist field: Bogus".
BAD_PICKLIST_VALUE = re.compile(
    r"\b(Status|Priority): bad value for restricted picklist field: (.+)$"
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


def error_kind_title(kind: str) -> tuple[str, str]:
    return ERROR_KINDS.get(kind) or (kind.replace("_", " ").capitalize(), ERROR_KINDS[OTHER][1])


def picklist_error_hint(reason: str) -> str | None:
    """Where a value Salesforce refused came from, when the primary connection's default
    Status/Priority holds it: Cockpit sends the default for every value without a mapping, so
    the fix is the default, not the mappings the generic hint points at."""
    from adminconfig.services import connection_primary

    found = BAD_PICKLIST_VALUE.search(reason.strip())
    connection = connection_primary() if found else None
    if found is None or connection is None:
        return None
    field, value = found.groups()
    default = connection.default_status if field == "Status" else connection.default_priority
    if value != default:
        return None
    in_mappings = any(
        value in values
        for values in connection.picklist_mappings.filter(picklist=field.lower()).values_list(
            "salesforce_values", flat=True
        )
    )
    mapped = f" and a {field} mapping" if in_mappings else ""
    return (
        f"“{value}” is the connection's default {field}{mapped}: Cockpit sends it for every "
        f"{field.lower()} without a mapping, and the org has no such {field}. Choose one of the "
        f"org's values as the default {field} on the connection page, then Retry."
    )


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


def _failed() -> QuerySet[OutboxEntry]:
    return OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED)


def failed_entries(*, kind: str, up_to: int | None = None) -> list[OutboxEntry]:
    """The failed entries of one kind (up to an entry id: what the admin saw on the card)."""
    rows = _failed().filter(error_kind=kind)
    if up_to is not None:
        rows = rows.filter(pk__lte=up_to)
    return list(rows.order_by("id"))


def error_groups(*, shown_tasks: int = 8) -> list[ErrorGroup]:
    """Failed pushes grouped by kind, the biggest group first, each with the tasks of its
    newest few entries linked: one query for the groups, one for the tasks' names."""
    newest = (
        _failed()
        .annotate(
            count=Window(Count("id"), partition_by=[F("error_kind")]),
            rank=Window(RowNumber(), partition_by=[F("error_kind")], order_by=F("id").desc()),
        )
        .filter(rank__lte=shown_tasks)
        .order_by("error_kind", "rank")
        .values_list("id", "error_kind", "task_id", "last_error", "gave_up_after", "count")
    )
    groups: dict[str, ErrorGroup] = {}
    task_ids: dict[str, list[int]] = {}
    gave_up_after: int | None = None
    for entry_id, kind, task_id, message, gave_up, count in newest:
        group = groups.get(kind)
        if group is None:  # its newest entry: the reason shown, where the actions stop
            title, hint = error_kind_title(kind)
            group = groups[kind] = ErrorGroup(kind, title, hint, count, message, entry_id)
            task_ids[kind] = []
            if kind == RESTRICTED_PICKLIST:
                gave_up_after = gave_up
        if task_id not in task_ids[kind]:
            task_ids[kind].append(task_id)
    links = task_links(i for ids in task_ids.values() for i in ids)
    for kind, group in groups.items():
        group.tasks = [links[i] for i in task_ids[kind]]
    if RESTRICTED_PICKLIST in groups:
        group = groups[RESTRICTED_PICKLIST]
        reason = reason_of(group.message, gave_up_after)
        group.hint = picklist_error_hint(reason) or group.hint
    return sorted(groups.values(), key=lambda g: (-g.count, g.kind))
