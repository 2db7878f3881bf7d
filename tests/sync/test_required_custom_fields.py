"""A custom field an admin makes required is asked of the people who type in Cockpit, not of
Salesforce: a Salesforce change of a task that has no value for it (synced before the field
existed) comes in whole, and a task made in Salesforce is created without it. Only a
Salesforce change that empties a mapped required field is refused, and the sync log names the
field. Against the emulator."""

import pytest

from adminconfig.models import FieldMapping, SalesforceConnection
from sync import inbound
from sync.models import SyncEvent
from sync.push import outbox_push_all
from tasks import services as tasks
from tasks.models import CustomField, Task, TaskSyncRecord
from tests.factories import CustomFieldFactory

pytestmark = pytest.mark.django_db
NUMBER = CustomField.FieldType.NUMBER


@pytest.fixture
def sf(bidi):
    return bidi.simple_salesforce()


@pytest.fixture
def synced(bidi, alice, committed):
    """Alice's task, synced before the admin added a required field and mapped another."""
    with committed():
        task = tasks.task_create(owner=alice, name="Renewal call")
    outbox_push_all()
    assert TaskSyncRecord.objects.get(task=task).salesforce_id
    with committed():
        CustomFieldFactory(key="seats", label="Seats", field_type=NUMBER, required=True)
        CustomFieldFactory(key="effort", label="Effort", field_type=NUMBER)
        FieldMapping.objects.create(
            connection=SalesforceConnection.objects.get(is_primary=True),
            cockpit_field="custom:effort",
            salesforce_field="Effort_Hours__c",
            order=99,
        )
    return task


def pull():
    result = inbound.pull_run(force=True)
    assert result.ran and result.errors == []
    return result


def refusals():
    return list(
        SyncEvent.objects.filter(kind=SyncEvent.Kind.ERROR).values_list("message", flat=True)
    )


def test_a_salesforce_change_comes_in_whole_though_the_task_lacks_a_required_field(synced, sf):
    salesforce_id = TaskSyncRecord.objects.get(task=synced).salesforce_id
    sf.Task.update(salesforce_id, {"Subject": "Renewal call, moved", "Effort_Hours__c": 2.5})

    assert pull().updated == 1

    task = Task.objects.get(pk=synced.pk)
    assert task.name == "Renewal call, moved"
    assert task.custom_fields == {"effort": 2.5}
    assert refusals() == []


def test_a_task_made_in_salesforce_is_created_without_the_required_field(synced, sf):
    alice_sf = sf.query("SELECT Id FROM User WHERE Email = 'alice@example.com'")
    sf.Task.create({"Subject": "Made in Salesforce", "OwnerId": alice_sf["records"][0]["Id"]})

    assert pull().created == 1

    assert Task.objects.get(name="Made in Salesforce").custom_fields == {}
    assert refusals() == []


def test_emptying_a_mapped_required_field_in_salesforce_is_refused_and_named(synced, sf, committed):
    salesforce_id = TaskSyncRecord.objects.get(task=synced).salesforce_id
    sf.Task.update(salesforce_id, {"Effort_Hours__c": 3})
    pull()
    with committed():
        CustomField.objects.filter(key="effort").update(required=True)
    sf.Task.update(salesforce_id, {"Subject": "Emptied", "Effort_Hours__c": None})

    pull()

    task = Task.objects.get(pk=synced.pk)
    assert (task.name, task.custom_fields) == ("Renewal call", {"effort": 3})
    assert refusals() == ["Salesforce values refused by Cockpit: Effort: This field is required."]
