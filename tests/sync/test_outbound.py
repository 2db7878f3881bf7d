"""Outbound sync against the real emulator over HTTPS: nothing in the request path is mocked."""

import datetime as dt

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.db import transaction
from django.utils import timezone

from adminconfig import services as config
from adminconfig.models import FieldMapping, SalesforceConnection
from cockpit.selectors import sync_error_in_words
from sync import client_cache, outbox, selectors
from sync.client_cache import clients_reset
from sync.context import applying_inbound
from sync.models import Lease, OutboxEntry, SyncEvent
from sync.outages import OUTAGE_BACKOFF_MAX
from sync.push import OUTAGE_MESSAGE, outbox_push_all
from tasks import services as tasks
from tasks.models import Company, TaskSyncRecord
from tests.factories import CustomFieldFactory, TaskFactory, UserFactory, priority, status
from tests.orgs import emulator_connect

pytestmark = pytest.mark.django_db


def sf_task(org, salesforce_id):
    return org.simple_salesforce().Task.get(salesforce_id)


def sf_count(org, where="Id != null"):
    return org.simple_salesforce().query(f"SELECT COUNT() FROM Task WHERE {where}")["totalSize"]


def create(committed, **fields):
    with committed():
        return tasks.task_create(**fields)


def test_a_new_task_reaches_salesforce_with_the_mapped_fields(org, alice, committed):
    acme = Company.objects.create(name="Acme", salesforce_account_id=None)
    task = create(
        committed,
        owner=alice,
        name="Kick-off call",
        due_date=dt.date(2026, 12, 31),
        details="Agenda attached",
        priority=priority("High"),
        company=acme,
    )

    record = TaskSyncRecord.objects.get(task=task)
    assert record.state == TaskSyncRecord.State.SYNCED
    assert record.salesforce_id.startswith("00T")
    remote = sf_task(org, record.salesforce_id)
    assert remote["Subject"] == "Kick-off call"
    assert remote["ActivityDate"] == "2026-12-31"  # a date, never shifted by a time zone
    assert remote["Description"] == "Agenda attached"
    assert remote["Status"] == "Not Started"
    assert remote["Priority"] == "High"
    assert remote["Cockpit_Task_Id__c"] == f"cockpit-{task.pk}"
    owner = org.simple_salesforce().query(
        f"SELECT Email FROM User WHERE Id = '{remote['OwnerId']}'"
    )["records"][0]
    assert owner["Email"] == "alice@example.com"


def test_editing_and_completing_update_the_same_salesforce_task(org, alice, committed):
    task = create(committed, owner=alice, name="Renewal")
    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id

    with committed():
        tasks.task_update(task=task, name="Renewal call", priority=priority("Low"))
    with committed():
        tasks.task_complete(task=task)

    remote = sf_task(org, salesforce_id)
    assert remote["Subject"] == "Renewal call"
    assert remote["Priority"] == "Low"
    assert remote["Status"] == "Completed"
    assert remote["IsClosed"] is True
    assert sf_count(org, f"Cockpit_Task_Id__c = 'cockpit-{task.pk}'") == 1


def test_the_log_of_a_push_names_the_fields_it_changed(org, alice, committed):
    task = create(committed, owner=alice, name="Renewal")

    with committed():
        tasks.task_update(task=task, name="Renewal call", priority=priority("Low"))

    pushed = list(
        SyncEvent.objects.filter(task_id=task.pk, kind=SyncEvent.Kind.PUSHED)
        .order_by("id")
        .values_list("message", flat=True)
    )
    assert pushed == [
        "'Renewal' pushed to Salesforce (created)",
        "'Renewal call' pushed to Salesforce: name, priority",
    ]


def test_deleting_a_synced_task_deletes_it_in_salesforce(org, alice, committed):
    task = create(committed, owner=alice, name="Obsolete")
    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id

    with committed():
        tasks.task_delete(task=task)

    deleted = org.simple_salesforce().query_all(
        f"SELECT Id, IsDeleted FROM Task WHERE Id = '{salesforce_id}'", include_deleted=True
    )["records"]
    assert deleted[0]["IsDeleted"] is True
    assert not OutboxEntry.objects.exclude(state=OutboxEntry.State.DONE).exists()


def test_tasks_created_before_sync_was_switched_on_stay_until_pushed_by_hand(
    sfemu_clean, alice, committed
):
    old = TaskFactory(owner=alice, name="From before")  # sync not configured yet
    emulator_connect(sfemu_clean)
    with committed():
        config.sync_settings_update(auto_sync=True)
    with committed():
        tasks.task_update(task=old, name="From before, edited")

    assert not TaskSyncRecord.objects.filter(task=old).exclude(salesforce_id=None).exists()

    outbox.task_push_request(task=old)
    result = outbox_push_all()

    assert result.pushed == 1
    assert sf_count(sfemu_clean, "Subject = 'From before, edited'") == 1


def test_nothing_is_queued_while_auto_sync_is_off(sfemu_clean, alice):
    task = TaskFactory(owner=alice)

    assert not OutboxEntry.objects.exists()
    assert not TaskSyncRecord.objects.filter(task=task).exists()


def test_changes_applied_from_salesforce_are_not_pushed_back(org, alice):
    with applying_inbound():
        TaskFactory(owner=alice, name="Came from Salesforce")

    assert not OutboxEntry.objects.exists()


def test_450_tasks_go_out_in_three_collections_and_one_call(
    org, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        for n in range(450):
            tasks.task_create(owner=alice, name=f"Bulk {n}")
    org.reset_request_log()

    result = outbox_push_all()

    assert result.pushed == 450
    # One cycle: three collections (200, 200, 50) in one Composite call.
    assert result.api_calls == 1
    assert org.api_calls() == 1
    assert org.request_log()["subrequests"] == {
        "PATCH composite/sobjects/Task/Cockpit_Task_Id__c": 3
    }
    assert sf_count(org, "Subject LIKE 'Bulk %'") == 450


def test_a_salesforce_outage_keeps_the_change_and_pushes_it_soon_after_recovery(
    org, alice, committed
):
    org.set_faults(error_rate=1.0, error_status=503)
    task = create(committed, owner=alice, name="During the outage")

    entry = OutboxEntry.objects.get(task_id=task.pk)
    record = TaskSyncRecord.objects.get(task=task)
    connection = SalesforceConnection.objects.get()
    assert entry.state == OutboxEntry.State.PENDING
    assert entry.attempts == 0  # the outage is the connection's: no attempt used up
    assert record.state == TaskSyncRecord.State.PENDING
    assert record.last_error == OUTAGE_MESSAGE
    assert connection.outage_failures == 1
    assert timezone.now() < connection.retry_at <= timezone.now() + OUTAGE_BACKOFF_MAX
    retry = SyncEvent.objects.get(kind=SyncEvent.Kind.RETRY)
    assert "1 change(s) wait" in retry.message

    org.reset_request_log()
    assert outbox_push_all().pushed == 0  # the connection's pause: not even a call
    assert org.api_calls() == 0

    org.clear_faults()
    with time_machine.travel(connection.retry_at + dt.timedelta(seconds=1)):
        assert outbox_push_all().pushed == 1

    record.refresh_from_db()
    connection.refresh_from_db()
    assert record.state == TaskSyncRecord.State.SYNCED
    assert record.last_error == ""
    assert (connection.outage_failures, connection.retry_at) == (0, None)
    assert sf_count(org, "Subject = 'During the outage'") == 1


def test_the_pause_after_an_outage_grows_but_stays_short(org, alice, committed):
    org.set_faults(error_rate=1.0, error_status=503)
    clock = timezone.now()
    with time_machine.travel(clock, tick=False):
        create(committed, owner=alice, name="Long outage")
    pauses = []
    for _ in range(8):
        retry_at = SalesforceConnection.objects.get().retry_at
        pauses.append(retry_at - clock)
        clock = retry_at + dt.timedelta(milliseconds=10)
        with time_machine.travel(clock, tick=False):
            outbox_push_all()

    assert pauses[1] > pauses[0]
    assert max(pauses) <= OUTAGE_BACKOFF_MAX
    assert OutboxEntry.objects.get().attempts == 0


def test_a_batch_that_raises_counts_an_attempt_says_why_and_is_not_claimed_in_a_loop(
    org, alice, committed, settings
):
    task = create(committed, owner=alice, name="Before the key change")
    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.SYNCED
    # The encryption key is rotated without entering the secret again.
    settings.SYNC_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    clients_reset()
    with committed():
        tasks.task_update(task=task, name="After the key change")

    entry = OutboxEntry.objects.get(task_id=task.pk, state=OutboxEntry.State.PENDING)
    assert entry.attempts == 1
    assert entry.next_attempt_at > timezone.now() + dt.timedelta(seconds=20)
    assert outbox_push_all().retried == 0  # delayed, not claimed again at once
    connection = SalesforceConnection.objects.get()
    assert connection.state == SalesforceConnection.State.UNAUTHORIZED
    assert "enter it again" in connection.last_error
    record = TaskSyncRecord.objects.get(task=task)
    assert "cannot be decrypted" in record.last_error
    events = SyncEvent.objects.filter(task_id=task.pk, message__contains="cannot be decrypted")
    assert events.exists()


def test_a_locked_row_is_retried_and_the_others_in_the_batch_go_through(
    org, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first = tasks.task_create(owner=alice, name="Locked")
        tasks.task_create(owner=alice, name="Free")
    org.set_faults(lock_next=1)

    result = outbox_push_all()

    assert (result.pushed, result.retried) == (1, 1)
    assert OutboxEntry.objects.get(task_id=first.pk).state == OutboxEntry.State.PENDING
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert outbox_push_all().pushed == 1
    assert sf_count(org, "Subject IN ('Locked', 'Free')") == 2


def test_a_permanent_error_shows_on_the_task_and_can_be_retried_by_hand(org, committed):
    zed = UserFactory(username="zed", email="zed@example.com")  # no Salesforce user
    task = create(committed, owner=zed, name="Orphan")

    record = TaskSyncRecord.objects.get(task=task)
    entry = OutboxEntry.objects.get(task_id=task.pk)
    assert record.state == TaskSyncRecord.State.ERROR
    assert "zed has no Salesforce user" in record.last_error
    assert entry.state == OutboxEntry.State.FAILED

    sf_user = org.simple_salesforce().query("SELECT Id FROM User WHERE Email = 'dave@example.com'")
    config.user_mapping_set(user=zed, salesforce_user_id=sf_user["records"][0]["Id"])
    with committed():
        outbox.entry_retry(entry=entry)

    record.refresh_from_db()
    assert record.state == TaskSyncRecord.State.SYNCED
    assert sf_count(org, "Subject = 'Orphan'") == 1


def test_a_push_lost_by_a_crashed_worker_is_pushed_again_without_a_duplicate(
    org, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        task = tasks.task_create(owner=alice, name="Crash")
    # The worker claims and pushes, then dies before recording the outcome.
    claimed = outbox.outbox_claim()
    client = client_cache.client_for_connection(selectors.outbound_connection())
    client.collection_upsert(
        "Task",
        "Cockpit_Task_Id__c",
        [
            {
                "Cockpit_Task_Id__c": f"cockpit-{task.pk}",
                "Subject": "Crash",
                "OwnerId": org.integration_user_id,
            }
        ],
    )
    assert [e.state for e in claimed] == [OutboxEntry.State.IN_FLIGHT]

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=11)):
        assert outbox.outbox_release_stale() == 1
        assert outbox_push_all().pushed == 1

    assert sf_count(org, "Subject = 'Crash'") == 1
    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.SYNCED


def test_an_expired_session_is_renewed_without_losing_the_push(org, alice, committed):
    create(committed, owner=alice, name="Before expiry")
    org.expire_tokens()

    task = create(committed, owner=alice, name="After expiry")

    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.SYNCED


def test_a_wrong_secret_marks_the_connection_unauthorized_and_keeps_the_change(
    org, alice, committed
):
    connection = selectors.outbound_connection()
    config.connection_update(connection=connection, client_secret="revoked-secret")

    task = create(committed, owner=alice, name="Unauthorized")

    connection.refresh_from_db()
    assert connection.state == "unauthorized"
    assert OutboxEntry.objects.get(task_id=task.pk).state == OutboxEntry.State.PENDING


def test_pushing_slows_down_before_the_daily_api_limit(
    org, alice, django_capture_on_commit_callbacks, committed
):
    org.set_api_usage(95_000, 100_000)
    create(committed, owner=alice, name="Near the limit")
    with django_capture_on_commit_callbacks(execute=False):
        later = tasks.task_create(owner=alice, name="Waits")

    assert outbox_push_all().pushed == 0
    connection = selectors.outbound_connection()
    assert (connection.api_usage, connection.api_limit) == (95_001, 100_000)
    assert connection.push_paused_until > timezone.now()
    assert OutboxEntry.objects.get(task_id=later.pk).state == OutboxEntry.State.PENDING
    assert SyncEvent.objects.filter(message__contains="pushing paused").exists()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        org.set_api_usage(10, 100_000)  # a new day at the org
        assert outbox_push_all().pushed == 1


def test_a_mapping_change_re_pushes_every_synced_task_and_counts_progress(org, alice, committed):
    from adminconfig.models import PicklistMapping, ResyncRun

    for n in range(3):
        create(committed, owner=alice, name=f"Mapped {n}")
    connection = selectors.outbound_connection()
    row = PicklistMapping.objects.get(
        connection=connection, picklist="status", cockpit_value="Open"
    )

    with committed():
        config.picklist_mapping_save(
            connection=connection,
            picklist="status",
            cockpit_value="Open",
            salesforce_values=["Waiting on someone else", "Not Started"],
            mapping=row,
        )

    run = ResyncRun.objects.get()
    assert (run.total, run.done, run.failed) == (3, 3, 0)
    assert run.finished_at is not None
    assert sf_count(org, "Status = 'Waiting on someone else'") == 3


def test_status_and_priority_without_a_mapping_use_the_connections_defaults(org, alice, committed):
    from tasks.models import Status

    blocked = Status.objects.create(value="Blocked", label="Blocked", order=40)

    task = create(committed, owner=alice, name="Blocked", status=blocked)

    remote = sf_task(org, TaskSyncRecord.objects.get(task=task).salesforce_id)
    assert remote["Status"] == "Not Started"  # the connection's default Status
    assert status("Open")


def test_pushing_stops_for_the_day_when_cockpits_own_budget_is_spent(
    org, alice, django_capture_on_commit_callbacks, committed
):
    from adminconfig.models import SalesforceConnection

    today = timezone.now().astimezone(dt.UTC).date()
    SalesforceConnection.objects.update(
        daily_api_budget=100, cockpit_calls=99, cockpit_calls_date=today
    )
    create(committed, owner=alice, name="The hundredth call")
    with django_capture_on_commit_callbacks(execute=False):
        later = tasks.task_create(owner=alice, name="Tomorrow then")

    assert outbox_push_all().pushed == 0
    connection = selectors.outbound_connection()
    assert connection.cockpit_calls == 100
    assert connection.push_paused_until.date() == today + dt.timedelta(days=1)
    assert OutboxEntry.objects.get(task_id=later.pk).state == OutboxEntry.State.PENDING
    assert SyncEvent.objects.filter(message__contains="daily API budget").exists()


def test_changes_to_linked_tasks_while_sync_is_off_reach_salesforce_when_it_is_back(
    org, alice, committed
):
    kept = create(committed, owner=alice, name="Kept")
    gone = create(committed, owner=alice, name="Gone")
    gone_id = TaskSyncRecord.objects.get(task=gone).salesforce_id
    with committed():
        config.sync_settings_update(auto_sync=False)
    with committed():
        tasks.task_update(task=kept, name="Kept, renamed while off")
        tasks.task_delete(task=gone)
    with committed():
        created_while_off = tasks.task_create(owner=alice, name="Created while off")

    assert sf_task(org, TaskSyncRecord.objects.get(task=kept).salesforce_id)["Subject"] == "Kept"
    with committed():
        config.sync_settings_update(auto_sync=True)
    outbox_push_all()

    kept_id = TaskSyncRecord.objects.get(task=kept).salesforce_id
    assert sf_task(org, kept_id)["Subject"] == "Kept, renamed while off"
    assert sf_count(org, f"Id = '{gone_id}'") == 0
    # Created after sync was first switched on: it goes out when sync is back (issue #7, case 6).
    new_id = TaskSyncRecord.objects.get(task=created_while_off).salesforce_id
    assert sf_task(org, new_id)["Subject"] == "Created while off"


def test_deleting_a_company_clears_the_account_on_its_synced_tasks(org, alice, committed):
    account = org.simple_salesforce().Account.create({"Name": "Soon gone"})["id"]
    company = Company.objects.create(name="Soon gone", salesforce_account_id=account)
    task = create(committed, owner=alice, name="With account", company=company)
    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    assert sf_task(org, salesforce_id)["WhatId"] == account

    with committed():
        company.delete()

    assert sf_task(org, salesforce_id)["WhatId"] is None


def test_a_cycle_cut_short_by_a_dead_worker_is_pushed_as_soon_as_its_lease_runs_out(
    org, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        task = tasks.task_create(owner=alice, name="Cut short")
    # A worker took the lease, claimed the entry, and died.
    Lease.objects.update_or_create(
        name="engine", defaults={"token": "dead", "locked_until": timezone.now()}
    )
    outbox.outbox_claim()

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61)):
        result = outbox_push_all()

    assert result.pushed == 1
    assert sf_count(org, "Subject = 'Cut short'") == 1
    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.SYNCED


def test_a_burst_of_changes_sends_one_push_message_until_the_worker_answers(org, alice, worker):
    rang = [outbox.doorbell() for _ in range(50)]
    assert rang.count(True) == 1  # one message lingers; the other 49 changes ride on it
    assert worker.queued() == ["sync.push"]
    outbox.doorbell_answer()  # the worker took it: the next change rings again
    assert outbox.doorbell() is True
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=6)):
        assert outbox.doorbell() is True  # a message the broker lost does not silence it
    assert worker.queued() == ["sync.push"] * 3


def test_a_push_message_rung_before_the_last_cycles_calls_were_known_waits_for_its_turn(
    org, alice, worker, settings
):
    settings.SYNC_PUSH_PACING = True
    # The cycle began; a change rang for a cycle a second later; the cycle then made three
    # calls (a read first, a write, a refused write's read): the next one waits three seconds.
    outbox.doorbell_answer()
    assert outbox.doorbell() is True
    outbox.cycle_calls_paced(3)

    assert outbox.doorbell_due() is False  # sent again for its time, nothing pushed
    assert worker.queued() == ["sync.push", "sync.push"]
    assert outbox.doorbell() is False  # the mark stays: changes meanwhile ride on it
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3)):
        assert outbox.doorbell_due() is True


def test_the_doorbell_rings_once_per_transaction_and_after_a_rolled_back_one(
    alice, worker, monkeypatch, django_capture_on_commit_callbacks
):
    rings = []
    ring = outbox.doorbell
    monkeypatch.setattr(outbox, "doorbell", lambda: rings.append(True) or ring())
    tasks_ = [TaskFactory(owner=alice) for _ in range(3)]
    upsert = OutboxEntry.Operation.UPSERT

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for task in tasks_:
            outbox.outbox_add(task_id=task.pk, operation=upsert)
        outbox.outbox_add_many(task_ids=[t.pk for t in tasks_], operation=upsert)
    assert len(rings) == 1  # one transaction, four queued changes: one ring
    assert worker.queued() == ["sync.push"]

    outbox.doorbell_answer()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        outbox.outbox_add(task_id=tasks_[0].pk, operation=OutboxEntry.Operation.DELETE)
        raise RuntimeError("rolled back")
    assert len(rings) == 1  # nothing committed, nothing to ring for

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.outbox_add(task_id=tasks_[1].pk, operation=OutboxEntry.Operation.DELETE)
    assert len(rings) == 2  # the rolled-back change left no mark that silences this one
    assert worker.queued() == ["sync.push"] * 2


def test_a_failure_is_stored_with_its_kind_code_and_the_attempts_given_up_after(
    org, alice, django_capture_on_commit_callbacks
):
    zed = UserFactory(username="zed", email="zed@example.com")  # no Salesforce user
    with django_capture_on_commit_callbacks(execute=False):
        locked = tasks.task_create(owner=alice, name="Always locked")
        orphan = tasks.task_create(owner=zed, name="Orphan")
    org.set_faults(lock_next=outbox.MAX_ATTEMPTS)

    now = timezone.now()
    for attempt in range(outbox.MAX_ATTEMPTS):
        with time_machine.travel(now + dt.timedelta(hours=2 * attempt)):
            outbox_push_all()

    entry = OutboxEntry.objects.get(task_id=locked.pk)
    record = TaskSyncRecord.objects.get(task=locked)
    for row in (entry, record):
        assert (row.error_kind, row.error_code, row.gave_up_after) == (
            "UNABLE_TO_LOCK_ROW",
            "UNABLE_TO_LOCK_ROW",
            outbox.MAX_ATTEMPTS,
        )
    assert entry.state == OutboxEntry.State.FAILED
    assert record.state == TaskSyncRecord.State.ERROR
    assert record.last_error.endswith(f"(gave up after {outbox.MAX_ATTEMPTS} attempts)")
    assert sync_error_in_words(record) == (
        "The Salesforce record was busy with another update. Cockpit gave up after "
        f"{outbox.MAX_ATTEMPTS} attempts: use Retry to try again."
    )
    entry = OutboxEntry.objects.get(task_id=orphan.pk)
    assert (entry.state, entry.error_kind, entry.error_code, entry.gave_up_after) == (
        OutboxEntry.State.FAILED,
        "OWNER_NOT_MAPPED",
        "",
        None,
    )
    assert TaskSyncRecord.objects.get(task=orphan).error_kind == "OWNER_NOT_MAPPED"

    outbox.entry_retry(entry=OutboxEntry.objects.get(task_id=locked.pk))
    with time_machine.travel(now + dt.timedelta(hours=2 * outbox.MAX_ATTEMPTS)):
        outbox_push_all()
    record.refresh_from_db()
    assert record.state == TaskSyncRecord.State.SYNCED
    assert (record.last_error, record.error_kind, record.error_code, record.gave_up_after) == (
        "",
        "",
        "",
        None,
    )


# Salesforce's names ignore case: either spelling is the external id field.
@pytest.mark.parametrize("external_id_field", ["Cockpit_Task_Id__c", "cockpit_task_id__c"])
def test_a_mapping_onto_the_external_id_field_never_points_a_push_at_another_twin(
    org, alice, committed, external_id_field
):
    # Refused by the admin and the API since; forced here as one saved before that rule.
    CustomFieldFactory(key="ref", max_length=80)
    connection = SalesforceConnection.objects.get(is_primary=True)
    FieldMapping.objects.create(
        connection=connection,
        cockpit_field="custom:ref",
        salesforce_field=external_id_field,
        direction=FieldMapping.Direction.BOTH,
    )
    victim = create(committed, owner=alice, name="Alice's renewal")
    victim_id = TaskSyncRecord.objects.get(task=victim).salesforce_id

    intruder = create(
        committed,
        owner=alice,
        name="Bob's takeover",
        custom_fields={"ref": f"cockpit-{victim.pk}"},
    )
    with committed():
        tasks.task_update(
            task=intruder, name="Bob's takeover, again", custom_fields={"ref": "cockpit-1"}
        )

    intruder_id = TaskSyncRecord.objects.get(task=intruder).salesforce_id
    assert intruder_id != victim_id
    assert sf_task(org, intruder_id)["Cockpit_Task_Id__c"] == f"cockpit-{intruder.pk}"
    assert sf_task(org, intruder_id)["Subject"] == "Bob's takeover, again"
    untouched = sf_task(org, victim_id)
    assert untouched["Cockpit_Task_Id__c"] == f"cockpit-{victim.pk}"
    assert untouched["Subject"] == "Alice's renewal"
    assert sf_count(org) == 2
