"""The CSM's 'Sync to Salesforce' button on the task page."""

import pytest
from django.utils import timezone

from sync.models import OutboxEntry
from tasks.models import TaskSyncRecord
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_csm_queues_a_task_older_than_the_sync_and_the_worker_pushes_it(
    sfemu_clean, older_task, alice, client, worker, committed
):
    org, task = sfemu_clean, older_task
    client.force_login(alice)
    assert "Sync to Salesforce" in client.get(f"/tasks/{task.pk}/edit/").content.decode()
    assert not OutboxEntry.objects.exists()

    with committed(worker_runs=False):
        response = client.post(f"/tasks/{task.pk}/sync/", follow=True)

    assert "is queued for Salesforce" in response.content.decode()
    assert "Waiting to be sent" in client.get(f"/tasks/{task.pk}/").content.decode()
    entry = OutboxEntry.objects.get(task_id=task.pk)
    assert entry.state == OutboxEntry.State.PENDING
    assert entry.next_attempt_at <= timezone.now()
    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.PENDING
    assert org.api_calls() == 0  # Salesforce is not called in the CSM's request
    assert worker.queued() == ["sync.push"]

    worker.run()

    record = TaskSyncRecord.objects.get(task=task)
    assert record.state == TaskSyncRecord.State.SYNCED
    assert org.simple_salesforce().Task.get(record.salesforce_id)["Subject"] == "Older task"


def test_the_button_never_pushes_another_csms_changes_in_the_request(
    org, alice, client, worker, committed
):
    from tasks import services as tasks

    bob = UserFactory(username="bob", email="bob@example.com")
    with committed(worker_runs=False):
        theirs = tasks.task_create(owner=bob, name="Bob's change")
        mine = tasks.task_create(owner=alice, name="Alice's change")
    org.reset_request_log()
    client.force_login(alice)

    with committed(worker_runs=False):
        client.post(f"/tasks/{mine.pk}/sync/")

    assert org.api_calls() == 0
    pending = OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING)
    assert set(pending.values_list("task_id", flat=True)) == {theirs.pk, mine.pk}
    # One message for the worker: the saves rang already, and the button's ring joins it.
    assert worker.queued() == ["sync.push"]


def test_a_failed_task_shows_the_reason_and_a_retry_that_settles_it(org, client, committed):
    from adminconfig import services as config
    from tasks import services as tasks

    zed = UserFactory(username="zed", email="zed@example.com")
    with committed():
        task = tasks.task_create(owner=zed, name="Unmapped")
    client.force_login(zed)

    page = client.get(f"/tasks/{task.pk}/edit/").content.decode()
    assert "not matched to a Salesforce user" in page  # the reason, in a CSM's words
    assert "Retry sync to Salesforce" in page

    dave = org.simple_salesforce().query("SELECT Id FROM User WHERE Email = 'dave@example.com'")
    config.user_mapping_set(user=zed, salesforce_user_id=dave["records"][0]["Id"])
    with committed():
        response = client.post(f"/tasks/{task.pk}/sync/", follow=True)
    assert "is queued for Salesforce" in response.content.decode()

    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.SYNCED
    assert not OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED).exists()


def test_the_button_is_absent_while_sync_is_off_and_the_post_says_why(alice, client):
    task = TaskFactory(owner=alice)
    client.force_login(alice)

    assert "Sync to Salesforce" not in client.get(f"/tasks/{task.pk}/edit/").content.decode()
    response = client.post(f"/tasks/{task.pk}/sync/", follow=True)
    assert "Auto Sync on first" in response.content.decode()


def test_another_csms_task_cannot_be_pushed(org, client):
    task = TaskFactory(owner=UserFactory(username="bob", email="bob@example.com"))
    client.force_login(UserFactory(username="mallory"))

    assert client.post(f"/tasks/{task.pk}/sync/").status_code == 404
    assert client.get(f"/tasks/{task.pk}/sync/").status_code in (404, 405)


def test_the_sync_health_page_shows_failures_and_retries_them(org, client, committed):
    from tasks import services as tasks
    from tests.factories import AdminFactory

    zed = UserFactory(username="zed", email="zed@example.com")
    with committed():
        tasks.task_create(owner=zed, name="Unmapped owner task")
    client.force_login(AdminFactory(username="boss"))

    page = client.get("/sync/").content.decode()
    assert "Unmapped owner task" in page
    assert "zed has no Salesforce user" in page
    assert "Connected" in page or "connected" in page

    entry = OutboxEntry.objects.get()
    response = client.post(f"/sync/errors/{entry.pk}/retry/", follow=True)
    assert f"Push of task {entry.task_id} queued again." in response.content.decode()


def test_the_sync_health_page_is_for_sync_admins_only(client, alice):
    client.force_login(alice)

    assert client.get("/sync/").status_code == 403
    assert client.post("/sync/errors/1/retry/").status_code == 403


def test_a_field_mapped_as_not_editable_is_read_only_on_a_synced_task(
    org, alice, client, committed
):
    from adminconfig.models import FieldMapping
    from tasks import services as tasks

    FieldMapping.objects.filter(cockpit_field="name").update(editable=False)
    with committed():
        task = tasks.task_create(owner=alice, name="Owned by Salesforce")
    client.force_login(alice)

    page = client.get(f"/tasks/{task.pk}/edit/").content.decode()
    assert "Synced from Salesforce: change it there." in page
    client.post(
        f"/tasks/{task.pk}/edit/",
        {
            "name": "Renamed in Cockpit",
            "status": task.status_id,
            "priority": task.priority_id,
            "details": "New details",
        },
    )

    task.refresh_from_db()
    assert task.name == "Owned by Salesforce"
    assert task.details == "New details"


def test_the_api_refuses_changes_to_a_field_salesforce_owns_on_a_synced_task(org, alice, committed):
    from rest_framework.test import APIClient

    from adminconfig.models import FieldMapping
    from tasks import services as tasks

    FieldMapping.objects.filter(cockpit_field="name").update(editable=False)
    with committed():
        task = tasks.task_create(owner=alice, name="Owned by Salesforce")
    api = APIClient()
    api.force_authenticate(alice)

    refused = api.patch(f"/api/v1/tasks/{task.pk}/", {"name": "Renamed"}, format="json")
    same = api.patch(
        f"/api/v1/tasks/{task.pk}/",
        {"name": "Owned by Salesforce", "details": "fine"},
        format="json",
    )

    assert refused.status_code == 400
    assert refused.json() == {"name": ["Synced from Salesforce: change it there."]}
    assert same.status_code == 200
    assert same.json()["details"] == "fine"
