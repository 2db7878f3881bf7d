"""A CSM's delete and the sync engine's write of the same task, at the same moment, on
PostgreSQL: they must wait for one another in turn, never in a circle (a deadlock, which
PostgreSQL breaks by failing one of them: the CSM's DELETE answered 500 in `bench race`)."""

import threading
import time
from importlib import import_module

import pytest
from django.db import connection as db_connection
from django.db import connections, transaction

from tasks import services as tasks
from tasks.models import Task, TaskSyncRecord
from tests.factories import UserFactory


@pytest.fixture
def picklists(transactional_db):
    """The default picklists (a data migration's rows, which a transactional test flushes)."""
    from django.apps import apps

    import_module("tasks.migrations.0002_default_picklists").create_defaults(apps, None)


def _someone_waits_on_a_lock(timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            # pg_stat_activity is read as a snapshot for the whole transaction: drop it first.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delete_meeting_the_engine_s_write_of_its_task_waits_instead_of_deadlocking(
    picklists,
):
    if db_connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; runs in CI's PostgreSQL pass")
    task = tasks.task_create(owner=UserFactory(username="alice"), name="Renewal call")
    TaskSyncRecord.objects.update_or_create(
        task=task, defaults={"salesforce_id": "00T000000000001AAA"}
    )
    engine_has_task, errors = threading.Event(), []

    def engine() -> None:
        # The engine's order (sync.locks.tasks_lock): the task, then its sync record.
        try:
            with transaction.atomic():
                list(Task.objects.select_for_update().filter(pk=task.pk))
                engine_has_task.set()
                assert _someone_waits_on_a_lock(), "the delete never waited"
                list(TaskSyncRecord.objects.select_for_update().filter(task_id=task.pk))
        except Exception as exc:  # noqa: BLE001 (a thread's failure must reach the test)
            errors.append(exc)
        finally:
            connections.close_all()

    def csm() -> None:
        try:
            engine_has_task.wait(timeout=10)
            tasks.task_delete(task=Task.objects.get(pk=task.pk))
        except Exception as exc:  # noqa: BLE001 (a thread's failure must reach the test)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=engine), threading.Thread(target=csm)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert not Task.objects.filter(pk=task.pk).exists()
