import pytest
from rest_framework.test import APIClient

from tests.factories import AdminFactory, UserFactory


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
def api():
    return APIClient()


@pytest.fixture
def csm_api(csm):
    client = APIClient()
    client.force_authenticate(csm)
    return client


@pytest.fixture
def admin_api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


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


@pytest.fixture(autouse=True)
def _celery_runs_tasks_in_process():
    # Celery task functions run directly (the doorbell after commit pushes at once); the real
    # worker runs in the end-to-end tests.
    from cockpit.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
