"""Every refusal of rule 6, table-driven over the Cockpit and Salesforce field kinds."""

import pytest
from django.core.exceptions import ValidationError

from adminconfig import services
from adminconfig.models import FieldMapping
from tasks.models import CustomField
from tests.factories import CustomFieldFactory

pytestmark = pytest.mark.django_db
BOTH, OUT, IN = "both", "to_salesforce", "from_salesforce"


@pytest.mark.parametrize(
    ("cockpit_field", "salesforce_field", "direction"),
    [
        ("name", "Subject", BOTH),
        ("name", "Subject", IN),  # the Marketo subject rule, one way
        ("details", "Description", BOTH),
        ("due_date", "ActivityDate", BOTH),
        ("due_date", "Follow_Up_Date__c", OUT),
    ],
)
def test_compatible_fields_are_accepted(connection, cockpit_field, salesforce_field, direction):
    FieldMapping.objects.filter(connection=connection).delete()

    mapping = services.field_mapping_save(
        connection=connection,
        cockpit_field=cockpit_field,
        salesforce_field=salesforce_field,
        direction=direction,
    )

    assert mapping.pk


@pytest.mark.parametrize(
    ("cockpit_field", "salesforce_field", "direction", "field", "fragment"),
    [
        ("name", "Id", BOTH, "salesforce_field", "Ids cannot be mapped"),
        ("name", "OwnerId", BOTH, "salesforce_field", "Lookups cannot be mapped"),
        ("name", "Status", BOTH, "salesforce_field", "use the picklist mappings"),
        ("name", "Tags__c", BOTH, "salesforce_field", "Multi-select picklists"),
        ("status", "Name__c", BOTH, "cockpit_field", "picklist mappings"),
        ("owner", "Name__c", BOTH, "cockpit_field", "user mapping"),
        ("id", "Name__c", BOTH, "cockpit_field", "Ids cannot be mapped"),
        ("due_date", "Name__c", BOTH, "salesforce_field", "a date field maps only to date"),
        ("name", "Effort_Hours__c", BOTH, "salesforce_field", "is double"),
        ("name", "Name__c", BOTH, "salesforce_field", "only 80; values would be cut"),
        ("details", "Subject", OUT, "salesforce_field", "only 255"),
        ("name", "Description", IN, "salesforce_field", "only 255"),
        ("name", "IsClosed", BOTH, "salesforce_field", "is boolean"),
        ("completed_at", "CompletedDateTime", IN, "direction", "set by Cockpit"),
        ("name", "Nope__c", BOTH, "salesforce_field", "has no field 'Nope__c'"),
        ("nope", "Subject", BOTH, "cockpit_field", "Unknown Cockpit task field"),
    ],
)
def test_incompatible_mappings_are_refused_with_a_clear_message(
    connection, cockpit_field, salesforce_field, direction, field, fragment
):
    FieldMapping.objects.filter(connection=connection).delete()

    with pytest.raises(ValidationError) as exc:
        services.field_mapping_save(
            connection=connection,
            cockpit_field=cockpit_field,
            salesforce_field=salesforce_field,
            direction=direction,
        )

    assert fragment in " ".join(exc.value.message_dict[field])
    assert not FieldMapping.objects.filter(connection=connection).exists()


def test_a_read_only_salesforce_field_cannot_be_mapped_to_salesforce(connection):
    CustomFieldFactory(key="done_at", field_type=CustomField.FieldType.DATETIME)

    with pytest.raises(ValidationError) as exc:
        services.field_mapping_save(
            connection=connection,
            cockpit_field="custom:done_at",
            salesforce_field="CompletedDateTime",
            direction=BOTH,
        )

    assert "read-only in Salesforce" in exc.value.message_dict["direction"][0]


@pytest.mark.parametrize(
    ("field_type", "salesforce_field", "ok"),
    [
        ("number", "Effort_Hours__c", True),
        ("date", "Follow_Up_Date__c", True),
        ("text", "Name__c", True),
        ("boolean", "Effort_Hours__c", False),
        ("number", "Name__c", False),
    ],
)
def test_custom_cockpit_fields_can_be_mapped_by_type(connection, field_type, salesforce_field, ok):
    CustomFieldFactory(key="extra", field_type=field_type, max_length=80)

    if ok:
        services.field_mapping_save(
            connection=connection, cockpit_field="custom:extra", salesforce_field=salesforce_field
        )
    else:
        with pytest.raises(ValidationError):
            services.field_mapping_save(
                connection=connection,
                cockpit_field="custom:extra",
                salesforce_field=salesforce_field,
            )


def test_one_salesforce_field_cannot_be_mapped_twice(connection):
    CustomFieldFactory(key="title", max_length=200)

    with pytest.raises(ValidationError) as exc:
        services.field_mapping_save(
            connection=connection, cockpit_field="custom:title", salesforce_field="Subject"
        )

    assert exc.value.message_dict == {
        "salesforce_field": ["Salesforce field Subject is mapped twice."]
    }


def test_mappings_need_the_describe_first(connection):
    connection.task_describe = {}

    with pytest.raises(ValidationError) as exc:
        services.field_mapping_check(
            connection=connection, cockpit_field="name", salesforce_field="Subject", direction=BOTH
        )

    assert "Test connection" in exc.value.message_dict["salesforce_field"][0]


def test_a_new_connection_starts_with_the_default_mapping(connection):
    fields = {
        (m.cockpit_field, m.salesforce_field, m.direction) for m in connection.field_mappings.all()
    }
    picklists = {
        (m.picklist, m.cockpit_value): m.salesforce_values
        for m in connection.picklist_mappings.all()
    }

    assert fields == {
        ("name", "Subject", BOTH),
        ("due_date", "ActivityDate", BOTH),
        ("details", "Description", BOTH),
    }
    assert picklists == {
        ("status", "Open"): ["Not Started"],
        ("status", "In Progress"): ["In Progress"],
        ("status", "Complete"): ["Completed"],
        ("priority", "Low"): ["Low"],
        ("priority", "Medium"): ["Normal"],
        ("priority", "High"): ["High"],
        # Follow-up has none: it goes as no Type.
        ("type", "Call"): ["Call"],
        ("type", "Email"): ["Email"],
        ("type", "Meeting"): ["Meeting"],
    }


def test_the_migration_gives_existing_connections_the_default_type_mapping(db):
    import importlib

    from django.apps import apps

    from adminconfig.models import PicklistMapping, SalesforceConnection
    from tests.factories import ConnectionFactory

    migration = importlib.import_module("adminconfig.migrations.0009_type_mapping")
    bare = ConnectionFactory(name="Before types")
    # An org whose Type lacks Meeting, and a connection whose admin mapped types already.
    SalesforceConnection.objects.filter(pk=bare.pk).update(
        task_describe={
            "fields": [{"name": "Type", "picklistValues": [{"value": "Call"}, {"value": "Email"}]}]
        }
    )
    own = ConnectionFactory(name="Mapped already", is_primary=False)
    PicklistMapping.objects.filter(picklist="type").delete()
    PicklistMapping.objects.create(
        connection=own, picklist="type", cockpit_value="Call", salesforce_values=["Other"]
    )

    migration.type_mappings_add(apps, None)

    def types(connection):
        return dict(
            PicklistMapping.objects.filter(connection=connection, picklist="type").values_list(
                "cockpit_value", "salesforce_values"
            )
        )

    assert types(bare) == {"Call": ["Call"], "Email": ["Email"]}
    assert types(own) == {"Call": ["Other"]}
