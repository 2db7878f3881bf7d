"""An admin's mapping or default change keeps the agreement (issue 16, item 1; README, "What
the sync guarantees", 11): one test per kind of change, each in the order of events that broke
it, against the real emulator over HTTPS (nothing in the request path is mocked)."""

import pytest

from adminconfig import services as config
from adminconfig.models import FieldMapping, PicklistMapping, ResyncRun, SalesforceConnection
from sync import inbound, resyncs
from sync.models import Conflict
from sync.push import outbox_push
from tasks import services as tasks
from tasks.models import Status, Task, TaskSyncRecord
from tests.factories import status

pytestmark = pytest.mark.django_db


def pull():
    result = inbound.pull_run(force=True)
    assert result.ran
    return result


def push():
    SalesforceConnection.objects.update(retry_at=None)
    return outbox_push()


def synced(alice, **fields):
    """A task of Alice's, pushed: its twin's Id."""
    task = tasks.task_create(owner=alice, **fields)
    push()
    return task, TaskSyncRecord.objects.get(task=task).salesforce_id


def resync(org):
    """Run the re-sync the last admin save started, as its worker would; the request log
    starts with it."""
    run = ResyncRun.objects.latest("pk")
    org.reset_request_log()
    resyncs.resync_run_begin(run_id=run.pk)
    push()
    run.refresh_from_db()
    assert run.is_finished
    return run


def writes(org):
    """Salesforce writes (PATCH calls) since the request log was reset."""
    return [name for name in org.request_log()["by_endpoint"] if name.startswith("PATCH")]


def remote(sf, salesforce_id):
    return sf.Task.get(salesforce_id)


def connection():
    return SalesforceConnection.objects.get(is_primary=True)


def subject_mapping():
    return FieldMapping.objects.get(connection=connection(), salesforce_field="Subject")


def subject_mapping_save(**changes):
    mapping = subject_mapping()
    return config.field_mapping_save(
        connection=connection(),
        cockpit_field=mapping.cockpit_field,
        salesforce_field=mapping.salesforce_field,
        direction=changes.get("direction", mapping.direction),
        editable=changes.get("editable", mapping.editable),
        mapping=mapping,
    )


def test_ticking_editable_off_and_on_writes_nothing_not_even_over_an_unmapped_value(
    bidi, sf, alice, alice_sf_id
):
    # The repro of issue 16: "Deferred" has no Cockpit value; a Salesforce user sets it.
    task, salesforce_id = synced(alice, name="Quarterly review")
    sf.Task.update(salesforce_id, {"Status": "Deferred"})
    pull()

    subject_mapping_save(editable=False)
    resync(bidi)
    subject_mapping_save(editable=True)
    resync(bidi)

    assert writes(bidi) == []
    twin = remote(sf, salesforce_id)
    assert twin["Status"] == "Deferred"
    assert twin["LastModifiedById"] == alice_sf_id  # never rewritten as the integration user
    task.refresh_from_db()
    assert task.status.value == "Open"
    assert Conflict.objects.count() == 0


def test_a_changed_default_status_rewrites_only_the_old_default_cockpit_wrote(bidi, sf, alice):
    blocked = Status.objects.create(value="Blocked", label="Blocked", order=40)
    written, written_id = synced(alice, name="Blocked, as Cockpit wrote it", status=blocked)
    chosen, chosen_id = synced(alice, name="Blocked, Deferred in Salesforce", status=blocked)
    sf.Task.update(chosen_id, {"Status": "Deferred"})
    mapped, mapped_id = synced(alice, name="Open")
    pull()
    assert remote(sf, written_id)["Status"] == "Not Started"  # the old default

    config.connection_update(connection=connection(), default_status="Waiting on someone else")
    resync(bidi)

    assert remote(sf, written_id)["Status"] == "Waiting on someone else"
    assert remote(sf, chosen_id)["Status"] == "Deferred"  # a Salesforce user's value stays
    assert remote(sf, mapped_id)["Status"] == "Not Started"  # Open is mapped: no change
    assert Conflict.objects.count() == 0
    assert {t.status.value for t in Task.objects.all()} == {"Blocked", "Open"}


def test_a_removed_field_mapping_stops_syncing_it_and_mapping_it_again_starts_a_new_agreement(
    bidi, sf, alice
):
    empty, empty_id = synced(alice, name="No details yet")
    both, both_id = synced(alice, name="Details on both sides", details="Agenda")
    same, same_id = synced(alice, name="Same details", details="Shared")
    mapping = FieldMapping.objects.get(connection=connection(), salesforce_field="Description")

    config.field_mapping_delete(mapping=mapping)
    resync(bidi)
    assert writes(bidi) == []
    sf.Task.update(empty_id, {"Description": "Written in Salesforce"})
    sf.Task.update(both_id, {"Description": "Another agenda"})
    pull()
    both.refresh_from_db()
    assert both.details == "Agenda"  # not mapped: nothing comes in

    config.field_mapping_save(
        connection=connection(), cockpit_field="details", salesforce_field="Description"
    )
    resync(bidi)

    # An empty side takes the other's value; two values are a conflict under the policy
    # (latest change wins: Salesforce's edit came last); equal values simply agree.
    empty.refresh_from_db()
    both.refresh_from_db()
    assert empty.details == "Written in Salesforce"
    assert remote(sf, empty_id)["Description"] == "Written in Salesforce"
    assert both.details == "Another agenda"
    conflict = Conflict.objects.get()
    assert (conflict.task_id, conflict.salesforce_field) == (both.pk, "Description")
    assert (conflict.cockpit_value, conflict.salesforce_value) == ("Agenda", "Another agenda")
    assert conflict.winner == "salesforce"
    assert writes(bidi) == []  # Salesforce won or agreed everywhere: nothing to write
    assert remote(sf, same_id)["Description"] == "Shared"


def test_a_removed_picklist_value_leaves_salesforce_holding_it(bidi, sf, alice, alice_sf_id):
    task, salesforce_id = synced(alice, name="Started", status=status("In Progress"))
    row = PicklistMapping.objects.get(
        connection=connection(), picklist="status", cockpit_value="In Progress"
    )
    sf.Task.update(salesforce_id, {"Subject": "Started (renamed in Salesforce)"})
    pull()

    config.picklist_mapping_delete(mapping=row)
    resync(bidi)

    assert writes(bidi) == []
    assert remote(sf, salesforce_id)["Status"] == "In Progress"
    assert remote(sf, salesforce_id)["LastModifiedById"] == alice_sf_id
    task.refresh_from_db()
    assert task.status.value == "In Progress"


def test_a_direction_change_keeps_agreements_and_settles_what_one_way_let_drift(bidi, sf, alice):
    drifted, drifted_id = synced(alice, name="Plan")
    kept, kept_id = synced(alice, name="Kept")

    subject_mapping_save(direction=FieldMapping.Direction.TO_SALESFORCE)
    resync(bidi)
    assert writes(bidi) == []
    sf.Task.update(drifted_id, {"Subject": "Renamed in Salesforce"})
    pull()
    drifted.refresh_from_db()
    assert drifted.name == "Plan"  # one way out: Salesforce's edit is ignored

    subject_mapping_save(direction=FieldMapping.Direction.BOTH)
    resync(bidi)

    # The two never agreed on the Salesforce edit: a conflict, settled by the policy (the
    # Salesforce edit came last), recorded; the task that agreed is not written.
    drifted.refresh_from_db()
    assert drifted.name == "Renamed in Salesforce"
    conflict = Conflict.objects.get()
    assert (conflict.cockpit_value, conflict.salesforce_value) == ("Plan", "Renamed in Salesforce")
    assert writes(bidi) == []
    assert remote(sf, kept_id)["Subject"] == "Kept"

    subject_mapping_save(direction=FieldMapping.Direction.FROM_SALESFORCE)
    resync(bidi)
    assert writes(bidi) == []


def test_changed_picklist_values_rewrite_cockpits_own_value_and_meet_newly_mapped_ones(
    bidi, sf, alice, alice_sf_id, committed
):
    config.sync_settings_update(conflict_policy="salesforce")
    own, own_id = synced(alice, name="Open, as Cockpit wrote it")
    agrees, agrees_id = synced(alice, name="Open, Deferred in Salesforce")
    differs, differs_id = synced(alice, name="Started, Deferred", status=status("In Progress"))
    sf.Task.update(agrees_id, {"Status": "Deferred"})
    sf.Task.update(differs_id, {"Status": "Deferred"})
    pull()
    row = PicklistMapping.objects.get(
        connection=connection(), picklist="status", cockpit_value="Open"
    )

    config.picklist_mapping_save(
        connection=connection(),
        picklist="status",
        cockpit_value="Open",
        salesforce_values=["Waiting on someone else", "Deferred", "Not Started"],
        mapping=row,
    )
    resync(bidi)

    # Cockpit's own translation follows the new first value; a Salesforce user's Deferred,
    # now mapped to Open, agrees with an Open task and meets an In Progress one as a conflict.
    assert remote(sf, own_id)["Status"] == "Waiting on someone else"
    assert remote(sf, agrees_id)["Status"] == "Deferred"
    assert remote(sf, agrees_id)["LastModifiedById"] == alice_sf_id
    assert remote(sf, differs_id)["Status"] == "Deferred"
    differs.refresh_from_db()
    assert differs.status.value == "Open"  # the policy: Salesforce wins
    conflict = Conflict.objects.get()
    assert (conflict.task_id, conflict.cockpit_value, conflict.salesforce_value) == (
        differs.pk,
        "In Progress",
        "Deferred",
    )
