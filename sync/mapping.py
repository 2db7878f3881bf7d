"""Pure translation between Cockpit task values and Salesforce Task fields (DESIGN 3, rules 5-6).

No database, no network: the engine loads a MappingSpec once (sync/mapping_specs.py) and
calls these. Cockpit values are a dict keyed by mapping name: 'name', 'details', 'due_date',
'status', 'priority', 'custom:<key>', ... Salesforce values are the JSON of a Task record.
"""

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Skipped:
    """A Salesforce value that did not sync in: the Cockpit field keeps its value."""

    cockpit_field: str
    salesforce_field: str
    salesforce_value: Any
    reason: str


@dataclass
class Inbound:
    values: dict[str, Any] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


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


def to_salesforce(values: dict[str, Any], spec: MappingSpec) -> dict[str, Any]:
    """The Salesforce Task fields for these Cockpit values (only outbound mappings)."""
    out: dict[str, Any] = {}
    for rule in spec.fields:
        if rule.goes_out and rule.cockpit_field in values:
            out[rule.salesforce_field] = value_out(values[rule.cockpit_field], rule.kind)
    for name, picklist in spec.picklists:
        if name in values:
            out[picklist.salesforce_field] = picklist.out(values[name])
    return out


def from_salesforce(record: dict[str, Any], spec: MappingSpec) -> Inbound:
    """The Cockpit values for a Salesforce Task record (only inbound mappings).

    An unmapped Status/Priority value does not sync: it is reported in `skipped` and the
    Cockpit field keeps its value.
    """
    result = Inbound()
    for rule in spec.fields:
        if rule.comes_in and rule.salesforce_field in record:
            result.values[rule.cockpit_field] = value_in(record[rule.salesforce_field], rule)
    for name, picklist in spec.picklists:
        if picklist.salesforce_field not in record:
            continue
        sf_value = record[picklist.salesforce_field]
        if sf_value is None and picklist.nullable:
            result.values[name] = None
            continue
        cockpit_value = picklist.back(sf_value) if sf_value is not None else None
        if cockpit_value is None:
            result.skipped.append(
                Skipped(
                    name, picklist.salesforce_field, sf_value, "no Cockpit value is mapped to it"
                )
            )
        else:
            result.values[name] = cockpit_value
    return result
