"""Loads the admin's mapping configuration into the pure MappingSpec the engine uses."""

from adminconfig.fields import cockpit_fields
from adminconfig.models import FieldMapping, PicklistMapping, SalesforceConnection

from .mapping import FieldRule, MappingSpec, PicklistRule


def mapping_spec_load(connection: SalesforceConnection) -> MappingSpec:
    known = cockpit_fields()
    rules = []
    for mapping in FieldMapping.objects.filter(connection=connection):
        cockpit = known.get(mapping.cockpit_field)
        if cockpit is None:  # a custom field deleted since: nothing to sync
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
    picklists: dict[str, dict[str, tuple[str, ...]]] = {"status": {}, "priority": {}}
    for row in PicklistMapping.objects.filter(connection=connection):
        picklists[row.picklist][row.cockpit_value] = tuple(row.salesforce_values)
    return MappingSpec(
        fields=tuple(rules),
        status=PicklistRule("Status", picklists["status"], connection.default_status),
        priority=PicklistRule("Priority", picklists["priority"], connection.default_priority),
    )
