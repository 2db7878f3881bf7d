import pytest
from django.core.exceptions import ValidationError

from adminconfig import services
from adminconfig.fields import unmapped_salesforce_values
from adminconfig.models import PicklistMapping

pytestmark = pytest.mark.django_db


def mapping(connection, picklist, value):
    return PicklistMapping.objects.get(
        connection=connection, picklist=picklist, cockpit_value=value
    )


def test_a_cockpit_value_maps_to_several_salesforce_values_in_order(connection):
    saved = services.picklist_mapping_save(
        connection=connection,
        picklist="status",
        cockpit_value="Open",
        salesforce_values=["Not Started", "Waiting on someone else"],
        mapping=mapping(connection, "status", "Open"),
    )

    assert saved.salesforce_values == ["Not Started", "Waiting on someone else"]


@pytest.mark.parametrize(
    ("picklist", "cockpit_value", "values", "field", "fragment"),
    [
        (
            "status",
            "Open",
            ["Started"],
            "salesforce_values",
            "has no value 'Started'. Allowed: Not Started",
        ),
        ("status", "Open", ["Completed"], "salesforce_values", "already mapped to 'Complete'"),
        ("priority", "Low", ["Normal"], "salesforce_values", "already mapped to 'Medium'"),
        ("status", "Open", [], "salesforce_values", "at least one"),
        ("status", "Open", ["Not Started", "Not Started"], "salesforce_values", "listed twice"),
        ("status", "Blocked", ["Deferred"], "cockpit_value", "Unknown Cockpit status 'Blocked'"),
    ],
)
def test_bad_picklist_mappings_are_refused(
    connection, picklist, cockpit_value, values, field, fragment
):
    existing = PicklistMapping.objects.filter(
        connection=connection, picklist=picklist, cockpit_value=cockpit_value
    ).first()
    before = existing.salesforce_values if existing else None

    with pytest.raises(ValidationError) as exc:
        services.picklist_mapping_save(
            connection=connection,
            picklist=picklist,
            cockpit_value=cockpit_value,
            salesforce_values=values,
            mapping=existing,
        )

    assert fragment in " ".join(exc.value.message_dict[field])
    if existing:
        existing.refresh_from_db()
        assert existing.salesforce_values == before


def test_salesforce_values_no_cockpit_value_lists_are_reported_as_not_synced(connection):
    rows = [
        (m.cockpit_value, m.salesforce_values)
        for m in connection.picklist_mappings.filter(picklist="status")
    ]

    assert unmapped_salesforce_values(
        rows=rows,
        salesforce_values=services.connection_salesforce_picklist(
            connection=connection, picklist="status"
        ),
    ) == ["Waiting on someone else", "Deferred"]
