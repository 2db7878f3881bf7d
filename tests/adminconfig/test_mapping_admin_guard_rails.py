"""Issue 18, "Mapping admin without guard rails": the admin offers the org's own picklist
values, names the field a duplicate mapping repeats, lists Cockpit values without a mapping,
and a push refused for the default's value says so on its error card."""

import pytest

from adminconfig.models import SalesforceConnection
from sync import health
from sync.models import OutboxEntry
from tasks.models import Status
from tests.adminconfig.test_admin import CONNECTION_FIELDS, change_url, current_formsets
from tests.factories import AdminFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(AdminFactory(username="boss"))
    return client


def test_the_default_status_and_priority_are_picked_from_the_orgs_values(admin_client, connection):
    form = admin_client.get(change_url(connection)).context["adminform"].form

    assert [v for v, _ in form.fields["default_status"].choices] == [
        "Not Started",
        "In Progress",
        "Completed",
        "Waiting on someone else",
        "Deferred",
    ]
    assert [v for v, _ in form.fields["default_priority"].choices] == ["High", "Normal", "Low"]


def test_a_default_the_org_does_not_have_is_a_form_error_in_the_admin(admin_client, connection):
    data = {**CONNECTION_FIELDS, "default_status": "Bogus", **current_formsets(connection)}

    response = admin_client.post(change_url(connection), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["default_status"]
    connection.refresh_from_db()
    assert connection.default_status == "Not Started"


def test_a_stored_default_the_org_lacks_stays_on_the_page_marked(admin_client, connection):
    SalesforceConnection.objects.filter(pk=connection.pk).update(default_status="Bogus")

    form = admin_client.get(change_url(connection)).context["adminform"].form

    assert ("Bogus", "Bogus (not a value of the org)") in form.fields["default_status"].choices


def test_picklist_rows_offer_the_orgs_values_in_a_datalist(admin_client, connection):
    page = admin_client.get(change_url(connection)).content.decode()

    assert 'list="id_status_mappings-0-salesforce_values_org_values"' in page
    assert '<option value="Waiting on someone else"></option>' in page
    assert 'list="id_priority_mappings-__prefix__-salesforce_values_org_values"' in page


def test_a_picklist_value_the_org_does_not_have_is_refused_in_the_admin(admin_client, connection):
    data = {
        **CONNECTION_FIELDS,
        **current_formsets(connection, status_rows={0: {"salesforce_values": "Bogus"}}),
    }

    response = admin_client.post(change_url(connection), data)

    assert response.status_code == 200
    assert "Salesforce status has no value &#x27;Bogus&#x27;" in response.content.decode()


def test_a_duplicate_field_mapping_names_the_field(admin_client, connection):
    row = {"connection": str(connection.pk), "direction": "both", "editable": "on"}
    data = {
        **CONNECTION_FIELDS,
        **current_formsets(
            connection,
            field_rows=[{**row, "cockpit_field": "name", "salesforce_field": "Description"}],
        ),
    }

    page = admin_client.post(change_url(connection), data).content.decode()

    assert "Cockpit field Name (name) is mapped twice" in page
    assert "Salesforce field Description is mapped twice" in page
    assert "Please correct the duplicate data" not in page


def test_the_connection_page_lists_cockpit_values_without_a_mapping(admin_client, connection):
    Status.objects.create(value="Blocked", label="Blocked", order=9)

    page = admin_client.get(change_url(connection)).content.decode()

    assert "Cockpit values without a mapping" in page
    assert (
        "<strong>Status</strong>: Blocked (pushed to Salesforce as the default Status, "
        "“Not Started”)" in page
    )
    assert "<strong>Priority</strong>: none (every value has a mapping)" in page


def failed(task, error, **fields):
    from django.utils import timezone

    return OutboxEntry.objects.create(
        task_id=task.pk,
        operation="upsert",
        state="failed",
        last_error=error,
        error_kind="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        error_code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        next_attempt_at=timezone.now(),
        **fields,
    )


def test_the_error_card_names_the_default_when_the_refused_value_is_the_default(connection):
    SalesforceConnection.objects.filter(pk=connection.pk).update(default_status="Bogus")
    failed(
        TaskFactory(),
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Status: bad value for restricted picklist "
        "field: Bogus (gave up after 5 attempts)",
        gave_up_after=5,
    )

    (group,) = health.error_groups()

    assert "“Bogus” is the connection's default Status" in group.hint
    assert "default Status on the connection page" in group.hint


def test_the_error_card_points_at_the_mappings_when_a_mapping_sent_the_value(connection):
    failed(
        TaskFactory(),
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Status: bad value for restricted picklist "
        "field: Shipped",
    )

    (group,) = health.error_groups()

    assert group.hint == health.error_kind_title(group.kind)[1]


def test_a_save_that_resyncs_shows_its_preview_and_saves_only_once_confirmed(
    admin_client, connection
):
    from adminconfig.models import PicklistMapping, ResyncRun
    from tests.factories import SyncRecordFactory

    SyncRecordFactory.create_batch(2, linked=True)
    data = {
        **CONNECTION_FIELDS,
        **current_formsets(
            connection, status_rows={0: {"salesforce_values": "Waiting on someone else"}}
        ),
    }

    asked = admin_client.post(change_url(connection), data)

    assert asked.status_code == 200
    page = asked.content.decode()
    # Records with no agreement yet: everything Cockpit holds goes out (the counts equal the
    # re-sync's writes: tests/sync/test_save_preview.py shows it against the emulator).
    assert "Re-syncs 2 synced tasks; " in page
    assert "Status changes in Salesforce for 2" in page
    assert 'name="_confirm_resync"' in page
    row = PicklistMapping.objects.get(connection=connection, cockpit_value="Open")
    assert row.salesforce_values == ["Not Started"]
    assert not ResyncRun.objects.exists()

    confirmed = admin_client.post(change_url(connection), {**data, "_confirm_resync": "1"})

    assert confirmed.status_code == 302
    row.refresh_from_db()
    assert row.salesforce_values == ["Waiting on someone else"]
    assert ResyncRun.objects.get().total == 2


def test_the_admin_maps_task_types_and_names_those_sent_as_no_type(admin_client, connection):
    from adminconfig.models import PicklistMapping

    page = admin_client.get(change_url(connection)).content.decode()
    assert "Type mapping (Cockpit task type → Salesforce Type values" in page
    assert "Follow-up (pushed to Salesforce as no Type)" in page

    data = {
        **CONNECTION_FIELDS,
        **current_formsets(connection, type_rows={0: {"salesforce_values": "Call, Other"}}),
    }
    saved = admin_client.post(change_url(connection), data)

    assert saved.status_code == 302
    assert PicklistMapping.objects.get(
        connection=connection, picklist="type", cockpit_value="Call"
    ).salesforce_values == ["Call", "Other"]


def test_going_back_from_the_preview_shows_the_form_with_the_edits_and_saves_nothing(
    admin_client, connection
):
    from adminconfig.models import PicklistMapping, ResyncRun
    from tests.factories import SyncRecordFactory

    SyncRecordFactory(linked=True)
    data = {
        **CONNECTION_FIELDS,
        "daily_api_budget": "4321",
        **current_formsets(
            connection, status_rows={0: {"salesforce_values": "Waiting on someone else"}}
        ),
    }
    assert 'name="_edit_again"' in admin_client.post(change_url(connection), data).content.decode()

    back = admin_client.post(change_url(connection), {**data, "_edit_again": "1"})

    assert back.status_code == 200
    page = back.content.decode()
    assert "Nothing was saved. Your changes are still in the form" in page
    assert 'value="Waiting on someone else"' in page
    assert 'value="4321"' in page
    assert "errornote" not in page
    connection.refresh_from_db()
    assert connection.daily_api_budget != 4321
    row = PicklistMapping.objects.get(connection=connection, cockpit_value="Open")
    assert row.salesforce_values == ["Not Started"]
    assert not ResyncRun.objects.exists()


def test_a_save_that_changes_no_mapping_asks_nothing(admin_client, connection):
    from tests.factories import SyncRecordFactory

    SyncRecordFactory(linked=True)
    data = {**CONNECTION_FIELDS, "daily_api_budget": "5000", **current_formsets(connection)}

    response = admin_client.post(change_url(connection), data)

    assert response.status_code == 302


def test_the_preview_never_writes_a_typed_secret_back_into_the_page(admin_client, connection):
    from tests.factories import SyncRecordFactory

    SyncRecordFactory(linked=True)
    data = {
        **CONNECTION_FIELDS,
        "client_secret": "new-secret-4711",
        **current_formsets(connection, status_rows={0: {"salesforce_values": "Deferred"}}),
    }

    page = admin_client.post(change_url(connection), data).content.decode()

    assert "Re-syncs 1 synced task" in page
    assert "new-secret-4711" not in page
    assert "type it again to save it" in page


def test_the_api_refuses_a_picklist_value_and_a_default_the_org_lacks(connection):
    from adminconfig.models import PicklistMapping
    from tests.factories import api_as

    api = api_as(AdminFactory(username="integrator"))
    row = PicklistMapping.objects.get(connection=connection, cockpit_value="Open")

    value = api.patch(
        f"/api/v1/sync/picklist-mappings/{row.pk}/", {"salesforce_values": ["Bogus"]}, format="json"
    )
    default = api.patch(
        f"/api/v1/sync/connections/{connection.pk}/", {"default_status": "Bogus"}, format="json"
    )

    assert value.status_code == 400
    assert "has no value 'Bogus'" in value.json()["salesforce_values"][0]
    assert default.status_code == 400
    assert "Not a Status value of the org" in default.json()["default_status"][0]
