"""A CSM's write and a pull's write of another field of the same task, as two real transactions
at once on PostgreSQL (issue 16, item 2): both survive in either order. The pull's write is the
one twins_merge_many makes (tasks_update_from_salesforce on the row it locked); the emulator
tests of the same interleavings are in tests/sync/test_concurrent_edits.py."""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection as db_connection
from django.db import connections, transaction

from sync.context import applying_inbound
from tasks import services as tasks
from tasks.models import Status, Task
from tests.factories import TaskFactory, api_as

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RENAMED = "Renamed in Salesforce"


@pytest.fixture(autouse=True)
def _postgres_only():
    if db_connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL; runs in CI's PostgreSQL pass")
    if not Status.objects.exists():
        # A transactional test before this one flushed the rows the data migration made.
        from importlib import import_module

        from django.apps import apps

        import_module("tasks.migrations.0002_default_picklists").create_defaults(apps, None)


def in_thread(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which fails on it
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until_a_transaction_waits_for_a_lock(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db_connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError("no transaction waited for the row lock")


def pull_rename(task_id: int, *, locked: threading.Event, release: threading.Event) -> None:
    with transaction.atomic():
        row = (
            Task.objects.select_for_update(of=("self",))
            .select_related("status", "priority")
            .get(pk=task_id)
        )
        with applying_inbound():
            refused = tasks.tasks_update_from_salesforce(changes=[(row, {"name": RENAMED})])
        assert not refused
        locked.set()
        assert release.wait(10)


def csm_writes(path: str, task: Task) -> Callable[[], None]:
    """The write of one interface, from the copy it read before the pull committed."""
    copy = Task.objects.get(pk=task.pk)
    if path == "service":
        return lambda: tasks.task_update(task=copy, details="Edited by the CSM")
    if path == "api":

        def api() -> None:
            response = api_as(task.owner).patch(
                f"/api/v1/tasks/{task.pk}/", {"details": "Edited by the CSM"}, format="json"
            )
            assert response.status_code == 200, response.content

        return api
    return lambda: tasks.task_complete_many(owner=task.owner, task_ids=[task.pk])


@pytest.mark.parametrize("path", ["service", "api", "bulk"])
def test_a_csm_write_waiting_on_a_pulls_row_lock_keeps_the_pulled_name(csm, path):
    task = TaskFactory(owner=csm, name="Kick-off", details="Agenda")
    locked, release, errors = threading.Event(), threading.Event(), []
    write = csm_writes(path, task)

    pull = in_thread(lambda: pull_rename(task.pk, locked=locked, release=release), errors)
    assert locked.wait(10)
    csm_thread = in_thread(write, errors)
    wait_until_a_transaction_waits_for_a_lock()
    release.set()
    pull.join(10)
    csm_thread.join(10)

    assert errors == []
    task.refresh_from_db()
    assert task.name == RENAMED
    if path == "bulk":
        assert task.status.is_closed
    else:
        assert task.details == "Edited by the CSM"


def test_a_pull_waiting_on_a_csm_edits_row_lock_keeps_the_edit(csm):
    task = TaskFactory(owner=csm, name="Kick-off", details="Agenda")
    locked, release, errors = threading.Event(), threading.Event(), []

    def csm_edit() -> None:
        with transaction.atomic():
            tasks.task_update(task=Task.objects.get(pk=task.pk), details="Edited by the CSM")
            locked.set()
            assert release.wait(10)

    csm_thread = in_thread(csm_edit, errors)
    assert locked.wait(10)
    at_once = threading.Event()
    at_once.set()  # the pull commits as soon as it has written
    pull = in_thread(
        lambda: pull_rename(task.pk, locked=threading.Event(), release=at_once), errors
    )
    wait_until_a_transaction_waits_for_a_lock()
    release.set()
    csm_thread.join(10)
    pull.join(10)

    assert errors == []
    task.refresh_from_db()
    assert (task.name, task.details) == (RENAMED, "Edited by the CSM")
