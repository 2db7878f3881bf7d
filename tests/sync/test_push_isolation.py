"""One task whose data breaks the push (a bug meeting a record nobody foresaw: here a sync
record's uncertain-writes ledger that is not a list) fails alone: every other change of the
cycle still reaches Salesforce, and the broken one waits, retried, with the error recorded.
Against the emulator."""

import pytest

from sync.models import OutboxEntry
from sync.push import outbox_push_all
from tasks import services as tasks
from tasks.models import Task, TaskSyncRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def sf(bidi):
    return bidi.simple_salesforce()


def test_a_task_whose_data_breaks_the_push_does_not_hold_back_the_others(bidi, sf, alice):
    made = [tasks.task_create(owner=alice, name=f"Task {n}") for n in range(5)]
    outbox_push_all()
    twins = dict(TaskSyncRecord.objects.values_list("task_id", "salesforce_id"))
    assert len(twins) == 5
    broken = made[2]
    TaskSyncRecord.objects.filter(task=broken).update(uncertain_writes={"bogus": 1})

    for task in made:
        tasks.task_update(task=Task.objects.get(pk=task.pk), name=f"{task.name}, renamed")
    result = outbox_push_all()

    for task in made:
        subject = sf.Task.get(twins[task.pk])["Subject"]
        assert subject == (task.name if task == broken else f"{task.name}, renamed")
    assert result.pushed == 4 and result.retried == 1
    entry = OutboxEntry.objects.get(task_id=broken.pk, state=OutboxEntry.State.PENDING)
    assert "Unexpected error while pushing (TypeError" in entry.last_error
