"""No lost update inside Cockpit (issue 16, item 2): a CSM's edit and a pull of another field of
the same task both survive, whichever commits first. Each test fixes one interleaving of a
write path with a pull from the real emulator (a Salesforce user renames the task through
simple-salesforce); tests/tasks/test_concurrent_saves.py runs them as two transactions at
once on PostgreSQL."""

import pytest
from django.urls import reverse

from adminconfig.models import SalesforceConnection
from sync import inbound, resolve
from sync.models import Conflict
from sync.push import outbox_push
from tasks import services as tasks
from tasks.models import Task, TaskSyncRecord
from tests.factories import AdminFactory, api_as

pytestmark = pytest.mark.django_db

RENAMED = "Renamed in Salesforce"


def pull():
    result = inbound.pull_run(force=True)
    assert result.ran
    return result


def push():
    SalesforceConnection.objects.update(retry_at=None)
    return outbox_push()


@pytest.fixture
def synced(bidi, alice):
    task = tasks.task_create(owner=alice, name="Kick-off", details="Agenda")
    push()
    return task


def renamed_in_salesforce(sf, task):
    sf.Task.update(TaskSyncRecord.objects.get(task=task).salesforce_id, {"Subject": RENAMED})
    pull()


def twin(sf, task):
    return sf.Task.get(TaskSyncRecord.objects.get(task=task).salesforce_id)


def both_survive(sf, task, *, details, conflicts=0):
    push()
    pull()
    task.refresh_from_db()
    assert (task.name, task.details) == (RENAMED, details)
    remote = twin(sf, task)
    assert (remote["Subject"], remote["Description"]) == (RENAMED, details)
    assert Conflict.objects.count() == conflicts


def posted(form, **typed):
    """What a browser posts for this rendered form: every field, the hidden copy of what it
    showed, and what the user typed over it."""
    data = {}
    for bound in form:
        value = bound.value()
        shown = "" if value is None else str(value)
        data[bound.html_name] = shown
        if bound.field.show_hidden_initial:
            # As rendered: a re-shown form carries the copy it was given.
            data[bound.html_initial_name] = form.data.get(bound.html_initial_name, shown)
    data.update(typed)
    return data


def test_a_save_from_a_copy_read_before_a_pull_keeps_the_pulled_name(synced, sf):
    copy = Task.objects.get(pk=synced.pk)  # read by the CSM's request
    renamed_in_salesforce(sf, synced)  # a pull commits meanwhile

    tasks.task_update(task=copy, details="Edited by the CSM")

    both_survive(sf, synced, details="Edited by the CSM")


def test_a_pull_while_the_edit_page_is_open_survives_its_save(synced, sf, client, alice):
    client.force_login(alice)
    page = client.get(reverse("task-edit", args=[synced.pk]))
    renamed_in_salesforce(sf, synced)

    response = client.post(
        reverse("task-edit", args=[synced.pk]),
        posted(page.context["form"], details="Edited on the page"),
    )

    assert response.status_code == 302
    both_survive(sf, synced, details="Edited on the page")


def test_a_field_changed_while_the_page_was_open_is_refused_then_saved_when_seen(
    synced, sf, client, alice
):
    client.force_login(alice)
    page = client.get(reverse("task-edit", args=[synced.pk]))
    renamed_in_salesforce(sf, synced)

    refused = client.post(
        reverse("task-edit", args=[synced.pk]),
        posted(page.context["form"], name="Kick-off call"),
    )

    assert refused.status_code == 200
    assert "Changed meanwhile (now “Renamed in Salesforce”)" in refused.content.decode()
    synced.refresh_from_db()
    assert synced.name == RENAMED  # nothing was saved
    # Saving the refused form again says "I have seen it": the CSM's name goes out.
    again = client.post(reverse("task-edit", args=[synced.pk]), posted(refused.context["form"]))
    assert again.status_code == 302
    push()
    synced.refresh_from_db()
    assert synced.name == twin(sf, synced)["Subject"] == "Kick-off call"


def test_a_page_without_the_shown_values_changes_only_what_differs_from_the_stored_task(
    synced, sf, client, alice
):
    # A script posting the form without the hidden copies: compared with what is stored.
    client.force_login(alice)
    page = client.get(reverse("task-edit", args=[synced.pk]))
    renamed_in_salesforce(sf, synced)
    data = {
        k: v
        for k, v in posted(page.context["form"], details="Scripted").items()
        if not k.startswith("initial-")
    }
    data["name"] = RENAMED

    assert client.post(reverse("task-edit", args=[synced.pk]), data).status_code == 302
    both_survive(sf, synced, details="Scripted")


def test_a_pull_while_the_admin_page_is_open_survives_its_save(synced, sf, client):
    client.force_login(AdminFactory())
    url = reverse("admin:tasks_task_change", args=[synced.pk])
    page = client.get(url)
    renamed_in_salesforce(sf, synced)
    data = posted(page.context["adminform"].form, details="Edited in the admin")
    for prefix in ("sync_record",):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "1",
                f"{prefix}-INITIAL_FORMS": "1",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1",
                f"{prefix}-0-id": str(TaskSyncRecord.objects.get(task=synced).pk),
                f"{prefix}-0-task": str(synced.pk),
            }
        )

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    both_survive(sf, synced, details="Edited in the admin")


def test_settling_a_conflict_keeps_a_field_pulled_meanwhile(synced, sf, sync_admin):
    conflict = Conflict.objects.create(
        task_id=synced.pk,
        salesforce_id=TaskSyncRecord.objects.get(task=synced).salesforce_id,
        salesforce_field="Description",
        cockpit_value="Agenda, settled",
        salesforce_value="Agenda",
        winner="salesforce",
        policy="latest",
    )
    renamed_in_salesforce(sf, synced)

    resolve.conflict_resolve(conflict=conflict, keep="cockpit", by=sync_admin)

    both_survive(sf, synced, details="Agenda, settled", conflicts=1)


def test_a_pull_after_an_unpushed_csm_edit_keeps_both(synced, sf):
    tasks.task_update(task=Task.objects.get(pk=synced.pk), details="Edited first")
    renamed_in_salesforce(sf, synced)  # pulled before the edit's push

    both_survive(sf, synced, details="Edited first")


def test_an_api_put_from_a_version_read_before_a_pull_is_refused_with_412(synced, sf, alice):
    api = api_as(alice)
    url = f"/api/v1/tasks/{synced.pk}/"
    read = api.get(url)
    renamed_in_salesforce(sf, synced)
    body = {**read.json(), "details": "Edited through the API"}

    refused = api.put(url, body, format="json", HTTP_IF_MATCH=read["ETag"])

    assert refused.status_code == 412
    assert "changed since you read it" in refused.json()["detail"]
    synced.refresh_from_db()
    assert (synced.name, synced.details) == (RENAMED, "Agenda")  # nothing saved
    again = api.get(url)
    body = {**again.json(), "details": "Edited through the API"}
    saved = api.put(url, body, format="json", HTTP_IF_MATCH=again["ETag"])
    assert saved.status_code == 200
    assert saved["ETag"] != again["ETag"]
    both_survive(sf, synced, details="Edited through the API")


def test_an_api_patch_changes_only_the_fields_it_sends(synced, sf, alice):
    api = api_as(alice)
    url = f"/api/v1/tasks/{synced.pk}/"
    api.get(url)
    renamed_in_salesforce(sf, synced)

    response = api.patch(url, {"details": "Patched"}, format="json")

    assert response.status_code == 200
    both_survive(sf, synced, details="Patched")
