"""Mail to sync admins when the sync needs a person (sync/alerts.py): pushes failing, the
change-event stream down, pushing paused by the API budget; each kind at most once an hour.
Django's test runner collects the mails in mail.outbox."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from adminconfig.models import SyncSettings
from sync import tasks as sync_tasks
from sync.alerts import alerts_check
from sync.models import OutboxEntry, StreamState
from sync.usage import api_usage_record
from tasks import services as tasks
from tests.factories import AdminFactory, StreamStateFactory, SyncAdminFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(db):
    """Who runs the sync, and people who must not get its mail."""
    SyncAdminFactory(username="sam", email="sam@example.com")
    AdminFactory(username="root", email="root@example.com")
    SyncAdminFactory(username="gone", email="gone@example.com", is_active=False)
    SyncAdminFactory(username="nomail", email="")
    UserFactory(username="carol", email="carol@example.com")  # a CSM


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_sync_admins_are_mailed_once_when_pushes_start_failing_then_again_after_an_hour(
    org, admins, committed
):
    zed = UserFactory(username="zed", email="zed@example.com")  # no Salesforce user
    with committed():
        tasks.task_create(owner=zed, name="Orphan renewal")

    sync_tasks.alerts()  # what beat runs every minute

    assert recipients() == ["root@example.com", "sam@example.com"]
    message = mail.outbox[0]
    assert message.subject == "Cockpit: 1 push to Salesforce failed"
    assert "Orphan renewal: zed has no Salesforce user" in message.body
    assert "http://127.0.0.1:8000/sync/failed/" in message.body

    # Still failing, and a new failure within the hour: no second mail yet.
    with committed():
        tasks.task_create(owner=zed, name="Orphan QBR")
    sync_tasks.alerts()
    assert len(mail.outbox) == 2

    mail.outbox.clear()
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=61)):
        sync_tasks.alerts()
        assert [m.subject for m in mail.outbox] == ["Cockpit: 1 push to Salesforce failed"] * 2
        assert "Orphan QBR" in mail.outbox[0].body
        assert "Orphan renewal" not in mail.outbox[0].body  # told in the first mail
        # Nothing failed since: nothing more to say, however long it has been.
        mail.outbox.clear()
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3)):
        sync_tasks.alerts()
    assert mail.outbox == []


def stream_on(**state):
    SyncSettings.objects.filter(pk=1).update(bidirectional_sync=True)
    StreamStateFactory(**state)


def test_sync_admins_are_mailed_once_when_the_stream_is_down(sync_on, admins):
    stream_on(
        status=StreamState.Status.ERROR,
        last_seen_at=timezone.now() - dt.timedelta(minutes=5),
        last_error="Salesforce could not be reached",
    )

    assert alerts_check() == ["stream_down"]

    message = mail.outbox[0]
    assert message.subject == "Cockpit: the Salesforce change-event stream is down"
    assert "Its last error: Salesforce could not be reached" in message.body
    assert recipients() == ["root@example.com", "sam@example.com"]
    # The same outage, hours later: told already.
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        assert alerts_check() == []


def test_a_stream_that_answers_or_is_reconnecting_mails_nobody(sync_on, admins):
    stream_on(status=StreamState.Status.LIVE, last_seen_at=timezone.now())
    assert alerts_check() == []
    # Lost a moment ago and reconnecting: not down yet.
    StreamState.objects.update(status=StreamState.Status.ERROR)
    assert alerts_check() == []
    assert mail.outbox == []


def test_a_stream_that_comes_back_and_goes_down_again_is_mailed_again_after_the_hour(
    sync_on, admins
):
    stream_on(status=StreamState.Status.ERROR, last_seen_at=timezone.now() - dt.timedelta(hours=1))
    assert alerts_check() == ["stream_down"]
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=30)):
        StreamState.objects.update(status=StreamState.Status.LIVE, last_seen_at=timezone.now())
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=40)):
        StreamState.objects.update(status=StreamState.Status.ERROR)
        assert alerts_check() == []  # down again 10 minutes later, but mailed 40 minutes ago
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=70)):
        assert alerts_check() == ["stream_down"]
    assert len(mail.outbox) == 4


def test_sync_admins_are_mailed_once_when_the_budget_pauses_pushing(sync_on, admins):
    api_usage_record(sync_on, (95_000, 100_000))

    assert alerts_check() == ["pushing_paused"]

    message = mail.outbox[0]
    assert message.subject == "Cockpit: pushing to Salesforce is paused by the API budget"
    assert "Salesforce API usage 95,000 of 100,000: pushing paused" in message.body
    assert alerts_check() == []  # the same pause


def test_nothing_wrong_mails_nobody(sync_on, admins):
    stream_on(status=StreamState.Status.LIVE, last_seen_at=timezone.now())
    assert alerts_check() == []
    assert mail.outbox == []


def test_a_change_made_hours_ago_that_fails_now_is_mailed_as_a_new_failure(org, admins, committed):
    zed = UserFactory(username="zed", email="zed@example.com")  # no Salesforce user
    with committed(worker_runs=False):  # the push waits, as behind an outage
        tasks.task_create(owner=zed, name="Waited three hours")
    OutboxEntry.objects.update(updated_at=timezone.now() - dt.timedelta(hours=3))

    from sync.push import outbox_push_all

    outbox_push_all()
    sync_tasks.alerts()

    assert [m.subject for m in mail.outbox] == ["Cockpit: 1 push to Salesforce failed"] * 2
    assert "Waited three hours" in mail.outbox[0].body


def test_salesforce_refusing_every_push_is_mailed_before_the_retries_give_up(
    org, admins, committed
):
    from adminconfig import services as config
    from sync import selectors

    config.connection_update(
        connection=selectors.outbound_connection(), client_secret="revoked-secret"
    )
    with committed():
        tasks.task_create(owner=UserFactory(username="alice"), name="Waits for a secret")
    assert OutboxEntry.objects.get().state == OutboxEntry.State.PENDING  # retried, not failed

    assert alerts_check() == ["pushes_failing"]

    message = mail.outbox[0]
    assert message.subject == "Cockpit: Salesforce refuses Cockpit's pushes"
    assert "Salesforce refuses Cockpit's calls (Unauthorized)" in message.body
    assert "1 change waits and is retried" in message.body
