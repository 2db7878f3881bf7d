"""The task's sync record in the admin is there to read: its agreements, uncertain-writes
ledger and unseen windows are the engine's working memory, and an admin's edit of one (say
`{"bogus": 1}` typed into the ledger) made every push of the cycle fail."""

import pytest
from django.urls import reverse

from tasks.models import TaskSyncRecord
from tests.factories import AdminFactory, SyncRecordFactory, TaskFactory

pytestmark = pytest.mark.django_db
INTERNALS = ("agreed_values", "agreed_cockpit", "uncertain_writes", "unseen_windows", "error_kind")


def test_the_admin_task_page_shows_the_sync_state_and_no_field_of_the_engine_s_memory(client):
    task = TaskFactory(name="Kick-off call")
    SyncRecordFactory(task=task, salesforce_id="00T000000000001AAA")
    client.force_login(AdminFactory())

    page = client.get(reverse("admin:tasks_task_change", args=[task.pk])).content.decode()

    assert "00T000000000001AAA" in page
    for name in INTERNALS:
        assert f'name="sync_record-0-{name}"' not in page


def test_a_post_with_the_engine_s_memory_in_it_changes_nothing_of_the_sync_record(client):
    task = TaskFactory(name="Kick-off call", details="")
    record = SyncRecordFactory(task=task, salesforce_id="00T000000000001AAA")
    before = TaskSyncRecord.objects.filter(pk=record.pk).values().get()
    client.force_login(AdminFactory())
    url = reverse("admin:tasks_task_change", args=[task.pk])
    form = client.get(url).context["adminform"].form
    data = {b.html_name: "" if b.value() is None else str(b.value()) for b in form}
    data |= {f"initial-{k}": v for k, v in list(data.items())}
    data |= {
        "details": "Edited in the admin",
        "sync_record-TOTAL_FORMS": "1",
        "sync_record-INITIAL_FORMS": "1",
        "sync_record-MIN_NUM_FORMS": "0",
        "sync_record-MAX_NUM_FORMS": "1",
        "sync_record-0-id": str(record.pk),
        "sync_record-0-task": str(task.pk),
        "sync_record-0-uncertain_writes": '{"bogus": 1}',
        "sync_record-0-agreed_values": "[]",
        "sync_record-0-salesforce_id": "00T000000000002AAA",
    }

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    task.refresh_from_db()
    assert task.details == "Edited in the admin"  # the task's own fields still save
    after = TaskSyncRecord.objects.filter(pk=record.pk).values().get()
    assert {k: after[k] for k in before if k != "state"} == {
        k: before[k] for k in before if k != "state"
    }
