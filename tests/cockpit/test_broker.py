"""The embedded broker (kombu's filesystem transport) never hands a worker half a message."""

import threading

from kombu import Connection
from kombu.transport import filesystem

from cockpit import broker
from cockpit.broker import Channel

MESSAGES = 60
PAYLOAD = "x" * 2_000_000  # large, so a write takes long enough for a reader to hit it


def _race(tmp_path, monkeypatch, channel_class) -> tuple[int, list[Exception]]:
    monkeypatch.setattr(broker.Transport, "Channel", channel_class)
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    writer = Connection("filesystem://", transport_options=options).channel()
    reader = Connection("filesystem://", transport_options=options).channel()
    received, errors = [], []

    def write() -> None:
        for n in range(MESSAGES):
            writer._put("q", {"n": n, "body": PAYLOAD})

    thread = threading.Thread(target=write)
    thread.start()
    while len(received) + len(errors) < MESSAGES and (
        thread.is_alive() or any(tmp_path.glob("*.msg"))
    ):
        try:
            received.append(reader._get("q"))
        except filesystem.Empty:
            continue
        except ValueError as exc:  # a half-written file read as JSON
            errors.append(exc)
    thread.join()
    return len(received), errors


def test_a_reader_polling_while_messages_are_written_gets_each_one_whole(tmp_path, monkeypatch):
    received, errors = _race(tmp_path, monkeypatch, Channel)
    assert errors == []
    assert received == MESSAGES


def test_celery_uses_the_atomic_transport_for_the_embedded_broker():
    from cockpit.celery import app

    with Connection("filesystem://") as connection:
        assert connection.transport_cls == "filesystem"
        assert type(connection.transport).__module__ == "cockpit.broker"
    assert app.conf.broker_url.startswith(("filesystem://", "memory://", "redis://", "amqp://"))


def test_a_worker_runs_its_event_loop_over_the_embedded_broker(tmp_path):
    """Evented, the embedded broker gets the worker's event loop and its AsynPool (a job queue
    per pool child), not the classic pool whose shared queue lock a SIGKILLed child takes with
    it (issue 16; the whole-stack test is tests/e2e/test_worker_recovery.py)."""
    from celery.worker import WorkController
    from kombu import Exchange, Queue
    from kombu.asynchronous import Hub

    from cockpit.celery import app

    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
        "polling_interval": 0.01,
    }
    with app.connection_for_read("filesystem://", transport_options=options) as connection:
        worker = WorkController.__new__(WorkController)
        worker.app, worker._conninfo = app, connection
        assert worker.should_use_eventloop()

        queue = Queue("q", Exchange("q"), "q")
        received: list[dict[str, int]] = []
        with connection.Consumer(queue, callbacks=[lambda body, message: received.append(body)]):
            connection.Producer().publish(
                {"n": 1}, exchange=queue.exchange, routing_key="q", declare=[queue]
            )
            hub = Hub()
            connection.transport.register_with_event_loop(connection.connection, hub)
            for _ in range(200):
                hub.run_once()
                if received:
                    break
            hub.close()
    assert received == [{"n": 1}]
