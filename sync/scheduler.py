"""Which of the engine's jobs runs under the engine lease, one after another.

One worker at a time holds the engine lease (sync/lease.py) for one job: a push cycle
(sync/push/), a pull (sync/inbound.py), a reconcile (sync/reconcile.py), or the
change-event listener's catch-up pull (sync/stream.py). The push, the pull, change events and
reconcile do not import one another: where one job gives way to another is decided here, and
the Celery shells (sync/tasks.py), the admin's buttons (sync/api.py) and the listener start
their jobs through it.
"""

from . import inbound, outbox, push
from .inbound import Interleaved, PullResult
from .push import PushResult


def push_run(*, max_batches: int = 50, limit: int = push.CYCLE_LIMIT) -> PushResult:
    """Push until nothing is due, in cycles of up to `limit` changes. A backlog takes many
    cycles, each holding the engine lease: a pull that falls due meanwhile runs between two of
    them instead of waiting for the whole backlog."""
    return push.outbox_push_all(max_batches=max_batches, limit=limit, between_cycles=pull_due_run)


def push_rung() -> PushResult | None:
    """The push message (the doorbell, sync/outbox.py) arrived: push now, or, when the last
    cycle's calls hold the next one back, send the message again for its time (None)."""
    if not outbox.doorbell_due():
        return None
    outbox.doorbell_answer()
    return push_run()


def pull_due_run() -> PullResult:
    """The pull, when the admin's interval has passed (beat's tick, and between push cycles;
    rarer while change events are live or the API budget is paused)."""
    return inbound.pull_run()


def catch_up_run(*, interleaved: Interleaved) -> PullResult:
    """The change-event listener's catch-up: a pull now, with the events that arrive meanwhile
    applied between its chunks (`interleaved`, the listener), under the pull's lease."""
    return inbound.pull_run(force=True, interleaved=interleaved)
