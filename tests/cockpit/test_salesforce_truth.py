"""The pages tell the truth about the Salesforce twin: what Salesforce holds that Cockpit
cannot show is said in words, and the sync history names people and fields as a CSM knows
them. Against the real emulator: Salesforce-side edits are made with simple-salesforce."""

import pytest

from adminconfig import services as config
from sync import inbound
from sync.client_cache import clients_reset
from sync.models import SyncEvent
from sync.reconcile import reconcile_run
from tasks import services as tasks
from tasks.models import TaskSyncRecord
from tests.factories import UserFactory, api_as
from tests.orgs import emulator_sync_on

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    # Her email matches a sales user the emulator seeds; Dave Davis has no Cockpit account.
    return UserFactory(username="alice", email="alice@example.com", first_name="Alice")


@pytest.fixture
def org(sfemu_clean, alice, committed):
    clients_reset()
    with committed():
        emulator_sync_on(sfemu_clean, bidirectional=True)
    yield sfemu_clean
    sfemu_clean.clear_faults()


@pytest.fixture
def sf(org):
    return org.simple_salesforce()


@pytest.fixture
def page(client, alice):
    client.force_login(alice)

    def get(url: str) -> str:
        response = client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    return get


def pull() -> None:
    result = inbound.pull_run(force=True)
    assert result.ran and result.errors == []


def synced_task(committed, alice, name="Renewal call"):
    with committed():
        task = tasks.task_create(owner=alice, name=name)
    return task, TaskSyncRecord.objects.get(task=task).salesforce_id


def dave(sf) -> str:
    return sf.query("SELECT Id FROM User WHERE Email = 'dave@example.com'")["records"][0]["Id"]


def test_an_unmapped_status_and_an_owner_without_an_account_are_said_in_words(
    org, sf, alice, committed, page
):
    task, sf_id = synced_task(committed, alice)
    sf.Task.update(sf_id, {"Status": "Deferred", "OwnerId": dave(sf)})
    # The pull reads the tasks of mapped owners only: the drift repair finds the reassignment.
    reconcile_run(trigger="hand")

    detail = page(f"/tasks/{task.pk}/")
    assert "In Salesforce: Deferred" in detail
    assert "Assigned in Salesforce to Dave Davis, who has no Cockpit account" in detail
    assert "Synced, with differences" in detail
    assert "Synced with Salesforce" not in detail
    listed = page("/?view=open")
    assert "In Salesforce: Deferred" in listed
    assert "Assigned in Salesforce to Dave Davis, who has no Cockpit account" in listed
    assert "Synced, with differences" in listed
    # The history names Dave, never his Id or the engine's field names.
    history = detail[detail.index('id="timeline-heading"') :]
    assert "Reassigned in Salesforce" in history
    assert dave(sf) not in history and "OwnerId" not in history


def test_the_api_tells_synced_with_differences_apart_and_lists_them(org, sf, alice, committed):
    task, sf_id = synced_task(committed, alice)
    plain, _ = synced_task(committed, alice, name="Kick-off")
    sf.Task.update(sf_id, {"Status": "Deferred", "OwnerId": dave(sf)})
    reconcile_run(trigger="hand")
    api = api_as(alice)

    one = api.get(f"/api/v1/tasks/{task.pk}/").json()["sync"]
    listed = {t["id"]: t["sync"] for t in api.get("/api/v1/tasks/").json()["results"]}

    expected = [
        {"field": "status", "label": "Status", "words": "In Salesforce: Deferred"},
        {
            "field": "owner",
            "label": "Owner",
            "words": "Assigned in Salesforce to Dave Davis, who has no Cockpit account",
        },
    ]
    for sync in (one, listed[task.pk]):
        assert sync["state"] == "synced"
        assert sync["with_differences"] is True
        assert sorted(sync["differences"], key=lambda d: d["field"], reverse=True) == expected
    assert listed[plain.pk]["state"] == "synced"
    assert listed[plain.pk]["with_differences"] is False
    assert listed[plain.pk]["differences"] == []


def test_the_api_reads_the_differences_of_a_whole_page_in_the_same_queries(
    org, sf, alice, committed, django_assert_max_num_queries
):
    api = api_as(alice)

    def differing(name: str) -> None:
        _, sf_id = synced_task(committed, alice, name=name)
        sf.Task.update(sf_id, {"Status": "Deferred", "OwnerId": dave(sf)})

    differing("First")
    reconcile_run(trigger="hand")
    api.get("/api/v1/tasks/")
    with django_assert_max_num_queries(40) as few:
        assert api.get("/api/v1/tasks/").status_code == 200
    for i in range(4):
        differing(f"More {i}")
    reconcile_run(trigger="hand")
    with django_assert_max_num_queries(len(few)):
        body = api.get("/api/v1/tasks/").json()
    assert [t["sync"]["with_differences"] for t in body["results"]] == [True] * 5


def test_a_synced_task_without_differences_is_plainly_synced(org, sf, alice, committed, page):
    task, _ = synced_task(committed, alice)

    detail = page(f"/tasks/{task.pk}/")

    assert "Synced with Salesforce" in detail
    assert "with differences" not in detail
    assert "In Salesforce:" not in detail


def test_a_cockpit_edit_not_pushed_yet_is_no_difference(org, sf, alice, committed, page):
    task, _ = synced_task(committed, alice)
    with committed(worker_runs=False):
        tasks.task_update(task=task, name="Renamed, on its way")

    assert "In Salesforce:" not in page(f"/tasks/{task.pk}/")


def test_a_field_mapped_from_salesforce_only_shows_salesforces_value(
    org, sf, alice, committed, page
):
    connection = config.connection_primary()
    config.field_mapping_save(
        connection=connection,
        mapping=connection.field_mappings.get(cockpit_field="details"),
        cockpit_field="details",
        salesforce_field="Description",
        direction="from_salesforce",
        resync=False,
    )
    task, sf_id = synced_task(committed, alice)
    sf.Task.update(sf_id, {"Description": "Call after the board meeting"})
    pull()
    with committed():
        task.refresh_from_db()
        tasks.task_update(task=task, details="My own notes")

    detail = page(f"/tasks/{task.pk}/")

    assert "My own notes" in detail
    assert "Details in Salesforce: Call after the board meeting" in detail


def test_the_history_names_fields_and_pushes_and_logs_a_conflict_once(
    org, sf, alice, committed, page
):
    task, sf_id = synced_task(committed, alice)
    with committed(worker_runs=False):
        tasks.task_update(task=task, name="Cockpit's name", due_date=None)
    sf.Task.update(sf_id, {"Subject": "Salesforce's name"})
    pull()
    with committed():
        task.refresh_from_db()
        tasks.task_update(task=task, details="Bring the pricing")

    history = page(f"/tasks/{task.pk}/")
    history = history[history.index('id="timeline-heading"') :]
    assert history.count("Changed on both sides: Name") == 1
    assert "salesforce wins" not in history.lower()
    assert "Created in Salesforce" in history
    assert "Changed there: Details." in history


def test_stopping_and_restarting_the_sync_is_in_the_history(org, alice, committed, client, page):
    task, _ = synced_task(committed, alice)

    client.post(f"/tasks/{task.pk}/desync/")
    with committed():
        client.post(f"/tasks/{task.pk}/resync/")

    history = page(f"/tasks/{task.pk}/")
    assert "Stopped syncing" in history
    assert "Syncing again" in history


def test_a_settled_conflict_names_who_settled_it_and_the_field(
    org, sf, alice, committed, page, sync_admin
):
    task, sf_id = synced_task(committed, alice)
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.CONFLICT,
        task_id=task.pk,
        salesforce_id=sf_id,
        message=f"'{task.name}': {sync_admin.username} settled the ActivityDate conflict, "
        "keeping Cockpit's value '2026-12-09'.",
    )

    history = page(f"/tasks/{task.pk}/")

    assert "Conflict settled: Due date" in history
    assert (
        f"{sync_admin.get_full_name() or sync_admin.username} kept Cockpit&#x27;s value." in history
    )
