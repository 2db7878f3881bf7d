"""/healthz and `manage.py sync_status` tell the truth about every part: the database, the
broker (a message published and read back, here tests/settings.py's in-memory broker), the
worker's heartbeat and consumption, and the change-event listener when Bi-directional Sync is
on. The whole-stack side (a worker that stops consuming) is tests/e2e/test_health.py."""

import datetime as dt
import socket

import pytest
import time_machine
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from adminconfig.models import SyncSettings
from cockpit.tasks import heartbeat
from tests.factories import OutboxEntryFactory, StreamStateFactory, WorkerHeartbeatFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_alive(db):
    return WorkerHeartbeatFactory()


@pytest.fixture
def bidirectional(sync_on):
    SyncSettings.objects.filter(pk=1).update(bidirectional_sync=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_answers_200_with_every_part_ok_when_a_worker_ran_lately(client, worker_alive):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "failing": [],
        "database": "ok",
        "broker": "ok",
        "worker": "ok",
        "listener": "not needed (Bi-directional Sync is off)",
    }


def test_it_names_the_worker_when_no_worker_ever_ran(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert response.json()["worker"] == "no heartbeat yet: no worker has run"


def test_it_names_the_worker_when_three_heartbeats_in_a_row_did_not_run(client, worker_alive):
    with time_machine.travel(worker_alive.last_seen + dt.timedelta(seconds=89), tick=False):
        assert client.get("/healthz").status_code == 200
    with time_machine.travel(worker_alive.last_seen + dt.timedelta(seconds=95), tick=False):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert response.json()["worker"].startswith("no heartbeat for 95 s")


def test_it_names_the_worker_when_changes_wait_a_minute_and_nothing_was_consumed(
    client, worker_alive
):
    OutboxEntryFactory.create_batch(2)
    with time_machine.travel(worker_alive.last_seen + dt.timedelta(seconds=50), tick=False):
        assert client.get("/healthz").status_code == 200
    with time_machine.travel(worker_alive.last_seen + dt.timedelta(seconds=65), tick=False):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["worker"] == (
        "2 changes waited over 60 s for a push and no worker consumed for 65 s"
    )


def test_the_heartbeat_period_comes_from_the_environment(client, worker_alive, settings):
    settings.WORKER_HEARTBEAT_SECONDS = 2
    with time_machine.travel(worker_alive.last_seen + dt.timedelta(seconds=7), tick=False):
        response = client.get("/healthz")

    assert response.json()["worker"].startswith("no heartbeat for 7 s (beat queues one every 2 s")


def test_it_names_the_broker_when_a_message_cannot_be_published(client, worker_alive):
    from cockpit.celery import app

    app.conf.broker_write_url = f"redis://127.0.0.1:{_closed_port()}/0"
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_write_url = None

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    assert response.json()["broker"].startswith("cannot publish (")
    assert "127.0.0.1" not in response.json()["broker"]  # no address to whoever asks


def test_it_names_the_listener_when_bidirectional_sync_is_on_and_none_runs(
    client, worker_alive, bidirectional
):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["listener"]
    assert response.json()["listener"] == "not running: no change-event listener has started"


def test_a_live_listener_is_ok_and_a_silent_one_is_named(client, worker_alive, bidirectional):
    stream = StreamStateFactory()
    assert client.get("/healthz").json()["listener"] == "ok"

    with time_machine.travel(stream.last_seen_at + dt.timedelta(seconds=150), tick=False):
        heartbeat()  # the worker is still fine
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["listener"]
    assert response.json()["listener"] == "silent for 150 s (status: Live)"


def test_a_load_balancer_asks_about_the_web_process_and_its_database_only(client):
    response = client.get("/healthz?check=database")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failing": [], "database": "ok"}


def test_an_unknown_part_is_a_400_that_lists_the_parts(client):
    response = client.get("/healthz?check=database,disk")

    assert response.status_code == 400
    assert response.json() == {
        "check": ["Parts are database, broker, worker, listener, comma-separated."]
    }


def test_sync_status_prints_every_part_and_passes_when_healthy(worker_alive, capsys):
    call_command("sync_status")

    out = capsys.readouterr().out
    assert "database  ok" in out
    assert "worker    ok" in out
    assert "listener  not needed (Bi-directional Sync is off)" in out


def test_sync_status_exits_non_zero_naming_the_failing_part(capsys):
    with pytest.raises(SystemExit) as exit:
        ManagementUtility(["manage.py", "sync_status"]).execute()

    assert exit.value.code == 1
    captured = capsys.readouterr()
    assert "worker    FAILING: no heartbeat yet: no worker has run" in captured.out
    assert "Unhealthy: worker." in captured.err


def test_sync_status_checks_only_the_parts_asked_and_refuses_an_unknown_one(capsys):
    call_command("sync_status", "--check", "database,broker")
    assert "worker" not in capsys.readouterr().out

    with pytest.raises(CommandError, match="Unknown part\\(s\\): disk. Parts are database"):
        call_command("sync_status", "--check", "disk")
