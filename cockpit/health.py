"""Is Cockpit working? The checks behind `/healthz` and `manage.py sync_status`.

Each part answers "ok" or says, in words, what is wrong with it:

- database: it answers a query;
- broker: a message can be published to it and read back (the doorbell the sync rings);
- worker: the heartbeat beat queues every WORKER_HEARTBEAT_SECONDS ran lately (3 periods),
  and, when changes have waited for a push for over 2 periods, that it ran within 2 periods.
  The heartbeat goes through the same queue as the sync's own tasks, so its age says when a
  worker last consumed from it: a wedged worker (issue 16) or a stopped one goes stale;
- listener: when Bi-directional Sync is on, the change-event listener (`sync_stream`) is live
  or catching up, and answered lately.

What a part says is shown to whoever asks /healthz (load balancers ask without signing in):
states and ages only, never an error's text, an address or a secret.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from queue import Empty

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from kombu.exceptions import KombuError

from adminconfig.selectors import sync_settings
from sync.models import OutboxEntry, StreamState

from .celery import app
from .models import WorkerHeartbeat

PARTS = ("database", "broker", "worker", "listener")
OK = "ok"
OFF = "not needed (Bi-directional Sync is off)"  # the listener's, and not a failure
BROKER_QUEUE = "cockpit.healthz"
BROKER_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class Health:
    parts: dict[str, str]  # part → "ok", or what is wrong with it

    @property
    def failing(self) -> list[str]:
        return [part for part, state in self.parts.items() if state != OK and state != OFF]

    @property
    def ok(self) -> bool:
        return not self.failing


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return OK


def _broker() -> str:
    """Publish a message to a queue of its own and read it back: the broker takes writes and
    hands messages out. Any check's message will do, so concurrent checks may swap them."""
    conn = app.connection_for_write(connect_timeout=BROKER_TIMEOUT_SECONDS)
    errors = (OSError, KombuError, *conn.connection_errors, *conn.channel_errors)
    try:
        with conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
            with conn.SimpleQueue(BROKER_QUEUE, no_ack=True) as simple:
                simple.put({"at": timezone.now().isoformat()})
                simple.get(block=True, timeout=BROKER_TIMEOUT_SECONDS)
    except Empty:
        return f"a message published was not handed back within {BROKER_TIMEOUT_SECONDS} s"
    except errors as exc:
        return f"cannot publish ({type(exc).__name__})"
    return OK


def _age(since: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if since is None else (now - since).total_seconds()


def _worker() -> str:
    period = settings.WORKER_HEARTBEAT_SECONDS
    now = timezone.now()
    try:
        last = (
            WorkerHeartbeat.objects.filter(name="worker")
            .values_list("last_seen", flat=True)
            .first()
        )
        age = _age(last, now)
        if age is not None and age > 2 * period:
            waiting = OutboxEntry.objects.filter(
                state=OutboxEntry.State.PENDING,
                next_attempt_at__lte=now - dt.timedelta(seconds=2 * period),
            ).count()
            if waiting:
                return (
                    f"{waiting} change{'s' if waiting != 1 else ''} waited over {2 * period} s "
                    f"for a push and no worker consumed for {age:.0f} s"
                )
    except DatabaseError:
        return "unknown (the database is unreachable)"
    if age is None:
        return "no heartbeat yet: no worker has run"
    if age > 3 * period:
        return (
            f"no heartbeat for {age:.0f} s (beat queues one every {period} s: "
            "is the worker, or beat, stopped or stuck?)"
        )
    return OK


def _listener() -> str:
    try:
        if not sync_settings().bidirectional_sync:
            return OFF
        state = StreamState.objects.filter(pk=1).first()
    except DatabaseError:
        return "unknown (the database is unreachable)"
    if state is None or state.last_seen_at is None:
        return "not running: no change-event listener has started"
    quiet = settings.SYNC_STREAM_POLL_SECONDS + 30
    age = _age(state.last_seen_at, timezone.now()) or 0.0
    if age > quiet:
        return f"silent for {age:.0f} s (status: {state.get_status_display()})"
    if state.status not in (StreamState.Status.LIVE, StreamState.Status.CATCHING_UP):
        return f"not live (status: {state.get_status_display()})"
    return OK


CHECKS = {"database": _database, "broker": _broker, "worker": _worker, "listener": _listener}


def health_check(*, parts: tuple[str, ...] = PARTS) -> Health:
    """Run the checks of `parts` (all by default), in the order of PARTS."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"Unknown part(s): {', '.join(sorted(unknown))}")
    return Health(parts={part: CHECKS[part]() for part in PARTS if part in parts})
