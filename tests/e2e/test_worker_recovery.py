"""A Celery pool child killed as the kernel's OOM killer would (SIGKILL to the child alone, the
worker's main process lives on) costs the sync at most one lease period: the dead child's
claims go back and the same worker consumes again, with nothing pushed twice (issue 16).

The whole stack runs as in tests/e2e/test_failures.py (PostgreSQL + Redis when the environment
names them, else SQLite and the filesystem broker), the worker as the Procfile runs it
(concurrency 2). Run with `-s` to see the figures.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.stack import Service, Synced, wait_for
from tests.e2e.test_failures import (
    _first_pull_done,
    _outbox,
    _salesforce_converged,
    _tag,
)

# SALESFORCE_TIMEOUT_SECONDS=20 makes the engine lease 30 s; beat's sweep runs every 15 s and
# a push cycle takes a few seconds: the dead child's claims are pushed within this bound.
TIMEOUT_SECONDS = 20
LEASE_SECONDS = TIMEOUT_SECONDS + 10
RECOVERY_BOUND = LEASE_SECONDS + 15 + 10


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the prefork pool of a Celery worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _pool_kill(worker: Service) -> list[int]:
    """SIGKILL every pool child of the worker, its main process left alive: the one pushing
    (holding the engine lease and the outbox claims) and the one waiting for a job (which
    held the classic pool's queue lock: issue 16's wedge)."""
    assert worker.process is not None
    children = _children(worker.process.pid)
    assert len(children) == 2, children
    for child in children:
        os.kill(child, signal.SIGKILL)
    return children


def test_pool_children_killed_mid_push_cost_one_lease_and_the_worker_consumes_again(
    start_stack: Callable[..., Synced],
) -> None:
    synced = start_stack(
        env={"SALESFORCE_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS)},
        pull_interval_seconds=3600,
        worker_args=("--concurrency", "2"),  # as the Procfile runs it
    )
    stack, emulator = synced.stack, synced.stack.emulator
    assert emulator is not None and stack.worker is not None and stack.worker.process
    worker_pid = stack.worker.process.pid
    _first_pull_done(synced)

    # Salesforce slow, so the push is still in flight when its child dies.
    emulator.set_faults(latency_ms=6000)
    tag = _tag("Oom")
    names = [f"{tag} call {n:02d}" for n in range(10)]
    for name in names:
        synced.alice.call("POST", "tasks/", {"name": name}, expect=201)
    wait_for(
        lambda: (lambda c: c["in_flight"] and not c["pending"])(_outbox(synced)),
        timeout=45,
        what="every entry claimed by a push",
    )
    killed = _pool_kill(stack.worker)
    killed_at = time.monotonic()
    print(f"\n  pool children {killed} SIGKILLed mid-push; outbox {_outbox(synced)}")
    emulator.clear_faults()
    # The CSM keeps working: new changes ring for pushes the same worker must consume.
    names.append(f"{tag} made after the kill")
    synced.alice.call("POST", "tasks/", {"name": names[-1]}, expect=201)

    converged = _salesforce_converged(synced, tag, names)

    try:
        synced.measure("pool child killed → every task in Salesforce once, synced", killed_at,
                       converged, bound=RECOVERY_BOUND)  # fmt: skip
    except AssertionError:
        print(f"  outbox {RECOVERY_BOUND} s after the kill: {_outbox(synced)}")
        raise
    # The same worker recovered: nothing restarted it.
    assert stack.worker.process is not None and stack.worker.process.pid == worker_pid
    assert not set(_children(worker_pid)) & set(killed)
    # And it goes on consuming, with new children: a later change is pushed within seconds.
    names.append(f"{tag} made once recovered")
    again = time.monotonic()
    synced.alice.call("POST", "tasks/", {"name": names[-1]}, expect=201)
    synced.measure("a change after the recovery → in Salesforce, synced", again, converged,
                   bound=15)  # fmt: skip
