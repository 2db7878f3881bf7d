"""The sync health page's change-event stream and drift-repair panel."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from adminconfig import services as config
from adminconfig.permissions import SYNC_ADMIN_GROUP
from sync.models import ReconcileRun, StreamState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db):
    user = UserFactory(username="sam", is_staff=True)
    user.groups.add(Group.objects.get(name=SYNC_ADMIN_GROUP))
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_the_stream_live_and_the_age_of_its_last_event(admin_client):
    now = timezone.now()
    StreamState.objects.create(
        pk=1,
        status=StreamState.Status.LIVE,
        last_seen_at=now,
        last_event_at=now - dt.timedelta(seconds=42),
        events_applied=12345,
    )

    page = admin_client.get("/sync/").content.decode()

    assert "<strong>Live</strong> (pulls run as a safety net, at most every 10 minutes)" in page
    assert "42 s ago" in page
    assert "12,345" in page


def test_a_listener_silent_for_too_long_is_not_called_live(admin_client):
    StreamState.objects.create(
        pk=1, status=StreamState.Status.LIVE, last_seen_at=timezone.now() - dt.timedelta(hours=1)
    )
    page = admin_client.get("/sync/").content.decode()
    assert "not live: pulls run at the configured interval" in page


def test_the_page_lists_recent_drift_repairs_with_their_findings(admin_client):
    ReconcileRun.objects.create(
        finished_at=timezone.now(), checked=10000, repaired_in_cockpit=3, twins_missing=1
    )
    page = admin_client.get("/sync/").content.decode()
    assert '<td class="num" data-label="Compared">10,000</td>' in page
    assert '<td class="num" data-label="Twins missing">1</td>' in page


def test_reconcile_now_with_sync_off_says_why_and_starts_nothing(admin_client):
    response = admin_client.post("/sync/reconcile/", follow=True)
    assert "Reconcile needs Auto Sync and Bi-directional Sync on" in response.content.decode()
    assert not ReconcileRun.objects.exists()


def test_reconcile_now_queues_a_run_for_the_worker(
    admin_client, django_capture_on_commit_callbacks
):
    config.connection_create(
        name="Org", login_url="https://127.0.0.1:9", client_id="c", client_secret="s"
    )
    with django_capture_on_commit_callbacks(execute=False):
        config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post("/sync/reconcile/", follow=True)

    assert "Reconcile started" in response.content.decode()
    assert ReconcileRun.objects.get().finished_at is None
    assert len(queued) == 1


def test_a_csm_cannot_start_a_reconcile(client):
    client.force_login(UserFactory(username="carol"))
    assert client.post("/sync/reconcile/").status_code == 403


def test_a_sync_admin_opens_another_csms_task_read_only_from_the_health_page(admin_client):
    from tests.factories import TaskFactory

    task = TaskFactory(owner=UserFactory(username="dora"), name="Dora's renewal call")

    page = admin_client.get(f"/tasks/{task.pk}/").content.decode()

    assert "Dora&#x27;s renewal call" in page or "Dora's renewal call" in page
    assert "shown read-only to you as a sync admin" in page
    assert f"/tasks/{task.pk}/edit/" not in page
    assert admin_client.post(f"/tasks/{task.pk}/complete/").status_code == 404


def test_a_csm_still_cannot_open_another_csms_task(client):
    from tests.factories import TaskFactory

    task = TaskFactory(owner=UserFactory(username="dora"))
    client.force_login(UserFactory(username="carol"))
    assert client.get(f"/tasks/{task.pk}/").status_code == 404
