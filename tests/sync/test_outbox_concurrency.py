import datetime as dt
import threading
import time
from importlib import import_module

import pytest
import time_machine
from django.db import connection as db_connection
from django.db import connections, transaction
from django.utils import timezone

from sync import outbox
from sync.models import OutboxEntry
from sync.push import PushResult, outbox_push, outbox_push_all
from tasks import services as tasks
from tasks.models import Company, Task, TaskSyncRecord


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_never_get_the_same_entry():
    if db_connection.vendor != "postgresql":
        pytest.skip("skip_locked needs PostgreSQL; runs in CI's PostgreSQL pass")
    OutboxEntry.objects.bulk_create(
        OutboxEntry(task_id=n, operation="upsert", next_attempt_at=timezone.now())
        for n in range(300)
    )
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = []

    def worker() -> None:
        try:
            barrier.wait()
            claimed.append([e.pk for e in outbox.outbox_claim(limit=200)])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == 300
    assert OutboxEntry.objects.filter(state="in_flight").count() == 300


@pytest.fixture
def picklists(transactional_db):
    """The default picklists (a data migration's rows, which a transactional test flushes)."""
    from django.apps import apps

    import_module("tasks.migrations.0002_default_picklists").create_defaults(apps, None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_edit_whose_entry_a_worker_claims_before_it_commits_still_reaches_salesforce(
    picklists, org, alice
):
    """The CSM's edit reuses the task's pending entry; a worker claims entries while the
    edit's transaction is still open; the edit commits. Its values must still go out."""
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL; runs in CI's PostgreSQL pass")
    task = tasks.task_create(owner=alice, name="Draft")  # its first push is pending
    editing, commit = threading.Event(), threading.Event()
    worker_done = threading.Event()

    def csm() -> None:
        try:
            with transaction.atomic():
                tasks.task_update(task=Task.objects.get(pk=task.pk), name="Final")
                editing.set()
                commit.wait(timeout=30)
        finally:
            connections.close_all()

    def worker() -> None:
        try:
            outbox_push()
        finally:
            worker_done.set()
            connections.close_all()

    threads = [threading.Thread(target=csm), threading.Thread(target=worker)]
    threads[0].start()
    assert editing.wait(timeout=30)
    threads[1].start()
    # The edit commits once the worker has pushed what it read (and then waits for the
    # edit's row locks to record it), or has finished without pushing anything.
    salesforce = org.simple_salesforce()
    deadline = time.monotonic() + 30
    while not worker_done.is_set() and time.monotonic() < deadline:
        twins = f"SELECT COUNT() FROM Task WHERE Cockpit_Task_Id__c = 'cockpit-{task.pk}'"
        if salesforce.query(twins)["totalSize"]:
            break
        time.sleep(0.05)
    commit.set()
    for thread in threads:
        thread.join(timeout=60)

    outbox_push_all()

    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    assert salesforce.Task.get(salesforce_id)["Subject"] == "Final"
    assert not OutboxEntry.objects.filter(task_id=task.pk, state="pending").exists()


def _someone_waits_on_a_lock() -> bool:
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_push_answered_with_a_retry_while_its_csm_edits_the_task_settles_cleanly(
    picklists, org, alice
):
    """The worker records a retry for a task while its CSM's edit of that task is still open:
    the worker waits for the edit (it locks the task first, as the edit did), then hands its
    backoff to the edit's new entry; no error, and the edit goes out."""
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL; runs in CI's PostgreSQL pass")
    task = tasks.task_create(owner=alice, name="Draft")
    outbox_push()
    tasks.task_update(task=Task.objects.get(pk=task.pk), name="Second")
    # The write of "Second" is answered late, with a locked row (a retry).
    org.set_faults(latency_ms=3000, lock_next=1)
    editing, commit = threading.Event(), threading.Event()
    results: list[PushResult] = []

    def worker() -> None:
        try:
            results.append(outbox_push())
        finally:
            connections.close_all()

    def csm() -> None:
        try:
            with transaction.atomic():
                tasks.task_update(task=Task.objects.get(pk=task.pk), name="Third")
                editing.set()
                commit.wait(timeout=30)
        finally:
            connections.close_all()

    pushing = threading.Thread(target=worker)
    pushing.start()
    deadline = time.monotonic() + 30
    while not OutboxEntry.objects.filter(task_id=task.pk, state="in_flight").exists():
        assert time.monotonic() < deadline, "the worker never claimed the entry"
        time.sleep(0.05)
    editing_thread = threading.Thread(target=csm)
    editing_thread.start()
    assert editing.wait(timeout=30)
    while pushing.is_alive() and not _someone_waits_on_a_lock():
        assert time.monotonic() < deadline, "the worker neither waited nor finished"
        time.sleep(0.05)
    commit.set()
    editing_thread.join(timeout=60)
    pushing.join(timeout=60)

    [result] = results
    assert result.retried == 1
    assert [error.split(":")[0] for error in result.errors] == ["UNABLE_TO_LOCK_ROW"]
    org.clear_faults()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2)):
        outbox_push_all()
    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    assert org.simple_salesforce().Task.get(salesforce_id)["Subject"] == "Third"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_company_linked_while_a_worker_claims_its_tasks_entries_still_sends_the_account(
    picklists, org, alice
):
    """An admin links a company to an Account while its task's pending entry (a CSM's rename)
    is due: a worker claims entries while the link's transaction is still open, then the link
    commits. The Account must still reach the task's twin (issue 16)."""
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL; runs in CI's PostgreSQL pass")
    globex = tasks.company_create(name="Globex")
    task = tasks.task_create(owner=alice, name="Kick-off", company=globex)
    outbox_push_all()
    salesforce = org.simple_salesforce()
    account = salesforce.Account.create({"Name": "Globex"})["id"]
    tasks.task_update(task=Task.objects.get(pk=task.pk), name="Kick-off call")  # pending
    linking, commit = threading.Event(), threading.Event()
    worker_done = threading.Event()

    def admin() -> None:
        try:
            with transaction.atomic():
                company = Company.objects.get(pk=globex.pk)
                tasks.company_update(company=company, salesforce_account_id=account)
                linking.set()
                commit.wait(timeout=30)
        finally:
            connections.close_all()

    def worker() -> None:
        try:
            outbox_push()
        finally:
            worker_done.set()
            connections.close_all()

    threads = [threading.Thread(target=admin), threading.Thread(target=worker)]
    threads[0].start()
    assert linking.wait(timeout=30)
    threads[1].start()
    assert worker_done.wait(timeout=30)  # the entry the link holds is skipped, not waited on
    commit.set()
    for thread in threads:
        thread.join(timeout=60)

    outbox_push_all()

    twin = salesforce.Task.get(TaskSyncRecord.objects.get(task=task).salesforce_id)
    assert (twin["Subject"], twin["WhatId"]) == ("Kick-off call", account)
    assert not OutboxEntry.objects.filter(task_id=task.pk, state="pending").exists()
