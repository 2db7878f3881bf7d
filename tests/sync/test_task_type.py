"""The task type syncs with Salesforce's Type through a picklist mapping, as Status and Priority
do (issue 18: a "Call" went out as Type = null and could not be mapped). Against the emulator,
whose Task Type offers Call, Email, Meeting and Other."""

import pytest

from adminconfig import services as config
from adminconfig.models import PicklistMapping
from cockpit.selectors import task_differences
from tasks.models import Task, TaskType
from tests.sync.test_mapping_changes import connection, pull, push, remote, synced

pytestmark = pytest.mark.django_db


def kind(name: str) -> TaskType:
    return TaskType.objects.get(name=name)


def test_a_task_type_goes_out_as_the_mapped_salesforce_type(bidi, sf, alice):
    _, call = synced(alice, name="Kick-off call", type=kind("Call"))
    _, follow_up = synced(alice, name="Check in", type=kind("Follow-up"))
    _, none = synced(alice, name="No type")

    assert remote(sf, call)["Type"] == "Call"
    # Follow-up has no mapping by default, and a task may have no type: no Type, no guess.
    assert remote(sf, follow_up)["Type"] is None
    assert remote(sf, none)["Type"] is None


def test_an_admin_maps_a_type_to_another_salesforce_value(bidi, sf, alice):
    config.picklist_mapping_save(
        connection=connection(),
        picklist=PicklistMapping.Picklist.TYPE,
        cockpit_value="Follow-up",
        salesforce_values=["Other"],
        resync=False,
    )
    _, sf_id = synced(alice, name="Check in", type=kind("Follow-up"))

    assert remote(sf, sf_id)["Type"] == "Other"


def test_a_salesforce_type_comes_back_as_the_cockpit_type(bidi, sf, alice):
    task, sf_id = synced(alice, name="Kick-off call", type=kind("Call"))
    cleared, cleared_id = synced(alice, name="Was a meeting", type=kind("Meeting"))
    sf.Task.update(sf_id, {"Type": "Meeting"})
    sf.Task.update(cleared_id, {"Type": None})
    created = sf.Task.create(
        {
            "Subject": "Logged in Salesforce",
            "Type": "Email",
            "OwnerId": remote(sf, sf_id)["OwnerId"],
        }
    )

    pull()

    task.refresh_from_db()
    cleared.refresh_from_db()
    assert task.type == kind("Meeting")
    assert cleared.type is None
    assert Task.objects.get(sync_record__salesforce_id=created["id"]).type == kind("Email")


def test_a_salesforce_type_without_a_mapping_is_kept_and_said_in_words(bidi, sf, alice, client):
    task, sf_id = synced(alice, name="Kick-off call", type=kind("Call"))
    sf.Task.update(sf_id, {"Type": "Other"})

    pull()

    task.refresh_from_db()
    assert task.type == kind("Call")  # Cockpit has no type for it: it keeps its own
    words = [d.words for d in task_differences([task])[task.pk]]
    assert words == ["In Salesforce: Other"]
    client.force_login(alice)
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert '<dt>Type</dt><dd>Call <span class="sf-diff">In Salesforce: Other</span>' in page
    assert "Type in Salesforce: Other" in page


def test_a_twin_linked_before_types_were_mapped_keeps_the_type_a_salesforce_user_chose(
    bidi, sf, alice
):
    """What migration adminconfig.0009 does to a running org: the Type rows appear under
    twins agreed without a Type. Each side's value meets the other's as a newly mapped field's
    does: an empty side takes the other's, never the other way round."""
    rows = list(PicklistMapping.objects.filter(picklist="type").values())
    PicklistMapping.objects.filter(picklist="type").delete()
    untyped, untyped_id = synced(alice, name="No type in Cockpit")
    typed, typed_id = synced(alice, name="A call", type=kind("Call"))
    assert remote(sf, typed_id)["Type"] is None  # before: Type did not sync
    sf.Task.update(untyped_id, {"Type": "Meeting"})  # a Salesforce user's choice
    PicklistMapping.objects.bulk_create(PicklistMapping(**row) for row in rows)

    pull()
    push()

    untyped.refresh_from_db()
    assert remote(sf, untyped_id)["Type"] == "Meeting"
    assert untyped.type == kind("Meeting")
    assert remote(sf, typed_id)["Type"] == "Call"
