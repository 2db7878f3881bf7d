"""A task as the merge sees it, shared by both directions.

Cockpit's values are read into plain JSON values keyed by the Salesforce field they travel to
(`task_values`); `sync_fields` gives each field its translation both ways (mapping rules, the
picklist mappings, the user mapping for OwnerId, the company's Account for WhatId);
`task_changes` turns what the merge takes from Salesforce back into a `task_update` call.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User

from adminconfig.models import UserMapping
from cockpit.page_rows import page_table
from tasks.models import Company, Priority, Status, Task, TaskType
from tasks.services import TaskChanges

from .mapping import MappingSpec, value_in, value_out
from .merge import SKIP, SyncField

OWNER = "OwnerId"
COMPANY = "WhatId"


@dataclass
class Lookups:
    """The id translations one batch needs, loaded once for the batch."""

    owners_out: dict[int, str]  # Cockpit user id → Salesforce User Id
    owners_in: dict[str, int]
    accounts_out: dict[int, str]  # Cockpit company id → Salesforce Account Id
    accounts_in: dict[str, int]


def lookups_load(*, companies: set[int] | None = None, accounts: set[str] | None = None) -> Lookups:
    together = page_table("user_mappings")  # a page's: read with the mapping
    owners_in = (
        {m.salesforce_user_id: m.user_id for m in together}
        if together is not None
        else dict(UserMapping.objects.values_list("salesforce_user_id", "user_id"))
    )
    rows = Company.objects.exclude(salesforce_account_id=None)
    if companies is not None or accounts is not None:
        rows = rows.filter(pk__in=companies or set()) | rows.filter(
            salesforce_account_id__in=accounts or set()
        )
    pairs = [
        (pk, account) for pk, account in rows.values_list("pk", "salesforce_account_id") if account
    ]
    return Lookups(
        owners_out={user: sf for sf, user in owners_in.items()},
        owners_in=owners_in,
        accounts_out=dict(pairs),
        accounts_in={account: pk for pk, account in pairs},
    )


def _plain(value: Any) -> Any:
    """A Cockpit value as JSON: dates and datetimes as ISO text."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def task_values(task: Task, spec: MappingSpec) -> dict[str, Any]:
    """Cockpit's side of every synced field, by Salesforce field."""
    standard = {
        "name": task.name,
        "details": task.details,
        "due_date": task.due_date,
        "completed_at": task.completed_at,
        "created_at": task.created_at,
    }
    custom = task.custom_fields or {}
    values: dict[str, Any] = {}
    for rule in spec.fields:
        if rule.is_custom:
            value = custom.get(rule.cockpit_field.removeprefix("custom:"))
        else:
            value = standard.get(rule.cockpit_field)
        values[rule.salesforce_field] = _plain(value)
    values[spec.status.salesforce_field] = task.status.value
    values[spec.priority.salesforce_field] = task.priority.value
    if spec.type is not None:
        values[spec.type.salesforce_field] = task.type.name if task.type else None
    values[OWNER] = task.owner_id
    values[COMPANY] = task.company_id
    return values


def salesforce_fields_of(spec: MappingSpec, cockpit_fields: list[str]) -> frozenset[str]:
    """The Salesforce fields that Cockpit fields ('owner', 'status', 'name', 'custom:<key>')
    travel to under this mapping, as `task_values` keys them."""
    by_cockpit = {
        **{name: picklist.salesforce_field for name, picklist in spec.picklists},
        "owner": OWNER,
        "company": COMPANY,
    }
    names = {by_cockpit[name] for name in cockpit_fields if name in by_cockpit}
    names.update(r.salesforce_field for r in spec.fields if r.cockpit_field in cockpit_fields)
    return frozenset(names)


def sync_fields(spec: MappingSpec, lookups: Lookups) -> list[SyncField]:
    fields = []
    for rule in spec.fields:

        def out(value: Any, kind: str = rule.kind) -> Any:
            return value_out(value, kind)

        def back(value: Any, rule: Any = rule) -> Any:
            return _plain(value_in(value, rule))

        fields.append(SyncField(rule.salesforce_field, rule.goes_out, rule.comes_in, out, back))
    for _, picklist in spec.picklists:

        def back_picklist(value: Any, picklist: Any = picklist) -> Any:
            if value is None and picklist.nullable:
                return None  # no Type in Salesforce: no type in Cockpit
            found = picklist.back(value) if value is not None else None
            return SKIP if found is None else found

        fields.append(SyncField(picklist.salesforce_field, out=picklist.out, back=back_picklist))
    fields.append(
        SyncField(
            OWNER,
            out=lambda user: lookups.owners_out.get(user),
            back=lambda sf_user: lookups.owners_in.get(sf_user, SKIP),
        )
    )
    fields.append(
        SyncField(
            COMPANY,
            out=lambda company: lookups.accounts_out.get(company) if company else None,
            back=lambda what: lookups.accounts_in.get(what, SKIP) if what else None,
        )
    )
    return fields


def create_payload(
    fields: list[SyncField], values: dict[str, Any]
) -> tuple[dict[str, Any] | None, str]:
    """Everything a first push sends, or (None, reason) when the task cannot be pushed."""
    payload = {f.salesforce: f.out(values.get(f.salesforce)) for f in fields if f.goes_out}
    if not payload.get(OWNER):
        return None, "owner"
    return payload, ""


def owner_missing_reason(task: Task) -> str:
    return (
        f"{task.owner.get_username()} has no Salesforce user: map it in "
        "Salesforce sync configuration > User mappings, then retry."
    )


@dataclass
class Picklists:
    """The Status and Priority rows by value, loaded once for a batch."""

    statuses: dict[str, Status]
    priorities: dict[str, Priority]
    types: dict[str, TaskType]


def picklists_load() -> Picklists:
    return Picklists(
        statuses={s.value: s for s in Status.objects.all()},
        priorities={p.value: p for p in Priority.objects.all()},
        types={t.name: t for t in TaskType.objects.all()},
    )


def task_changes(
    to_cockpit: dict[str, Any],
    spec: MappingSpec,
    picklists: Picklists,
    users: dict[int, User] | None = None,
    companies: dict[int, Company] | None = None,
) -> TaskChanges:
    """`task_update` keyword arguments for values the merge takes from Salesforce; `users` and
    `companies` loaded for a whole batch spare a query per task."""
    by_field = {rule.salesforce_field: rule for rule in spec.fields}
    changes: TaskChanges = {}
    custom: dict[str, Any] = {}
    for name, value in to_cockpit.items():
        if name == spec.status.salesforce_field:
            changes["status"] = picklists.statuses[value]
        elif name == spec.priority.salesforce_field:
            changes["priority"] = picklists.priorities[value]
        elif spec.type is not None and name == spec.type.salesforce_field:
            changes["type"] = picklists.types[value] if value else None
        elif name == OWNER:
            found = (users or {}).get(value)
            changes["owner"] = found if found is not None else User.objects.get(pk=value)
        elif name == COMPANY:
            company = (companies or {}).get(value) if value else None
            if value and company is None:
                company = Company.objects.get(pk=value)
            changes["company"] = company
        elif name in by_field:
            rule = by_field[name]
            if rule.is_custom:
                custom[rule.cockpit_field.removeprefix("custom:")] = value
            elif rule.cockpit_field == "due_date":
                changes["due_date"] = dt.date.fromisoformat(value) if value else None
            elif rule.cockpit_field == "name":
                changes["name"] = value or ""
            elif rule.cockpit_field == "details":
                changes["details"] = value or ""
            # created_at / completed_at are Cockpit's own: they never come in.
    if "name" in changes:
        changes["name"] = (changes["name"] or "(no subject)")[:255]
    if custom:
        changes["custom_fields"] = custom
    return changes


def field_labels(spec: MappingSpec) -> dict[str, str]:
    """Salesforce field → the Cockpit field a person knows it by, for messages."""
    labels = {rule.salesforce_field: rule.cockpit_field for rule in spec.fields}
    labels.update(
        {
            spec.status.salesforce_field: "status",
            spec.priority.salesforce_field: "priority",
            OWNER: "owner",
            COMPANY: "company",
        }
    )
    if spec.type is not None:
        labels[spec.type.salesforce_field] = "type"
    return labels
