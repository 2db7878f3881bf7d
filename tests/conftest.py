import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import AdminFactory, SyncAdminFactory, UserFactory, api_as


@pytest.fixture
def csm(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_csm(db):
    return UserFactory(username="bob")


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="root")


@pytest.fixture
def sync_admin(db):
    return SyncAdminFactory(username="sam")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def csm_api(csm):
    return api_as(csm)


@pytest.fixture
def admin_api(admin_user):
    return api_as(admin_user)


@pytest.fixture
def sync_on(db):
    """A primary connection with Auto Sync on; nothing here talks to Salesforce. Switched on
    "tomorrow": tasks a test makes are older, so none is pushed on its own."""
    from adminconfig.models import SyncSettings
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(name="Org")
    SyncSettings.objects.update_or_create(
        pk=1,
        defaults={"auto_sync": True, "first_enabled_at": timezone.now() + dt.timedelta(days=1)},
    )
    return connection


# The real Salesforce emulator over HTTPS, for sync and configuration tests.
from tests.sfemu import sfemu, sfemu_clean  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Tests render admin pages without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _no_throttle_counts_from_other_tests():
    # The API's throttles count requests per IP in the cache, and every test client is
    # 127.0.0.1: without this, the suite's own requests would add up to 429s.
    from django.core.cache import cache

    cache.clear()


@contextmanager
def commit() -> Iterator[None]:
    """The block's changes commit, inside the test's own transaction: their on_commit callbacks
    run at the end."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


class Worker:
    """The Celery worker's part in tests that run in one process: the messages the code under
    test sent (tests/settings.py keeps them in an in-memory broker), run through the task
    functions as the worker runs them. The real worker runs in the end-to-end tests."""

    def _queue(self, channel: Any) -> Any:
        from cockpit.celery import app

        queue = app.amqp.queues[app.conf.task_default_queue](channel)
        queue.declare()
        return queue

    def _take(self) -> list[tuple[str, list[Any], dict[str, Any]]]:
        from cockpit.celery import app

        taken = []
        with app.connection_for_read() as conn, conn.channel() as channel:
            queue = self._queue(channel)
            while (message := queue.get(no_ack=True)) is not None:
                args, kwargs, _ = message.decode()
                taken.append((message.headers["task"], args, kwargs))
        return taken

    def queued(self) -> list[str]:
        """Names of the tasks waiting, in order; they stay queued."""
        from cockpit.celery import app

        with app.connection_for_read() as conn, conn.channel() as channel:
            queue = self._queue(channel)
            waiting = []
            while (message := queue.get(no_ack=False)) is not None:
                waiting.append(message)
            names = [m.headers["task"] for m in waiting]
            for message in waiting:
                message.requeue()
        return names

    def run(self, *, rounds: int = 10) -> list[str]:
        """Run every queued task, and what those queue in turn (a countdown or eta is not
        waited for); returns the names run, in order."""
        from cockpit.celery import app

        ran: list[str] = []
        for _ in range(rounds):
            taken = self._take()
            if not taken:
                return ran
            for name, args, kwargs in taken:
                # A task commits in the worker, so what it registers with on_commit (the
                # doorbell, further tasks) runs after it, inside the test's transaction too.
                with commit():
                    app.tasks[name](*args, **kwargs)
                ran.append(name)
        raise AssertionError(f"tasks still queue more tasks after {rounds} rounds: {ran}")

    def purge(self) -> None:
        self._take()


@pytest.fixture(autouse=True)
def worker() -> Worker:
    """No eager mode: tasks are queued as in production, and a test runs them with
    `worker.run()`. Each test starts with an empty queue."""
    queue = Worker()
    queue.purge()
    return queue


@pytest.fixture
def committed(worker: Worker) -> Callable[..., AbstractContextManager[None]]:
    """`with committed(): <changes>`: the changes commit (their on_commit callbacks run, the
    doorbell rings) and then the worker runs what they queued, as it would a moment later.
    `committed(worker_runs=False)` leaves the messages queued, for `worker.queued()`."""

    @contextmanager
    def block(*, worker_runs: bool = True) -> Iterator[None]:
        with commit():
            yield
        if worker_runs:
            worker.run()

    return block


@pytest.fixture(autouse=True)
def _migration_data(request):
    """Transactional tests flush every table afterwards, and with them the rows data migrations
    made (default picklists, the Sync admin group); every such test gets them back first."""
    if "transactional_db" not in request.fixturenames and "live_server" not in request.fixturenames:
        return
    request.getfixturevalue("transactional_db")
    from importlib import import_module

    from django.apps import apps

    import_module("tasks.migrations.0002_default_picklists").create_defaults(apps, None)
    import_module("adminconfig.migrations.0002_sync_admin_group").create_group(apps, None)


@pytest.fixture(scope="session")
def _kept() -> Iterator[Any]:
    """The one whole stack tests/e2e keeps between its tests (`start_stack(keep=True)`,
    tests/e2e/stack.py's Kept). Here, not in tests/e2e, so a test that runs a whole benchmark
    (tests/bench) stops it first: over Redis, both stacks' workers would read one broker
    and take each other's messages."""
    from tests.e2e.stack import Kept

    kept = Kept()
    try:
        yield kept
    finally:
        kept.stop()
