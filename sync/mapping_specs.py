"""Loads the admin's mapping configuration into the pure MappingSpec the engine uses."""

from adminconfig.fields import cockpit_fields, is_external_id_field
from adminconfig.models import FieldMapping, PicklistMapping, SalesforceConnection
from cockpit.page_rows import page_table
from cockpit.request_memo import memoized

from .mapping import FieldRule, MappingSpec, PicklistRule


def field_mappings_of(connection: SalesforceConnection) -> list[FieldMapping]:
    """The connection's field mappings, in their order: read once a GET request."""
    together = page_table("field_mappings") if connection.is_primary else None
    if together is not None:
        return [m for m in together if m.connection_id == connection.pk]
    return memoized(
        ("field_mappings", connection.pk),
        lambda: list(FieldMapping.objects.filter(connection=connection)),
    )


def mapping_spec_load(connection: SalesforceConnection) -> MappingSpec:
    known = cockpit_fields()
    rules = []
    # Once a GET request: the task page's differences and its history both read the mapping.
    for mapping in field_mappings_of(connection):
        cockpit = known.get(mapping.cockpit_field)
        if cockpit is None:  # a custom field deleted since: nothing to sync
            continue
        if is_external_id_field(mapping.salesforce_field, connection.external_id_field):
            # The admin refuses this mapping; one saved before that rule (or behind its back)
            # syncs nothing: the external id is always Cockpit's own "cockpit-<task id>",
            # never a value a CSM typed that could point a push at another task's twin.
            continue
        rules.append(
            FieldRule(
                cockpit_field=mapping.cockpit_field,
                salesforce_field=mapping.salesforce_field,
                kind=cockpit.kind,
                goes_out=mapping.goes_out,
                comes_in=mapping.comes_in,
            )
        )
    picklists: dict[str, dict[str, tuple[str, ...]]] = {"status": {}, "priority": {}, "type": {}}
    together = page_table("picklist_mappings") if connection.is_primary else None
    picklist_rows = (
        [m for m in together if m.connection_id == connection.pk]
        if together is not None
        else memoized(
            ("picklist_mappings", connection.pk),
            lambda: list(PicklistMapping.objects.filter(connection=connection)),
        )
    )
    for row in picklist_rows:
        picklists[row.picklist][row.cockpit_value] = tuple(row.salesforce_values)
    return MappingSpec(
        fields=tuple(rules),
        status=PicklistRule("Status", picklists["status"], connection.default_status),
        priority=PicklistRule("Priority", picklists["priority"], connection.default_priority),
        # Type syncs once the admin maps any type (every connection starts with Call, Email
        # and Meeting); a type without a mapping goes as no Type, never as a made-up one.
        type=PicklistRule("Type", picklists["type"], None, nullable=True)
        if picklists["type"]
        else None,
    )
