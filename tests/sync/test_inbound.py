"""Inbound sync against the real emulator: Salesforce changes and deletions reach Cockpit."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from adminconfig import services as config
from sync import inbound, selectors
from sync.models import Conflict, Lease, OutboxEntry, PullState, SyncEvent
from sync.push import outbox_push_all
from tasks import services as tasks
from tasks.models import Company, Task, TaskSyncRecord
from tests.factories import UserFactory, priority

pytestmark = pytest.mark.django_db


@pytest.fixture
def bidi(org, committed):
    with committed():
        config.sync_settings_update(bidirectional_sync=True)
    return org


@pytest.fixture
def sf(bidi):
    return bidi.simple_salesforce()


def sf_user(sf, email):
    return sf.query(f"SELECT Id FROM User WHERE Email = '{email}'")["records"][0]["Id"]


def sf_create(sf, **fields):
    return sf.Task.create(fields)["id"]


def pull():
    result = inbound.pull_run(force=True)
    assert result.ran
    assert result.errors == []
    return result


def linked_task(salesforce_id):
    return TaskSyncRecord.objects.select_related("task").get(salesforce_id=salesforce_id).task


def test_the_first_pull_imports_recent_tasks_of_mapped_owners_only(bidi, sf, alice):
    alice_id = sf_user(sf, "alice@example.com")
    sf_create(sf, Subject="Three days old", OwnerId=alice_id)
    # Three days later, on both clocks: the first import looks back 24 hours.
    later = timezone.now() + dt.timedelta(days=3)
    bidi.set_clock_offset(3 * 24 * 3600)
    sf = bidi.simple_salesforce()  # tokens of three days ago have expired
    recent = sf_create(
        sf, Subject="Recent", OwnerId=alice_id, ActivityDate="2026-12-02", Priority="High"
    )
    sf_create(sf, Subject="Dave's", OwnerId=sf_user(sf, "dave@example.com"))

    with time_machine.travel(later):
        result = pull()

    assert result.created == 1
    task = linked_task(recent)
    assert (task.name, task.owner, task.due_date) == ("Recent", alice, dt.date(2026, 12, 2))
    assert (task.status.value, task.priority.value) == ("Open", "High")
    assert not Task.objects.filter(name__in=["Three days old", "Dave's"]).exists()
    assert not OutboxEntry.objects.exists()  # nothing echoes back
    assert PullState.objects.get(pk=1).imported == 1  # what the import's progress shows


def test_edits_and_completion_in_salesforce_reach_cockpit_without_echo(bidi, sf, alice):
    sf_id = sf_create(sf, Subject="Call", OwnerId=sf_user(sf, "alice@example.com"))
    pull()

    sf.Task.update(sf_id, {"Subject": "Call back", "Status": "Completed", "Description": "Done"})
    result = pull()

    task = linked_task(sf_id)
    assert result.updated == 1
    assert (task.name, task.details, task.status.value) == ("Call back", "Done", "Complete")
    assert task.completed_at is not None
    assert not OutboxEntry.objects.exists()


def test_a_push_is_not_applied_again_when_its_echo_comes_back(bidi, alice, committed):
    with committed():
        task = tasks.task_create(owner=alice, name="Pushed", priority=priority("High"))
    updated_at = Task.objects.get(pk=task.pk).updated_at

    result = pull()

    assert result.updated == 0
    assert result.unchanged >= 1
    assert Task.objects.get(pk=task.pk).updated_at == updated_at
    assert OutboxEntry.objects.filter(state="pending").count() == 0


def test_a_salesforce_delete_deletes_the_cockpit_task_without_echo(bidi, sf, alice):
    sf_id = sf_create(sf, Subject="To delete", OwnerId=sf_user(sf, "alice@example.com"))
    pull()
    task_id = linked_task(sf_id).pk

    sf.Task.delete(sf_id)
    result = pull()

    assert result.deleted == 1
    assert not Task.objects.filter(pk=task_id).exists()
    assert not OutboxEntry.objects.exists()


def test_deletions_made_while_sync_was_off_are_applied_when_it_comes_back(
    bidi, sf, alice, committed
):
    sf_id = sf_create(sf, Subject="Deleted while off", OwnerId=sf_user(sf, "alice@example.com"))
    pull()
    with committed():
        config.sync_settings_update(auto_sync=False, bidirectional_sync=False)
    sf.Task.delete(sf_id)
    # Sync was off for days: its knowledge of deletions is old.
    PullState.objects.update(
        deleted_until=PullState.objects.get().deleted_until - dt.timedelta(days=3)
    )
    with committed():
        config.sync_settings_update(auto_sync=True, bidirectional_sync=True)

    assert pull().deleted == 1


def test_an_unmapped_salesforce_status_does_not_sync_and_is_logged(bidi, sf, alice):
    sf_id = sf_create(sf, Subject="Deferred one", OwnerId=sf_user(sf, "alice@example.com"))
    pull()

    sf.Task.update(sf_id, {"Status": "Deferred", "Subject": "Deferred, renamed"})
    pull()

    task = linked_task(sf_id)
    assert task.status.value == "Open"  # kept
    assert task.name == "Deferred, renamed"  # the other field still syncs
    event = SyncEvent.objects.get(kind=SyncEvent.Kind.SKIPPED)
    assert "Status 'Deferred' has no Cockpit value mapped" in event.message


def test_changes_to_different_fields_on_both_sides_are_merged(
    bidi, sf, alice, django_capture_on_commit_callbacks, committed
):
    with committed():
        task = tasks.task_create(owner=alice, name="Merge me")
    sf_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    sf.Task.update(sf_id, {"Subject": "Merged subject"})
    with django_capture_on_commit_callbacks(execute=False):
        tasks.task_update(task=task, priority=priority("High"))  # not pushed yet

    result = pull()
    outbox_push_all()

    task.refresh_from_db()
    assert (task.name, task.priority.value) == ("Merged subject", "High")
    assert result.conflicts == 0
    remote = sf.Task.get(sf_id)
    assert (remote["Subject"], remote["Priority"]) == ("Merged subject", "High")


@pytest.mark.parametrize(
    ("policy", "expected_name", "winner"),
    [
        ("salesforce", "Salesforce's name", "salesforce"),
        ("cockpit", "Cockpit's name", "cockpit"),
        ("latest", "Salesforce's name", "salesforce"),  # Salesforce changed it last
    ],
)
def test_the_same_field_changed_on_both_sides_follows_the_policy_and_is_recorded(
    bidi, sf, alice, django_capture_on_commit_callbacks, committed, policy, expected_name, winner
):
    config.sync_settings_update(conflict_policy=policy)
    with committed():
        task = tasks.task_create(owner=alice, name="Original")
    sf_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    with django_capture_on_commit_callbacks(execute=False):
        tasks.task_update(task=task, name="Cockpit's name")
    sf.Task.update(sf_id, {"Subject": "Salesforce's name"})

    with committed():
        result = pull()
    outbox_push_all()

    task.refresh_from_db()
    assert result.conflicts == 1
    assert task.name == expected_name
    assert sf.Task.get(sf_id)["Subject"] == expected_name  # both sides agree again
    conflict = Conflict.objects.get()
    assert (conflict.salesforce_field, conflict.winner, conflict.policy) == (
        "Subject",
        winner,
        policy,
    )


def test_the_account_becomes_the_company_and_the_owner_follows_the_user_mapping(bidi, sf, alice):
    bob = UserFactory(username="bob", email="bob@example.com")
    config.users_match_by_email(connection=selectors.outbound_connection())
    account = sf.Account.create({"Name": "Initech"})["id"]
    sf_id = sf_create(
        sf, Subject="Account task", OwnerId=sf_user(sf, "alice@example.com"), WhatId=account
    )
    pull()
    assert linked_task(sf_id).company == Company.objects.get(salesforce_account_id=account)
    assert linked_task(sf_id).company.name == "Initech"

    sf.Task.update(sf_id, {"OwnerId": sf_user(sf, "bob@example.com")})
    pull()

    assert linked_task(sf_id).owner == bob


def test_a_pull_of_2500_changes_costs_three_api_calls(bidi, sf, alice):
    alice_id = sf_user(sf, "alice@example.com")
    for offset in range(0, 2500, 200):
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={
                "records": [
                    {"attributes": {"type": "Task"}, "Subject": f"Bulk {n}", "OwnerId": alice_id}
                    for n in range(offset, min(offset + 200, 2500))
                ]
            },
        )
    bidi.reset_request_log()

    result = pull()

    assert result.created == 2500
    assert result.api_calls == 3  # two queryAll pages of 2,000 and one getDeleted
    assert bidi.api_calls() == 3


def test_only_one_worker_pulls_at_a_time_and_the_interval_is_respected(bidi):
    # Another machine holds the engine lease (pulling or pushing) for the next minute.
    Lease.objects.update_or_create(
        name="engine",
        defaults={"token": "elsewhere", "locked_until": timezone.now() + dt.timedelta(minutes=1)},
    )
    assert inbound.pull_run().ran is False
    Lease.objects.filter(name="engine").update(locked_until=None)

    assert inbound.pull_run(force=True).ran is True
    assert inbound.pull_run().ran is False  # the 60 s interval has not passed


def test_pulls_and_conflicts_through_the_api(bidi, sf, alice, admin_api):
    sf_create(sf, Subject="Via API", OwnerId=sf_user(sf, "alice@example.com"))

    response = admin_api.post("/api/v1/sync/pull/")

    assert response.status_code == 200
    assert response.json()["created"] == 1
    assert admin_api.get("/api/v1/sync/conflicts/").status_code == 200


def test_pulling_while_bidirectional_sync_is_off_says_so(org, admin_api):
    response = admin_api.post("/api/v1/sync/pull/")

    assert response.status_code == 409
    # The one refusal every 409 of the API answers (cockpit/exceptions.py), as its schema says.
    assert response.json() == {"detail": "Bi-directional Sync is off, or a pull is running."}


def test_a_beat_tick_a_moment_early_still_pulls_on_time(bidi):
    assert inbound.pull_run(force=True).ran
    last = PullState.objects.get().last_pull_at

    with time_machine.travel(last + dt.timedelta(seconds=58)):
        assert inbound.pull_due()  # the 60 s interval, ticked two seconds early
    with time_machine.travel(last + dt.timedelta(seconds=50)):
        assert not inbound.pull_due()


def test_a_pull_records_the_orgs_api_usage_too(bidi):
    pull()

    connection = selectors.outbound_connection()
    assert connection.api_limit == 100_000
    assert connection.api_usage >= 1


def test_pulls_slow_down_while_pushing_is_paused_for_the_api_limit(bidi):
    from adminconfig.models import SalesforceConnection

    assert inbound.pull_run(force=True).ran
    last = PullState.objects.get().last_pull_at
    SalesforceConnection.objects.update(
        push_paused_until=last + dt.timedelta(hours=1), api_usage=95_000, api_limit=100_000
    )

    with time_machine.travel(last + dt.timedelta(minutes=5)):
        assert not inbound.pull_due()
    with time_machine.travel(last + dt.timedelta(minutes=15)):
        assert inbound.pull_due()


def test_a_pause_the_figures_no_longer_call_for_does_not_slow_pulls(bidi):
    from adminconfig.models import SalesforceConnection

    assert inbound.pull_run(force=True).ran
    last = PullState.objects.get().last_pull_at
    # The admin raised the budget and the org's usage fell since the pause was decided.
    SalesforceConnection.objects.update(
        push_paused_until=last + dt.timedelta(hours=1), api_usage=10, daily_api_budget=50_000
    )

    with time_machine.travel(last + dt.timedelta(minutes=1)):
        assert inbound.pull_due()


def test_a_task_whose_owner_lost_the_salesforce_user_still_takes_salesforce_edits(
    bidi, sf, alice, committed
):
    from adminconfig.models import UserMapping

    with committed():
        task = tasks.task_create(owner=alice, name="Before")
    sf_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    sf.Task.update(sf_id, {"Subject": "After"})
    alice_sf = UserMapping.objects.get(user=alice).salesforce_user_id
    UserMapping.objects.filter(user=alice).delete()
    UserMapping.objects.create(user=UserFactory(username="ghost"), salesforce_user_id=alice_sf)

    result = pull()

    task.refresh_from_db()
    assert task.name == "After"
    assert result.conflicts == 0
