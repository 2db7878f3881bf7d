"""Which Cockpit task fields can map to which Salesforce Task fields (DESIGN section 3, rule 6).

Pure functions over the Cockpit field catalogue and a Salesforce describe; the admin form and the
API both call `field_mapping_problem`, so they refuse the same things with the same words.
"""

from dataclasses import dataclass
from typing import Any

from tasks.field_kinds import FIELD_KINDS, field_kind
from tasks.models import DETAILS_MAX_LENGTH, NAME_MAX_LENGTH
from tasks.selectors import custom_fields_all

CUSTOM_PREFIX = "custom:"


@dataclass(frozen=True)
class CockpitField:
    name: str
    label: str
    kind: str  # a name in tasks.field_kinds.FIELD_KINDS, or one of REFUSED_COCKPIT_KINDS
    max_length: int | None = None
    writable: bool = True  # False: Cockpit sets it itself (e.g. completed_at)


STANDARD_FIELDS = {
    f.name: f
    for f in [
        CockpitField("name", "Name", "text", NAME_MAX_LENGTH),
        CockpitField("details", "Details", "text", DETAILS_MAX_LENGTH),
        CockpitField("due_date", "Due date", "date"),
        CockpitField("completed_at", "Completed at", "datetime", writable=False),
        CockpitField("created_at", "Created at", "datetime", writable=False),
        CockpitField("status", "Status", "picklist"),
        CockpitField("priority", "Priority", "picklist"),
        CockpitField("type", "Type", "picklist"),
        CockpitField("owner", "Owner", "lookup"),
        CockpitField("company", "Company", "lookup"),
        CockpitField("id", "Id", "id"),
    ]
}

TEXT_TYPES = {"string", "textarea", "combobox", "phone", "email", "url"}
REFUSED_SALESFORCE_TYPES = {
    "id": "Ids cannot be mapped.",
    "reference": "Lookups cannot be mapped as plain fields (owner and company sync through the "
    "user mapping and the company's Account Id).",
    "picklist": "Picklists cannot be mapped as plain fields; use the picklist mappings.",
    "multipicklist": "Multi-select picklists cannot be mapped.",
}
REFUSED_COCKPIT_KINDS = {
    "id": "Ids cannot be mapped.",
    "lookup": "Owner and company sync through the user mapping and the company's Account Id, "
    "not as plain fields.",
    "picklist": "Status, priority and type sync through the picklist mappings.",
}


def cockpit_fields() -> dict[str, CockpitField]:
    """Standard task fields plus the active custom fields, by mapping name."""
    fields = dict(STANDARD_FIELDS)
    for custom in custom_fields_all():
        if not custom.is_active:
            continue
        length = custom.max_length if custom.kind.is_text else None
        name = CUSTOM_PREFIX + custom.key
        fields[name] = CockpitField(name, f"{custom.label} (custom)", custom.field_type, length)
    return fields


def mappable_cockpit_fields() -> dict[str, CockpitField]:
    return {n: f for n, f in cockpit_fields().items() if f.kind in FIELD_KINDS}


def describe_field(describe: dict[str, Any], name: str) -> dict[str, Any] | None:
    for field in describe.get("fields", []):
        if field["name"] == name:
            return field
    return None


def field_mapping_problem(
    *,
    cockpit: CockpitField | None,
    cockpit_name: str,
    salesforce: dict[str, Any] | None,
    salesforce_name: str,
    goes_out: bool,
    comes_in: bool,
    external_id_field: str,
) -> tuple[str, str] | None:
    """(form field, message) when this mapping must be refused, else None."""
    if cockpit is None:
        return "cockpit_field", f"Unknown Cockpit task field '{cockpit_name}'."
    if cockpit.kind in REFUSED_COCKPIT_KINDS:
        return "cockpit_field", f"{cockpit.label}: {REFUSED_COCKPIT_KINDS[cockpit.kind]}"
    if is_external_id_field(salesforce_name, external_id_field):
        # Mapped, a Cockpit value would pick which Salesforce record a first push upserts
        # onto: a CSM could type another task's "cockpit-<id>" and take over its twin.
        return "salesforce_field", external_id_refusal(salesforce_name)
    if salesforce is None:
        return "salesforce_field", (
            f"Salesforce Task has no field '{salesforce_name}' (refresh the describe if it is new)."
        )
    sf_type = salesforce["type"]
    sf_label = f"{salesforce.get('label', salesforce_name)} ({salesforce_name})"
    if sf_type in REFUSED_SALESFORCE_TYPES:
        return "salesforce_field", f"{sf_label}: {REFUSED_SALESFORCE_TYPES[sf_type]}"
    compatible = field_kind(cockpit.kind).salesforce_types
    if sf_type not in compatible:
        return "salesforce_field", (
            f"{cockpit.label} is {cockpit.kind} but {sf_label} is {sf_type}: "
            f"a {cockpit.kind} field maps only to {', '.join(sorted(compatible))}."
        )
    if goes_out and not (salesforce.get("updateable") or salesforce.get("createable")):
        return "direction", f"{sf_label} is read-only in Salesforce; map it 'From Salesforce only'."
    if comes_in and not cockpit.writable:
        return "direction", f"{cockpit.label} is set by Cockpit; map it 'To Salesforce only'."
    if sf_type in TEXT_TYPES and cockpit.max_length:
        sf_length = int(salesforce.get("length") or 0)
        if goes_out and sf_length and cockpit.max_length > sf_length:
            return "salesforce_field", (
                f"{cockpit.label} holds up to {cockpit.max_length} characters but {sf_label} only "
                f"{sf_length}; values would be cut."
            )
        if comes_in and not goes_out and sf_length > cockpit.max_length:
            return "salesforce_field", (
                f"{sf_label} holds up to {sf_length} characters but {cockpit.label} only "
                f"{cockpit.max_length}; values would be cut."
            )
    return None


def is_external_id_field(salesforce_name: str, external_id_field: str) -> bool:
    """Whether a Salesforce field is the connection's external id field (Salesforce's API
    names are case-insensitive)."""
    return bool(external_id_field) and salesforce_name.lower() == external_id_field.lower()


def external_id_refusal(salesforce_name: str) -> str:
    return (
        f"{salesforce_name} is the connection's external id field, the key Cockpit matches "
        "twins by; it cannot be mapped."
    )


def picklist_values(describe: dict[str, Any], field: str) -> list[str]:
    """Active values of a Salesforce picklist, in Salesforce's order."""
    found = describe_field(describe, field) or {}
    return [v["value"] for v in found.get("picklistValues", []) if v.get("active", True)]


def picklist_problems(
    *,
    rows: list[tuple[str, list[str]]],
    cockpit_values: list[str],
    salesforce_values: list[str] | None,
    picklist_label: str,
) -> list[tuple[int, str, str]]:
    """Problems of a whole picklist mapping as (row index, form field, message).

    Rules: each Cockpit value once; every Salesforce value known to the describe (when it is
    available); no Salesforce value under two Cockpit values (inbound would be ambiguous).
    """
    problems: list[tuple[int, str, str]] = []
    owner_of: dict[str, str] = {}
    seen_cockpit: set[str] = set()
    for index, (cockpit_value, sf_values) in enumerate(rows):
        if cockpit_value not in cockpit_values:
            allowed = ", ".join(cockpit_values)
            problems.append(
                (
                    index,
                    "cockpit_value",
                    f"Unknown Cockpit {picklist_label} '{cockpit_value}'. Allowed: {allowed}.",
                )
            )
        if cockpit_value in seen_cockpit:
            problems.append(
                (
                    index,
                    "cockpit_value",
                    f"Cockpit {picklist_label} '{cockpit_value}' is mapped twice.",
                )
            )
        seen_cockpit.add(cockpit_value)
        if not sf_values:
            problems.append((index, "salesforce_values", "List at least one Salesforce value."))
        if len(set(sf_values)) != len(sf_values):
            problems.append((index, "salesforce_values", "A Salesforce value is listed twice."))
        for value in sf_values:
            if salesforce_values is not None and value not in salesforce_values:
                allowed = ", ".join(salesforce_values)
                problems.append(
                    (
                        index,
                        "salesforce_values",
                        f"Salesforce {picklist_label} has no value '{value}'. Allowed: {allowed}.",
                    )
                )
            elif value in owner_of and owner_of[value] != cockpit_value:
                problems.append(
                    (
                        index,
                        "salesforce_values",
                        f"Salesforce {picklist_label} '{value}' is already mapped to "
                        f"'{owner_of[value]}'; a Salesforce value maps back to one Cockpit value.",
                    )
                )
            owner_of.setdefault(value, cockpit_value)
    return problems


def unmapped_salesforce_values(
    *, rows: list[tuple[str, list[str]]], salesforce_values: list[str]
) -> list[str]:
    """Salesforce values no Cockpit value lists: they will not sync inbound."""
    mapped = {v for _, values in rows for v in values}
    return [v for v in salesforce_values if v not in mapped]
