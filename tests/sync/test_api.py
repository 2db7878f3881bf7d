import pytest

from sync.models import OutboxEntry
from tasks.models import TaskSyncRecord
from tests.factories import AdminFactory, TaskFactory, UserFactory, api_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_api(alice):
    return api_as(alice)


def test_a_csm_queues_an_older_task_by_hand_and_the_worker_pushes_it(
    sfemu_clean, older_task, alice_api, worker, committed
):
    org, task = sfemu_clean, older_task

    with committed(worker_runs=False):
        response = alice_api.post(f"/api/v1/tasks/{task.pk}/sync/")

    assert response.status_code == 202, response.json()
    assert response.json()["sync"]["state"] == "pending"
    assert org.api_calls() == 0
    assert worker.queued() == ["sync.push"]

    worker.run()

    synced = alice_api.get(f"/api/v1/tasks/{task.pk}/").json()
    assert synced["sync"]["state"] == "synced"
    assert synced["salesforce_id"].startswith("00T")


def test_pushing_another_csms_task_answers_404(org, alice_api):
    other = TaskFactory(owner=UserFactory(username="bob", email="bob@example.com"))

    assert alice_api.post(f"/api/v1/tasks/{other.pk}/sync/").status_code == 404


def test_pushing_while_sync_is_off_says_so(sfemu_clean, alice, alice_api):
    task = TaskFactory(owner=alice)

    response = alice_api.post(f"/api/v1/tasks/{task.pk}/sync/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Sync to Salesforce is off: an admin switches Auto Sync on first."
    }


def test_failed_pushes_are_listed_with_the_reason_and_retried_by_hand(org, admin_api, committed):
    from adminconfig import services as config
    from tasks import services as tasks

    zed = UserFactory(username="zed", email="zed@example.com")
    with committed():
        task = tasks.task_create(owner=zed, name="Unmapped owner")

    errors = admin_api.get("/api/v1/sync/errors/").json()["results"]
    assert [(e["task_name"], e["state"]) for e in errors] == [("Unmapped owner", "failed")]
    assert "zed has no Salesforce user" in errors[0]["last_error"]
    assert admin_api.get(f"/api/v1/tasks/{task.pk}/").json()["sync"]["state"] == "error"

    dave = org.simple_salesforce().query("SELECT Id FROM User WHERE Email = 'dave@example.com'")
    config.user_mapping_set(user=zed, salesforce_user_id=dave["records"][0]["Id"])
    with committed():
        retried = admin_api.post(f"/api/v1/sync/errors/{errors[0]['id']}/retry/")

    assert retried.status_code == 200
    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.SYNCED
    assert admin_api.get("/api/v1/sync/errors/").json()["results"] == []


def test_status_shows_switches_org_usage_and_the_outbox(
    org, alice, admin_api, django_capture_on_commit_callbacks, committed
):
    from tasks import services as tasks

    with committed():
        tasks.task_create(owner=alice, name="Counted")
    with django_capture_on_commit_callbacks(execute=False):
        tasks.task_create(owner=alice, name="Waiting")

    status = admin_api.get("/api/v1/sync/status/").json()

    assert status["auto_sync"] is True
    assert status["connection"]["state"] == "connected"
    assert status["connection"]["api_limit"] == 100_000
    assert status["connection"]["cockpit_calls_today"] >= 1
    assert status["outbox"]["pending"] == 1
    assert status["tasks"]["synced"] == 1
    assert status["tasks"]["pending"] == 1

    pushed = admin_api.post("/api/v1/sync/push/").json()
    assert (pushed["pushed"], pushed["api_calls"]) == (1, 1)
    assert OutboxEntry.objects.filter(state="pending").count() == 0


def test_sync_status_push_errors_and_events_are_for_sync_admins_only(alice_api):
    for method, url in [
        ("get", "/api/v1/sync/status/"),
        ("post", "/api/v1/sync/push/"),
        ("get", "/api/v1/sync/errors/"),
        ("get", "/api/v1/sync/events/"),
    ]:
        assert getattr(alice_api, method)(url).status_code == 403, url


def test_admins_retry_failed_pushes_from_the_outbox_admin(org, client, committed):
    from tasks import services as tasks

    zed = UserFactory(username="zed", email="zed@example.com")
    with committed():
        tasks.task_create(owner=zed, name="Unmapped")
    entry = OutboxEntry.objects.get()
    client.force_login(AdminFactory(username="boss"))

    listing = client.get("/admin/sync/outboxentry/?state__exact=failed").content.decode()
    assert "has no Salesforce user" in listing
    with committed():
        response = client.post(
            "/admin/sync/outboxentry/",
            {"action": "retry", "_selected_action": [entry.pk]},
            follow=True,
        )

    assert "1 failed push(es) queued again." in response.content.decode()
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.FAILED  # zed still has no Salesforce user
    assert entry.attempts == 1
    assert client.get("/admin/sync/syncevent/").status_code == 200


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/tasks/{id}/sync/", "post"),
        ("/api/v1/sync/pull/", "post"),
        ("/api/v1/sync/reconcile-runs/", "post"),
    ],
)
def test_the_schema_documents_each_409_as_a_refusal_with_its_reason(admin_api, path, method):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()

    answer = schema["paths"][path][method]["responses"]["409"]
    reference = answer["content"]["application/json"]["schema"]["$ref"]
    assert reference == "#/components/schemas/Refusal"
    assert schema["components"]["schemas"]["Refusal"]["properties"] == {
        "detail": {"type": "string"}
    }
