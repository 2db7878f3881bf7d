"""A CSM's change back to the value both sides agreed on is a change all the same (issue 16,
found by the model's owners rules): a task handed to Bob and back to its CSM before a push,
while a Salesforce user gave it to Dave (who has no Cockpit account), must not end with Dave
in Salesforce and no conflict; it ends as it would had a push run between the two changes."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from adminconfig import services as config
from adminconfig.models import SalesforceConnection
from sync import inbound
from sync.mapping import FieldRule, MappingSpec, PicklistRule
from sync.models import Conflict
from sync.payload import salesforce_fields_of
from sync.push import outbox_push
from tasks import services as tasks
from tasks.models import TaskSyncRecord
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def push():
    SalesforceConnection.objects.update(retry_at=None)
    return outbox_push()


def pull():
    assert inbound.pull_run(force=True).ran


def user_id(sf, email):
    return sf.query(f"SELECT Id FROM User WHERE Email = '{email}'")["records"][0]["Id"]


@pytest.fixture
def bob(sf):
    bob = UserFactory(username="bob", email="bob@example.com")
    config.user_mapping_set(user=bob, salesforce_user_id=user_id(sf, "bob@example.com"))
    return bob


@pytest.fixture
def synced(bidi, alice, bob):
    """Alice's task, pushed: both sides agree she owns it."""
    task = tasks.task_create(owner=alice, name="Renewal call")
    push()
    return task


def twin(sf, task):
    return sf.Task.get(TaskSyncRecord.objects.get(task=task).salesforce_id)


def test_a_task_handed_back_to_its_csm_while_salesforce_gave_it_to_dave_goes_back_to_her(
    synced, sf, alice, bob, alice_sf_id
):
    dave = user_id(sf, "dave@example.com")
    tasks.task_update(task=synced, owner=bob)  # not pushed yet
    sf.Task.update(twin(sf, synced)["Id"], {"OwnerId": dave})
    pull()  # sees nothing: Dave's tasks are no mapped owner's

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        tasks.task_update(task=synced, owner=alice)  # handed back, after Dave got it
        push()
        pull()

    # Both sides changed the owner since they agreed: the latest change (hers) wins, and the
    # conflict names Dave, the value Salesforce loses.
    assert twin(sf, synced)["OwnerId"] == alice_sf_id
    conflict = Conflict.objects.get(task_id=synced.pk, salesforce_field="OwnerId")
    assert (conflict.cockpit_value, conflict.salesforce_value, conflict.winner) == (
        alice.pk,
        dave,
        "cockpit",
    )


def test_a_task_salesforce_holds_for_dave_goes_back_when_its_csm_hands_it_on_and_back(
    synced, sf, alice, bob, alice_sf_id
):
    dave = user_id(sf, "dave@example.com")
    sf.Task.update(twin(sf, synced)["Id"], {"OwnerId": dave})
    tasks.task_update(task=synced, details="Agenda")
    push()  # merges first: Dave is kept in Salesforce, Alice in Cockpit, as agreed
    assert twin(sf, synced)["OwnerId"] == dave

    tasks.task_update(task=synced, owner=bob)
    tasks.task_update(task=synced, owner=alice)
    push()

    # A CSM chose the owner: as with a push between her two changes, Salesforce follows.
    assert twin(sf, synced)["OwnerId"] == alice_sf_id
    assert not Conflict.objects.exists()


def test_a_task_completed_and_reopened_while_salesforce_changed_its_status_is_a_conflict(
    synced, sf
):
    tasks.task_complete(task=synced)
    sf.Task.update(twin(sf, synced)["Id"], {"Status": "In Progress"})
    tasks.task_reopen(task=synced)

    push()
    pull()

    # A tie to the second goes to Salesforce; the CSM's reopen is named, not lost silently.
    synced.refresh_from_db()
    assert (synced.status.value, twin(sf, synced)["Status"]) == ("In Progress", "In Progress")
    conflict = Conflict.objects.get(task_id=synced.pk, salesforce_field="Status")
    assert (conflict.cockpit_value, conflict.salesforce_value) == ("Open", "In Progress")


def test_a_change_back_with_nothing_changed_in_salesforce_sends_nothing(synced, alice, bob):
    tasks.task_update(task=synced, owner=bob)
    tasks.task_update(task=synced, owner=alice)

    result = push()

    assert (result.pushed, result.unchanged) == (0, 1)
    record = TaskSyncRecord.objects.get(task=synced)
    assert "@touched" not in record.agreed_cockpit  # the next merge starts afresh


def test_a_hand_back_pushed_without_a_read_meets_the_reassignment_to_dave(
    bidi, sf, alice, bob, alice_sf_id, settings
):
    """The push that skips the read (a conditional write, README guarantee 13) sends the owner
    handed back: Salesforce refuses it (the twin changed since), and the read and merge that
    follow see both changes."""
    settings.SALESFORCE_TIMEOUT_SECONDS = 2.0
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Quarterly review"})["id"]
    bidi.set_clock_offset(10)  # pulled well past its stamp's second: its version is settled
    pull()
    record = TaskSyncRecord.objects.select_related("task").get(salesforce_id=salesforce_id)
    assert record.salesforce_modified_at is not None
    task = record.task
    dave = user_id(sf, "dave@example.com")
    bidi.set_clock_offset(20)
    sf.Task.update(salesforce_id, {"OwnerId": dave})
    tasks.task_update(task=task, owner=bob)
    tasks.task_update(task=task, owner=alice)

    push()

    # Salesforce's change is the later one on its clock: it wins, and the conflict names the
    # CSM's hand-back rather than dropping it.
    assert sf.Task.get(salesforce_id)["OwnerId"] == dave
    conflict = Conflict.objects.get(task_id=task.pk, salesforce_field="OwnerId")
    assert (conflict.cockpit_value, conflict.salesforce_value) == (alice.pk, dave)


def test_the_fields_a_change_wrote_are_found_under_the_mapping_whatever_it_names_them():
    spec = MappingSpec(
        fields=(
            FieldRule("name", "Subject", "text"),
            FieldRule("custom:region", "Region__c", "text"),
            FieldRule("custom:tier", "Tier__c", "text"),
        ),
        status=PicklistRule("Status", {}, "Not Started"),
        priority=PicklistRule("Priority", {}, "Normal"),
        type=PicklistRule("Type", {}, None, nullable=True),
    )

    found = salesforce_fields_of(spec, ["owner", "type", "custom:region", "completed_at"])

    # Only what was written: another custom field is no change (a Salesforce edit of it is
    # no conflict), and a field with no mapping travels nowhere.
    assert found == {"OwnerId", "Type", "Region__c"}
