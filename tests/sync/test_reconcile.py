"""Drift repair: every linked task compared with its Salesforce twin, against the emulator."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from adminconfig import services as config
from sync import inbound
from sync.models import Conflict, ReconcileRun, SyncEvent
from sync.push import outbox_push_all
from sync.reconcile import reconcile_run
from tasks import services as tasks
from tasks.models import Task, TaskSyncRecord
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def linked(sf, alice_sf_id, **fields):
    """A Salesforce task imported into Cockpit by a pull: both sides agree."""
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, **fields})["id"]
    assert inbound.pull_run(force=True).ran
    return salesforce_id, TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task


def test_a_quiet_org_is_compared_in_one_query_and_nothing_changes(bidi, sf, alice_sf_id):
    for n in range(5):
        linked(sf, alice_sf_id, Subject=f"Quiet {n}")
    bidi.reset_request_log()

    run = reconcile_run()

    assert (run.checked, run.repaired_in_cockpit, run.repaired_in_salesforce) == (5, 0, 0)
    assert (run.twins_missing, run.conflicts, run.error) == (0, 0, "")
    assert run.api_calls == 1 == bidi.api_calls()
    assert SyncEvent.objects.filter(kind=SyncEvent.Kind.RECONCILED).exists()


def test_a_salesforce_edit_the_pulls_missed_reaches_cockpit(bidi, sf, alice_sf_id):
    salesforce_id, task = linked(sf, alice_sf_id, Subject="Before")
    sf.Task.update(salesforce_id, {"Subject": "Edited where no pull looked"})
    # The pulls moved past it (a record of an owner who was not mapped then, say).
    inbound.PullState.objects.update(watermark=inbound.timezone.now() + inbound.dt.timedelta(1))

    run = reconcile_run()

    task.refresh_from_db()
    assert task.name == "Edited where no pull looked"
    assert run.repaired_in_cockpit == 1


def test_a_cockpit_change_that_never_reached_the_outbox_goes_out(bidi, sf, alice_sf_id):
    salesforce_id, task = linked(sf, alice_sf_id, Subject="Before")
    Task.objects.filter(pk=task.pk).update(details="Written around the services")

    run = reconcile_run()
    outbox_push_all()

    assert run.repaired_in_salesforce == 1
    assert sf.Task.get(salesforce_id)["Description"] == "Written around the services"


def test_values_that_differ_while_both_sides_say_they_agree_are_settled_by_the_policy(
    bidi, sf, alice_sf_id, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        config.sync_settings_update(conflict_policy="salesforce")
    salesforce_id, task = linked(sf, alice_sf_id, Subject="Salesforce's subject")
    # The agreed values themselves went wrong: Cockpit's side says it agreed on its own name.
    Task.objects.filter(pk=task.pk).update(name="Cockpit's drifted name")
    record = TaskSyncRecord.objects.get(task=task)
    record.agreed_cockpit = {**record.agreed_cockpit, "Subject": "Cockpit's drifted name"}
    record.save()

    run = reconcile_run()

    task.refresh_from_db()
    assert task.name == "Salesforce's subject"
    conflict = Conflict.objects.get(task_id=task.pk)
    assert (conflict.cockpit_value, conflict.salesforce_value) == (
        "Cockpit's drifted name",
        "Salesforce's subject",
    )
    assert run.conflicts == 1
    assert reconcile_run().conflicts == 0  # repaired: the next one finds nothing


def test_a_twin_deleted_where_no_pull_saw_it_deletes_the_task(bidi, sf, alice_sf_id):
    salesforce_id, task = linked(sf, alice_sf_id, Subject="Deleted in Salesforce")
    sf.Task.delete(salesforce_id)

    run = reconcile_run()

    assert not Task.objects.filter(pk=task.pk).exists()
    assert run.twins_missing == 1


def test_a_twin_given_to_an_unmapped_owner_is_kept_and_still_compared(bidi, sf, alice_sf_id):
    salesforce_id, task = linked(sf, alice_sf_id, Subject="Handed over")
    admin = bidi.simple_salesforce()
    other = admin.query("SELECT Id FROM User WHERE Email = 'dave@example.com'")["records"][0]
    admin.Task.update(salesforce_id, {"OwnerId": other["Id"], "Subject": "Handed over, edited"})

    run = reconcile_run()

    task.refresh_from_db()
    assert task.name == "Handed over, edited"
    assert task.owner.username == "alice"  # an unmapped owner is skipped, not applied
    assert (run.checked, run.twins_missing) == (1, 0)


def test_a_desynced_task_is_left_alone(bidi, sf, alice_sf_id):
    salesforce_id, task = linked(sf, alice_sf_id, Subject="Stopped")
    tasks.task_desync(task=task)
    sf.Task.delete(salesforce_id)

    run = reconcile_run()

    assert Task.objects.filter(pk=task.pk).exists()
    assert (run.checked, run.twins_missing) == (0, 0)


def test_reconcile_with_sync_off_says_so_and_compares_nothing(org):
    run = reconcile_run()
    assert run.error == "Sync is off: nothing was compared."
    with pytest.raises(CommandError, match="Sync is off"):
        call_command("sync_reconcile")


def test_starting_one_through_the_api_with_sync_off_answers_409_with_the_reason(org, admin_api):
    response = admin_api.post("/api/v1/sync/reconcile-runs/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Reconcile needs Auto Sync and Bi-directional Sync on, with a primary connection."
    }
    assert not ReconcileRun.objects.exists()


def test_an_admin_starts_one_through_the_api_and_a_csm_cannot(
    bidi, sf, alice_sf_id, admin_api, api, committed
):
    linked(sf, alice_sf_id, Subject="Through the API")
    api.force_authenticate(UserFactory(username="carol"))
    assert api.post("/api/v1/sync/reconcile-runs/").status_code == 403

    with committed():
        response = admin_api.post("/api/v1/sync/reconcile-runs/")

    assert response.status_code == 202
    run = ReconcileRun.objects.get(pk=response.json()["id"])
    assert run.finished_at is not None and run.checked == 1
    listed = admin_api.get("/api/v1/sync/reconcile-runs/").json()
    assert listed["results"][0]["checked"] == 1
