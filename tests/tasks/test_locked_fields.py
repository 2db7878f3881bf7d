"""A field mapped as not editable is read-only on synced tasks, in every interface
(issue 9, point 6): the rule is task_update's, so the admin obeys it too; Salesforce's own
values, applied by the sync, still change it."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from adminconfig import services as config
from adminconfig.models import FieldMapping
from sync.context import applying_inbound
from tasks import services
from tasks.models import CustomField, TaskSyncRecord
from tests.factories import AdminFactory, CustomFieldFactory, SyncRecordFactory, TaskFactory

pytestmark = pytest.mark.django_db
LOCKED = "Synced from Salesforce: change it there."


@pytest.fixture
def locked_mappings(db):
    connection = config.connection_create(
        name="Org", login_url="https://127.0.0.1:9", client_id="cid", client_secret="s3cret"
    )
    CustomFieldFactory(key="renewal", field_type=CustomField.FieldType.DATE)
    FieldMapping.objects.filter(cockpit_field__in=["name", "due_date"]).update(editable=False)
    FieldMapping.objects.create(
        connection=connection,
        cockpit_field="custom:renewal",
        salesforce_field="Follow_Up_Date__c",
        editable=False,
    )
    return connection


def synced_task(owner, **fields):
    task = TaskFactory(owner=owner, name="Owned by Salesforce", **fields)
    SyncRecordFactory(
        task=task, salesforce_id="00T000000000001AAA", state=TaskSyncRecord.State.SYNCED
    )
    return task


def test_task_update_refuses_a_change_to_a_locked_field(locked_mappings, csm):
    task = synced_task(csm)

    with pytest.raises(ValidationError) as raised:
        services.task_update(task=task, name="Renamed", due_date=dt.date(2030, 1, 1))

    assert raised.value.message_dict == {"name": [LOCKED], "due_date": [LOCKED]}
    task.refresh_from_db()
    assert task.name == "Owned by Salesforce"


def test_task_update_refuses_a_change_to_a_locked_custom_field(locked_mappings, csm):
    task = synced_task(csm, custom_fields={"renewal": "2027-01-01"})

    with pytest.raises(ValidationError) as raised:
        services.task_update(task=task, custom_fields={"renewal": None})

    assert raised.value.message_dict == {"renewal": [LOCKED]}


def test_unchanged_locked_values_and_other_fields_pass(locked_mappings, csm):
    task = synced_task(csm, custom_fields={"renewal": "2027-01-01"})

    services.task_update(
        task=task,
        name="Owned by Salesforce",
        details="Editable",
        custom_fields={"renewal": "2027-01-01"},
    )

    task.refresh_from_db()
    assert task.details == "Editable"


def test_salesforce_values_applied_by_the_sync_change_locked_fields(locked_mappings, csm):
    task = synced_task(csm)

    with applying_inbound():
        services.task_update(
            task=task, name="Renamed in Salesforce", custom_fields={"renewal": "2028-02-02"}
        )

    task.refresh_from_db()
    assert task.name == "Renamed in Salesforce"
    assert task.custom_fields == {"renewal": "2028-02-02"}


def test_a_task_that_is_not_synced_is_not_locked(locked_mappings, csm):
    task = TaskFactory(owner=csm, name="Local only")

    services.task_update(task=task, name="Renamed")

    task.refresh_from_db()
    assert task.name == "Renamed"


def test_the_admin_shows_a_locked_field_disabled_and_a_post_cannot_change_it(
    locked_mappings, csm, client
):
    task = synced_task(csm)
    client.force_login(AdminFactory(username="boss"))
    page = client.get(f"/admin/tasks/task/{task.pk}/change/")
    name = page.context["adminform"].form["name"]
    assert name.field.disabled and "disabled" in str(name)
    assert LOCKED in page.content.decode()
    assert not page.context["adminform"].form["details"].field.disabled

    response = client.post(
        f"/admin/tasks/task/{task.pk}/change/",
        {
            "name": "Renamed in the admin",
            "status": task.status_id,
            "priority": task.priority_id,
            "due_date": task.due_date.isoformat(),
            "details": "",
            "owner": csm.pk,
            "company": "",
            "type": "",
            "custom_fields": "{}",
            "sync_record-TOTAL_FORMS": "1",
            "sync_record-INITIAL_FORMS": "1",
            "sync_record-MIN_NUM_FORMS": "0",
            "sync_record-MAX_NUM_FORMS": "1",
            "sync_record-0-id": task.sync_record.pk,
            "sync_record-0-task": task.pk,
        },
    )

    assert response.status_code == 302  # saved: what the page could not change is kept
    task.refresh_from_db()
    assert task.name == "Owned by Salesforce"


def test_the_admin_still_saves_other_fields_of_a_synced_task(locked_mappings, csm, client):
    task = synced_task(csm)
    client.force_login(AdminFactory(username="boss"))

    response = client.post(
        f"/admin/tasks/task/{task.pk}/change/",
        {
            "name": task.name,
            "status": task.status_id,
            "priority": task.priority_id,
            "due_date": task.due_date.isoformat(),
            "details": "Changed in the admin",
            "owner": csm.pk,
            "company": "",
            "type": "",
            "custom_fields": "{}",
            "sync_record-TOTAL_FORMS": "1",
            "sync_record-INITIAL_FORMS": "1",
            "sync_record-MIN_NUM_FORMS": "0",
            "sync_record-MAX_NUM_FORMS": "1",
            "sync_record-0-id": task.sync_record.pk,
            "sync_record-0-task": task.pk,
        },
    )

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.details == "Changed in the admin"


def test_the_api_nests_a_locked_custom_fields_error_under_custom_fields(locked_mappings, csm):
    task = synced_task(csm, custom_fields={"renewal": "2027-01-01"})
    api = APIClient()
    api.force_authenticate(csm)

    response = api.patch(
        f"/api/v1/tasks/{task.pk}/", {"custom_fields": {"renewal": "2029-09-09"}}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"custom_fields": {"renewal": [LOCKED]}}


def test_a_put_keeps_the_locked_fields_it_leaves_out(locked_mappings, csm):
    task = synced_task(
        csm, due_date=dt.date(2027, 3, 1), details="Notes", custom_fields={"renewal": "2027-01-01"}
    )
    client = APIClient()
    client.force_authenticate(csm)

    answer = client.put(f"/api/v1/tasks/{task.pk}/", {"name": "Owned by Salesforce"}, format="json")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["due_date"] == "2027-03-01"  # locked: kept
    assert answer.json()["custom_fields"] == {"renewal": "2027-01-01"}  # locked: kept
    assert answer.json()["details"] == ""  # not locked: replaced
