"""/healthz and `manage.py sync_status` on the whole stack: a worker that stops consuming is
named within three heartbeats, and the stack is healthy again once it consumes (issue 21).

The worker is stopped with SIGSTOP (its main process and pool children): it holds its broker
connection and takes nothing, as the wedged worker of issue 16 did. Beat queues the heartbeat
every 3 s here (WORKER_HEARTBEAT_SECONDS), so the worker is called down after 9 s of silence.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import requests

from tests.e2e.stack import PRODUCTION, Stack, Synced, wait_for

HEARTBEAT_SECONDS = int(PRODUCTION["WORKER_HEARTBEAT_SECONDS"])


def _health(stack: Stack) -> tuple[int, dict[str, Any]]:
    answer = requests.get(f"{stack.url}/healthz", timeout=15)
    return answer.status_code, answer.json()


def _sync_status(stack: Stack) -> str:
    """The command's output, with its exit code said when it is not 0."""
    try:
        return stack.run("manage.py", "sync_status")
    except RuntimeError as exc:  # Stack.run: "<command> failed (<code>):\n<output>"
        return str(exc)


def test_a_worker_that_stops_consuming_turns_healthz_503_naming_it_until_it_consumes_again(
    start_stack: Callable[..., Synced],
) -> None:
    # The stack production runs, shared with the metrics and whole-stack tests; the listener
    # this test starts is stopped for the next.
    synced = start_stack(env=PRODUCTION, keep=True)
    stack = synced.stack
    assert stack.worker is not None and stack.worker.process is not None
    # Bi-directional Sync is on: the listener is one of the parts.
    stack.start_stream()
    code, body = wait_for(
        lambda: (lambda c, b: (c, b) if c == 200 else None)(*_health(stack)),
        timeout=60,
        what="/healthz to answer 200",
    )
    assert body["failing"] == [] and body["listener"] == "ok", body
    assert "FAILING" not in _sync_status(stack)

    group = stack.worker.process.pid  # its own session: the group holds the pool children too
    os.killpg(group, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        code, body = wait_for(
            lambda: (lambda c, b: (c, b) if c == 503 else None)(*_health(stack)),
            timeout=6 * HEARTBEAT_SECONDS,
            what="/healthz to answer 503",
        )
        print(f"\n  worker stopped → /healthz 503 after {time.monotonic() - stopped_at:.1f} s")
        assert body["failing"] == ["worker"], body
        assert body["worker"].startswith("no heartbeat for "), body
        status = _sync_status(stack)
        assert "failed (1)" in status and "worker    FAILING: no heartbeat for " in status
        assert "Unhealthy: worker." in status
    finally:
        os.killpg(group, signal.SIGCONT)
    resumed_at = time.monotonic()
    wait_for(lambda: _health(stack)[0] == 200, timeout=30, what="/healthz to answer 200 again")
    print(f"  worker resumed → /healthz 200 after {time.monotonic() - resumed_at:.1f} s")
