"""The sync configuration through the Django admin's forms (the browser walk is in tests/e2e)."""

import pytest
from django.contrib.auth.models import Group

from adminconfig.models import FieldMapping, PicklistMapping, SalesforceConnection, SyncSettings
from tests.adminconfig.conftest import TASK_DESCRIBE, TASK_DESCRIBE_WITH_EXTERNAL_IDS
from tests.factories import AdminFactory, CustomFieldFactory, UserFactory

pytestmark = pytest.mark.django_db
SECRET = "admin-form-secret-987"
CONNECTION_FIELDS = {
    "name": "Org",
    "is_primary": "on",
    # The conftest connection's URL: a new login URL would need the secret typed again.
    "login_url": "https://127.0.0.1:9",
    "client_id": "cid",
    "api_version": "59.0",
    "ca_bundle": "",
    "default_status": "Not Started",
    "default_priority": "Normal",
    "external_id_field": "Cockpit_Task_Id__c",
    "daily_api_budget": "10000",
}


@pytest.fixture
def admin_client(client):
    client.force_login(AdminFactory(username="boss"))
    return client


def change_url(connection):
    return f"/admin/adminconfig/salesforceconnection/{connection.pk}/change/"


def formset(prefix, rows, initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def current_formsets(
    connection, field_rows=None, status_rows=None, priority_rows=None, type_rows=None
):
    """POST data for the change page: the stored rows, optionally with changed/added rows."""
    fields = [
        {
            "id": str(m.pk),
            "connection": str(connection.pk),
            "cockpit_field": m.cockpit_field,
            "salesforce_field": m.salesforce_field,
            "direction": m.direction,
            "editable": "on" if m.editable else "",
        }
        for m in connection.field_mappings.all()
    ]
    initial_fields = len(fields)
    fields += field_rows or []

    def picklist(name, extra):
        rows = [
            {
                "id": str(m.pk),
                "connection": str(connection.pk),
                "cockpit_value": m.cockpit_value,
                "salesforce_values": ", ".join(m.salesforce_values),
            }
            for m in connection.picklist_mappings.filter(picklist=name)
        ]
        count = len(rows)
        for index, row in (extra or {}).items():
            rows[index].update(row)
        return rows, count

    status, n_status = picklist("status", status_rows)
    priority, n_priority = picklist("priority", priority_rows)
    types, n_types = picklist("type", type_rows)
    return {
        **formset("field_mappings", fields, initial_fields),
        **formset("status_mappings", status, n_status),
        **formset("priority_mappings", priority, n_priority),
        **formset("type_mappings", types, n_types),
    }


@pytest.fixture
def described(connection):
    return connection


def field_row_post(admin_client, connection, cockpit_field, salesforce_field):
    """The connection page saved with one more two-way field mapping row."""
    row = {
        "connection": str(connection.pk),
        "cockpit_field": cockpit_field,
        "salesforce_field": salesforce_field,
        "direction": "both",
        "editable": "on",
    }
    data = {**CONNECTION_FIELDS, **current_formsets(connection, field_rows=[row])}
    return admin_client.post(change_url(connection), data)


def settings_post(admin_client, **fields):
    """The sync settings page saved with these fields over the defaults (a checkbox left out
    is off)."""
    change = admin_client.get("/admin/adminconfig/syncsettings/", follow=True)
    data = {
        "conflict_policy": "latest",
        "pull_interval_seconds": "60",
        "initial_import_hours": "24",
        "deletion_window_days": "15",
        **fields,
    }
    return admin_client.post(change.redirect_chain[-1][0], data)


def test_adding_a_connection_needs_the_secret_and_never_shows_it_again(admin_client):
    missing = admin_client.post("/admin/adminconfig/salesforceconnection/add/", CONNECTION_FIELDS)
    assert missing.status_code == 200
    assert "Enter the client secret" in missing.content.decode()

    response = admin_client.post(
        "/admin/adminconfig/salesforceconnection/add/",
        {**CONNECTION_FIELDS, "client_secret": SECRET},
    )

    assert response.status_code == 302
    connection = SalesforceConnection.objects.get()
    assert connection.is_primary
    assert connection.field_mappings.count() == 3
    page = admin_client.get(change_url(connection)).content.decode()
    assert SECRET not in page
    assert connection.client_secret_encrypted not in page
    assert "Test connection" in page


def test_a_field_mapping_of_a_lookup_is_refused_in_the_admin_form(admin_client, described):
    response = field_row_post(admin_client, described, "name", "WhatId")

    assert response.status_code == 200
    assert "Lookups cannot be mapped" in response.content.decode()
    assert not FieldMapping.objects.filter(salesforce_field="WhatId").exists()


def test_a_salesforce_field_mapped_twice_is_refused_in_the_admin_form(admin_client, described):
    response = field_row_post(admin_client, described, "custom:x", "Subject")

    assert response.status_code == 200
    page = response.content.decode()
    assert "mapped twice" in page or "Select a valid choice" in page


def test_a_salesforce_value_under_two_cockpit_values_is_refused_in_the_admin(
    admin_client, described
):
    data = {
        **CONNECTION_FIELDS,
        **current_formsets(described, status_rows={0: {"salesforce_values": "Completed"}}),
    }

    response = admin_client.post(change_url(described), data)

    assert response.status_code == 200
    assert "already mapped to" in response.content.decode()
    assert PicklistMapping.objects.get(
        picklist="status", cockpit_value="Open"
    ).salesforce_values == ["Not Started"]


def test_saving_mappings_tells_the_admin_the_tasks_are_synced(admin_client, described):
    data = {
        **CONNECTION_FIELDS,
        **current_formsets(
            described,
            status_rows={0: {"salesforce_values": "Not Started, Waiting on someone else"}},
        ),
    }

    response = admin_client.post(change_url(described), data, follow=True)

    page = response.content.decode()
    assert "Tasks are now synced with the new mapping" in page
    assert PicklistMapping.objects.get(
        picklist="status", cockpit_value="Open"
    ).salesforce_values == [
        "Not Started",
        "Waiting on someone else",
    ]


def test_the_admin_shows_which_salesforce_values_will_not_sync(admin_client, described):
    page = admin_client.get(change_url(described)).content.decode()

    assert "<strong>Status</strong>: Waiting on someone else, Deferred" in page
    assert "<strong>Priority</strong>: none (every value syncs)" in page


def test_bidirectional_without_auto_sync_is_a_form_error(admin_client):
    response = settings_post(admin_client, bidirectional_sync="on")

    assert response.status_code == 200
    assert "needs Auto Sync" in response.content.decode()
    assert SyncSettings.objects.get().bidirectional_sync is False


def test_a_pull_interval_under_ten_seconds_is_a_form_error(admin_client):
    response = settings_post(admin_client, auto_sync="on", pull_interval_seconds="5")

    assert response.status_code == 200
    assert "greater than or equal to 10" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "/admin/adminconfig/salesforceconnection/",
        "/admin/adminconfig/syncsettings/",
        "/admin/adminconfig/usermapping/",
    ],
)
def test_staff_outside_the_sync_admin_group_cannot_open_the_configuration(client, url):
    staff = UserFactory(username="helpdesk", is_staff=True)
    client.force_login(staff)

    assert client.get(url, follow=True).status_code == 403

    staff.groups.add(Group.objects.get(name="Sync admin"))
    assert client.get(url, follow=True).status_code == 200


def test_the_test_connection_button_reports_against_the_emulator(admin_client, sfemu_clean):
    from tests.orgs import emulator_connection

    connection = emulator_connection(sfemu_clean)

    response = admin_client.post(
        f"/admin/adminconfig/salesforceconnection/{connection.pk}/test/", follow=True
    )

    page = response.content.decode()
    assert "Emulator: Connected." in page
    assert (
        admin_client.get(
            f"/admin/adminconfig/salesforceconnection/{connection.pk}/test/"
        ).status_code
        == 405
    )


def test_the_admin_index_lists_the_sync_configuration_in_order(admin_client):
    page = admin_client.get("/admin/").content.decode()

    positions = [
        page.index(name) for name in ("Salesforce connections", "Sync settings", "User mappings")
    ]
    assert positions == sorted(positions)
    assert TASK_DESCRIBE  # the describe fixture module stays imported for the forms above


def test_a_field_mapping_onto_the_external_id_field_is_refused_in_the_admin_form(
    admin_client, described
):
    SalesforceConnection.objects.filter(pk=described.pk).update(
        task_describe=TASK_DESCRIBE_WITH_EXTERNAL_IDS
    )
    CustomFieldFactory(key="ref", max_length=80)
    response = field_row_post(admin_client, described, "custom:ref", "Cockpit_Task_Id__c")

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors[-1] == {
        "salesforce_field": [
            "Cockpit_Task_Id__c is the connection's external id field, the key Cockpit "
            "matches twins by; it cannot be mapped."
        ]
    }
    assert not FieldMapping.objects.filter(cockpit_field="custom:ref").exists()


def test_the_external_id_field_cannot_become_a_mapped_field_in_the_admin_form(
    admin_client, described
):
    SalesforceConnection.objects.filter(pk=described.pk).update(
        task_describe=TASK_DESCRIBE_WITH_EXTERNAL_IDS
    )
    CustomFieldFactory(key="ref", max_length=80)
    FieldMapping.objects.create(
        connection=described, cockpit_field="custom:ref", salesforce_field="Legacy_Id__c"
    )
    data = {
        **CONNECTION_FIELDS,
        "external_id_field": "Legacy_Id__c",
        **current_formsets(described),
    }

    response = admin_client.post(change_url(described), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert (
        "Legacy_Id__c is mapped from the Cockpit field custom:ref"
        in (errors["external_id_field"][0])
    )
    assert SalesforceConnection.objects.get().external_id_field == "Cockpit_Task_Id__c"


@pytest.mark.parametrize("values", ["", " , "])
def test_emptied_salesforce_values_are_a_row_error_in_the_admin(admin_client, described, values):
    data = {
        **CONNECTION_FIELDS,
        **current_formsets(described, status_rows={0: {"salesforce_values": values}}),
    }

    response = admin_client.post(change_url(described), data)

    assert response.status_code == 200
    status_formset = response.context["inline_admin_formsets"][1].formset
    assert status_formset.errors[0] == {"salesforce_values": ["This field is required."]}
    assert PicklistMapping.objects.get(
        picklist="status", cockpit_value="Open"
    ).salesforce_values == ["Not Started"]


def test_switching_auto_sync_off_under_bidirectional_sync_says_what_to_do_in_the_admin(
    admin_client,
):
    SyncSettings.objects.update_or_create(
        pk=1, defaults={"auto_sync": True, "bidirectional_sync": True}
    )

    response = settings_post(admin_client, bidirectional_sync="on")

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["bidirectional_sync"] == [
        "Bi-directional Sync needs Auto Sync: switch Bi-directional Sync off too, or keep "
        "Auto Sync on."
    ]
    assert SyncSettings.objects.get().auto_sync is True


def test_a_ca_bundle_cockpit_could_not_use_is_a_form_error(admin_client, ca_bundles):
    usable, unusable = ca_bundles
    for path, message in unusable.items():
        response = admin_client.post(
            "/admin/adminconfig/salesforceconnection/add/",
            {**CONNECTION_FIELDS, "client_secret": SECRET, "ca_bundle": path},
        )
        assert response.status_code == 200, path
        assert message in response.content.decode(), path
        assert not SalesforceConnection.objects.exists()

    saved = admin_client.post(
        "/admin/adminconfig/salesforceconnection/add/",
        {**CONNECTION_FIELDS, "client_secret": SECRET, "ca_bundle": usable},
    )

    assert saved.status_code == 302
    assert SalesforceConnection.objects.get().ca_bundle == usable
