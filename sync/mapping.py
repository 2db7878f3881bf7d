"""Pure translation between Cockpit task values and Salesforce Task fields (DESIGN 3, rules 5-6).

No database, no network: the engine loads a MappingSpec once (sync/mapping_specs.py), and
sync/payload.py::sync_fields turns each rule into the SyncField the merge calls both ways:
`value_out`/`value_in` for a field (its kind, tasks/field_kinds.py, does the converting),
`PicklistRule.out`/`back` for a picklist. Cockpit fields are named as the mapping names them:
'name', 'details', 'due_date', 'status', 'priority', 'custom:<key>', ...
"""

from dataclasses import dataclass
from typing import Any

from tasks.field_kinds import FieldKind, field_kind
from tasks.field_kinds import sf_datetime_format as sf_datetime_format
from tasks.field_kinds import sf_datetime_parse as sf_datetime_parse

CUSTOM_PREFIX = "custom:"


@dataclass(frozen=True)
class FieldRule:
    cockpit_field: str
    salesforce_field: str
    kind: str  # a name in tasks.field_kinds.FIELD_KINDS
    goes_out: bool = True
    comes_in: bool = True

    @property
    def is_custom(self) -> bool:
        return self.cockpit_field.startswith(CUSTOM_PREFIX)

    @property
    def field_kind(self) -> FieldKind:
        return field_kind(self.kind)


@dataclass(frozen=True)
class PicklistRule:
    """One picklist's mapping: Cockpit value → ordered Salesforce values."""

    salesforce_field: str
    values: dict[str, tuple[str, ...]]
    salesforce_default: str | None
    # Type: a task may have none, and Salesforce's Type may be empty (null both ways);
    # Status and Priority always hold a value.
    nullable: bool = False

    def out(self, cockpit_value: str | None) -> str | None:
        """The first listed value, always the same; the org's default when unmapped."""
        listed = self.values.get(cockpit_value) if cockpit_value is not None else None
        return listed[0] if listed else self.salesforce_default

    def back(self, salesforce_value: str) -> str | None:
        for cockpit_value, listed in self.values.items():
            if salesforce_value in listed:
                return cockpit_value
        return None


@dataclass(frozen=True)
class MappingSpec:
    fields: tuple[FieldRule, ...]
    status: PicklistRule
    priority: PicklistRule
    type: PicklistRule | None = None  # the task type (Salesforce's Type), when mapped

    @property
    def picklists(self) -> tuple[tuple[str, PicklistRule], ...]:
        """Each picklist the mapping syncs, by the Cockpit field it fills."""
        named = [("status", self.status), ("priority", self.priority)]
        if self.type is not None:
            named.append(("type", self.type))
        return tuple(named)


def value_out(value: Any, kind: str) -> Any:
    """A Cockpit value as Salesforce JSON."""
    if value is None or value == "":
        return None
    return field_kind(kind).to_salesforce(value)


def value_in(value: Any, rule: FieldRule) -> Any:
    """A Salesforce value as the Cockpit value: objects for standard fields, JSON for custom."""
    kind = rule.field_kind
    if value is None:
        return "" if kind.is_text and not rule.is_custom else None
    return kind.from_salesforce(value, custom=rule.is_custom)
