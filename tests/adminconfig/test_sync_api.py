import logging

import pytest
from rest_framework.test import APIClient

from adminconfig import hooks
from adminconfig.models import (
    FieldMapping,
    PicklistMapping,
    ResyncRun,
    SalesforceConnection,
    SyncSettings,
)
from tasks.models import TaskSyncRecord
from tests.adminconfig.conftest import TASK_DESCRIBE_WITH_EXTERNAL_IDS
from tests.factories import (
    AdminFactory,
    CustomFieldFactory,
    SyncAdminFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
SECRET = "very-secret-client-secret-42"


@pytest.fixture
def sync_admin_api(api):
    api.force_authenticate(SyncAdminFactory(username="syncadmin"))
    return api


def create_connection(client, **extra):
    payload = {
        "name": "Production",
        "login_url": "https://127.0.0.1:8443",
        "client_id": "cockpit",
        "client_secret": SECRET,
        "ca_bundle": "",
        "is_primary": True,
        **extra,
    }
    return client.post("/api/v1/sync/connections/", payload, format="json")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sync/settings/",
        "/api/v1/sync/connections/",
        "/api/v1/sync/field-mappings/",
        "/api/v1/sync/picklist-mappings/",
        "/api/v1/sync/resync-runs/",
    ],
)
def test_only_sync_admins_reach_the_sync_configuration(path, csm_api, sync_admin_api):
    staff_api, anonymous = APIClient(), APIClient()
    staff_api.force_authenticate(UserFactory(username="plainstaff", is_staff=True))

    assert anonymous.get(path).status_code == 401
    assert csm_api.get(path).status_code == 403
    assert staff_api.get(path).status_code == 403
    assert sync_admin_api.get(path).status_code == 200


def test_a_superuser_is_a_sync_admin(admin_api):
    assert admin_api.get("/api/v1/sync/settings/").status_code == 200


def test_the_client_secret_is_write_only_and_stored_encrypted(admin_api, caplog):
    caplog.set_level(logging.DEBUG)

    created = create_connection(admin_api)
    listed = admin_api.get("/api/v1/sync/connections/")
    schema = admin_api.get("/api/schema/")

    assert created.status_code == 201, created.json()
    assert created.json()["has_client_secret"] is True
    for response in (created, listed):
        assert SECRET not in response.content.decode()
        assert "client_secret" not in str(response.json()).replace("has_client_secret", "")
    assert SECRET not in schema.content.decode()
    stored = SalesforceConnection.objects.get()
    assert SECRET not in stored.client_secret_encrypted
    assert SECRET not in caplog.text


def test_changing_a_connection_without_a_secret_keeps_the_stored_one(admin_api):
    connection_id = create_connection(admin_api).json()["id"]
    before = SalesforceConnection.objects.get().client_secret_encrypted

    response = admin_api.patch(
        f"/api/v1/sync/connections/{connection_id}/", {"name": "Renamed"}, format="json"
    )

    assert response.status_code == 200
    assert SalesforceConnection.objects.get().client_secret_encrypted == before


def test_a_connection_needs_a_secret_and_a_valid_login_url(admin_api):
    response = admin_api.post(
        "/api/v1/sync/connections/",
        {"name": "x", "login_url": "not a url", "client_id": "c"},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) >= {"login_url"}
    no_secret = admin_api.post(
        "/api/v1/sync/connections/",
        {"name": "x", "login_url": "https://login.salesforce.com", "client_id": "c"},
        format="json",
    )
    assert "client_secret" in no_secret.json()


def test_making_a_connection_primary_demotes_the_former_primary(admin_api):
    first = create_connection(admin_api).json()
    second = create_connection(admin_api, name="Sandbox", is_primary=False).json()
    assert second["is_primary"] is False

    admin_api.patch(
        f"/api/v1/sync/connections/{second['id']}/", {"is_primary": True}, format="json"
    )

    primaries = list(
        SalesforceConnection.objects.filter(is_primary=True).values_list("name", flat=True)
    )
    assert primaries == ["Sandbox"]
    assert first["is_primary"] is True


def test_the_first_connection_becomes_primary(admin_api):
    created = create_connection(admin_api, is_primary=False).json()

    assert created["is_primary"] is True


def test_bidirectional_sync_needs_auto_sync(admin_api):
    response = admin_api.patch(
        "/api/v1/sync/settings/", {"bidirectional_sync": True}, format="json"
    )

    assert response.status_code == 400
    assert "needs Auto Sync" in response.json()["bidirectional_sync"][0]
    assert SyncSettings.objects.get().bidirectional_sync is False


def test_switching_sync_on_the_first_time_records_when_and_starts_the_first_import(
    admin_api, django_capture_on_commit_callbacks, monkeypatch
):
    started = []
    monkeypatch.setattr(hooks.engine(), "first_sync_start", lambda: started.append(True))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.put(
            "/api/v1/sync/settings/",
            {"auto_sync": True, "bidirectional_sync": True},
            format="json",
        )
    first = response.json()["first_enabled_at"]
    with django_capture_on_commit_callbacks(execute=True):
        admin_api.patch(
            "/api/v1/sync/settings/",
            {"auto_sync": False, "bidirectional_sync": False},
            format="json",
        )
        again = admin_api.patch("/api/v1/sync/settings/", {"auto_sync": True}, format="json")

    assert response.status_code == 200
    assert first is not None
    assert again.json()["first_enabled_at"] == first
    assert started == [True]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"pull_interval_seconds": 5}, "pull_interval_seconds"),
        ({"conflict_policy": "coin flip"}, "conflict_policy"),
        ({"initial_import_hours": 0}, "initial_import_hours"),
    ],
)
def test_bad_settings_answer_400(admin_api, payload, field):
    response = admin_api.patch("/api/v1/sync/settings/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()


def describe_connection(admin_api):
    from tests.adminconfig.conftest import TASK_DESCRIBE

    connection_id = create_connection(admin_api).json()["id"]
    SalesforceConnection.objects.filter(pk=connection_id).update(task_describe=TASK_DESCRIBE)
    return connection_id


def test_field_mappings_through_the_api_refuse_what_the_admin_refuses(admin_api):
    describe_connection(admin_api)

    lookup = admin_api.post(
        "/api/v1/sync/field-mappings/",
        {"cockpit_field": "details", "salesforce_field": "WhatId"},
        format="json",
    )
    twice = admin_api.post(
        "/api/v1/sync/field-mappings/",
        {"cockpit_field": "due_date", "salesforce_field": "Follow_Up_Date__c"},
        format="json",
    )

    assert lookup.status_code == 400
    assert "Lookups cannot be mapped" in lookup.json()["salesforce_field"][0]
    assert twice.status_code == 400
    assert twice.json() == {"cockpit_field": ["Cockpit field Due date (due_date) is mapped twice."]}


def test_a_field_mapping_can_be_made_one_way_through_the_api(admin_api):
    describe_connection(admin_api)
    subject = FieldMapping.objects.get(salesforce_field="Subject")

    response = admin_api.patch(
        f"/api/v1/sync/field-mappings/{subject.pk}/",
        {"direction": "from_salesforce"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["direction"] == "from_salesforce"


def test_picklist_mappings_through_the_api(admin_api):
    describe_connection(admin_api)
    open_row = PicklistMapping.objects.get(picklist="status", cockpit_value="Open")

    ok = admin_api.patch(
        f"/api/v1/sync/picklist-mappings/{open_row.pk}/",
        {"salesforce_values": ["Not Started", "Deferred"]},
        format="json",
    )
    clash = admin_api.patch(
        f"/api/v1/sync/picklist-mappings/{open_row.pk}/",
        {"salesforce_values": ["Completed"]},
        format="json",
    )

    assert ok.status_code == 200
    assert ok.json()["salesforce_values"] == ["Not Started", "Deferred"]
    assert clash.status_code == 400
    assert "already mapped to 'Complete'" in clash.json()["salesforce_values"][0]


def test_the_task_type_is_mapped_through_the_api_with_the_orgs_values(admin_api):
    describe_connection(admin_api)

    made = admin_api.post(
        "/api/v1/sync/picklist-mappings/",
        {"picklist": "type", "cockpit_value": "Follow-up", "salesforce_values": ["Other"]},
        format="json",
    )
    bogus = admin_api.post(
        "/api/v1/sync/picklist-mappings/",
        {"picklist": "type", "cockpit_value": "Meeting", "salesforce_values": ["Lunch"]},
        format="json",
    )
    listed = admin_api.get("/api/v1/sync/picklist-mappings/?picklist=type").json()["results"]

    assert made.status_code == 201, made.json()
    assert bogus.status_code == 400
    assert "Salesforce type has no value 'Lunch'" in " ".join(bogus.json()["salesforce_values"])
    assert {(r["cockpit_value"], tuple(r["salesforce_values"])) for r in listed} == {
        ("Call", ("Call",)),
        ("Email", ("Email",)),
        ("Meeting", ("Meeting",)),
        ("Follow-up", ("Other",)),
    }


def test_saving_a_mapping_starts_a_resync_of_the_synced_tasks(
    admin_api, django_capture_on_commit_callbacks, monkeypatch
):
    describe_connection(admin_api)
    for n in range(3):
        TaskSyncRecord.objects.create(task=TaskFactory(), salesforce_id=f"00T00000000000{n}AAA")
    TaskFactory()  # never synced: not part of the re-sync
    started = []
    monkeypatch.setattr(hooks.engine(), "resync_start", started.append)
    priority = PicklistMapping.objects.get(picklist="priority", cockpit_value="High")

    with django_capture_on_commit_callbacks(execute=True):
        admin_api.patch(
            f"/api/v1/sync/picklist-mappings/{priority.pk}/",
            {"salesforce_values": ["High"]},
            format="json",
        )

    run = ResyncRun.objects.get()
    assert run.total == 3
    assert started == [run.pk]
    runs = admin_api.get("/api/v1/sync/resync-runs/").json()["results"]
    assert runs[0]["total"] == 3 and runs[0]["finished_at"] is None


def test_users_show_and_set_their_salesforce_user(admin_api, csm):
    url = f"/api/v1/users/{csm.pk}/"

    assert admin_api.get(url).json()["salesforce_user_id"] is None
    response = admin_api.patch(url, {"salesforce_user_id": "005000000000001AAA"}, format="json")
    assert response.status_code == 200
    assert response.json()["salesforce_user_id"] == "005000000000001AAA"

    bad = admin_api.patch(url, {"salesforce_user_id": "not-an-id"}, format="json")
    assert bad.status_code == 400
    assert "salesforce_user_id" in bad.json()
    other = AdminFactory(username="other")
    taken = admin_api.patch(
        f"/api/v1/users/{other.pk}/", {"salesforce_user_id": "005000000000001AAA"}, format="json"
    )
    assert taken.status_code == 400
    assert "already mapped" in taken.json()["salesforce_user_id"][0]


def _ref_and_external_ids(admin_api):
    """A connection whose org marks Cockpit_Task_Id__c and Legacy_Id__c as external ids, and
    a custom text field `ref` to map; returns the connection's id."""
    connection_id = describe_connection(admin_api)
    SalesforceConnection.objects.filter(pk=connection_id).update(
        task_describe=TASK_DESCRIBE_WITH_EXTERNAL_IDS
    )
    CustomFieldFactory(key="ref", max_length=80)
    return connection_id


@pytest.mark.parametrize("salesforce_field", ["Cockpit_Task_Id__c", "COCKPIT_TASK_ID__C"])
def test_a_field_mapping_onto_the_external_id_field_is_refused_through_the_api(
    admin_api, salesforce_field
):
    connection_id = _ref_and_external_ids(admin_api)

    response = admin_api.post(
        "/api/v1/sync/field-mappings/",
        {
            "connection": connection_id,
            "cockpit_field": "custom:ref",
            "salesforce_field": salesforce_field,
            "direction": "both",
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "salesforce_field": [
            f"{salesforce_field} is the connection's external id field, the key Cockpit "
            "matches twins by; it cannot be mapped."
        ]
    }
    assert not FieldMapping.objects.filter(cockpit_field="custom:ref").exists()


def test_the_external_id_field_cannot_become_a_field_a_mapping_uses(admin_api):
    connection_id = _ref_and_external_ids(admin_api)
    mapped = admin_api.post(
        "/api/v1/sync/field-mappings/",
        {"cockpit_field": "custom:ref", "salesforce_field": "Legacy_Id__c"},
        format="json",
    )

    response = admin_api.patch(
        f"/api/v1/sync/connections/{connection_id}/",
        {"external_id_field": "Legacy_Id__c"},
        format="json",
    )

    assert mapped.status_code == 201, mapped.json()
    assert response.status_code == 400
    assert (
        "Legacy_Id__c is mapped from the Cockpit field custom:ref"
        in (response.json()["external_id_field"][0])
    )
    assert SalesforceConnection.objects.get().external_id_field == "Cockpit_Task_Id__c"


def test_picklist_mapping_errors_about_the_cockpit_value_are_filed_under_it(admin_api):
    describe_connection(admin_api)
    open_row = PicklistMapping.objects.get(picklist="status", cockpit_value="Open")

    unknown = admin_api.patch(
        f"/api/v1/sync/picklist-mappings/{open_row.pk}/",
        {"cockpit_value": "Nonexistent"},
        format="json",
    )
    twice = admin_api.post(
        "/api/v1/sync/picklist-mappings/",
        {"picklist": "status", "cockpit_value": "Open", "salesforce_values": ["Deferred"]},
        format="json",
    )

    assert unknown.status_code == 400
    assert list(unknown.json()) == ["cockpit_value"]
    assert "Unknown Cockpit status 'Nonexistent'" in unknown.json()["cockpit_value"][0]
    assert twice.status_code == 400
    assert twice.json() == {"cockpit_value": ["Cockpit status 'Open' is mapped twice."]}


def test_switching_auto_sync_off_under_bidirectional_sync_says_what_to_do(admin_api):
    SyncSettings.objects.update_or_create(
        pk=1, defaults={"auto_sync": True, "bidirectional_sync": True}
    )

    response = admin_api.patch("/api/v1/sync/settings/", {"auto_sync": False}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "bidirectional_sync": [
            "Bi-directional Sync needs Auto Sync: switch Bi-directional Sync off too, or keep "
            "Auto Sync on."
        ]
    }
    assert SyncSettings.objects.get().auto_sync is True


def test_a_ca_bundle_cockpit_could_not_use_is_a_400_naming_the_field(admin_api, ca_bundles):
    usable, unusable = ca_bundles
    for path, message in unusable.items():
        refused = create_connection(admin_api, ca_bundle=path)
        assert refused.status_code == 400, path
        assert message in refused.json()["ca_bundle"][0], refused.json()
    assert not SalesforceConnection.objects.exists()

    created = create_connection(admin_api, ca_bundle=usable)

    assert created.status_code == 201, created.json()
    assert created.json()["ca_bundle"] == usable
