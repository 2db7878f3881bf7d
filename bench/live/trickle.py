"""Trickle: changes through Cockpit's REST API at a fixed rate for a while, then the same change
stream through a naive sync (one simple-salesforce call per change) against the same emulator."""

from __future__ import annotations

import bisect
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.live.harness import (
    COLLECTION,
    NAIVE,
    PUSH_TASKS,
    WATCHER,
    Live,
    NotConverged,
    Row,
    settle,
    wait_until,
    window,
)
from bench.live.probes import SalesforceWatch, percentile

NAIVE_THREADS = 4


@dataclass
class Change:
    """One create or rename of a Cockpit task, as the trickle sends it."""

    index: int
    key: int  # which task (the n-th the stream creates)
    create: bool
    subject: str
    sent: float = 0.0  # time.monotonic() when the request went
    committed: float = 0.0  # time.monotonic() when Cockpit's API answered


# ---- the change stream ------------------------------------------------------------------------


def change_stream(
    count: int, prefix: str, *, edits: float, seed: int, lookback: int
) -> list[Change]:
    """`count` changes: creates, and (a share `edits`) renames of a task created at least
    `lookback` changes earlier, so its create has usually been answered by then."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible stream, not a secret
    changes: list[Change] = []
    created_at: list[int] = []  # index of the change that created task n
    for index in range(count):
        ready = bisect.bisect_right(created_at, index - lookback)
        if ready and rng.random() < edits:
            key, create = rng.randrange(ready), False
        else:
            key, create = len(created_at), True
            created_at.append(index)
        changes.append(Change(index, key, create, f"{prefix}{key:05d}-{index:05d}"))
    return changes


def drive(live: Live, changes: list[Change], *, rate: float, threads: int, seconds: float) -> float:
    """Send the changes through Cockpit's REST API, change i at start + i/rate, for `seconds`:
    what the clients cannot send by then is not sent (its `committed` stays 0). Returns the
    achieved rate in changes a second."""
    task_ids: dict[int, int] = {}
    created = {c.key: threading.Event() for c in changes if c.create}
    renaming = {key: threading.Lock() for key in created}
    lock = threading.Lock()
    cursor = iter(changes)
    start = time.monotonic() + 0.2
    end = start + seconds

    def client() -> None:
        api = live.alice()
        while True:
            with lock:
                change = next(cursor, None)
            if change is None or time.monotonic() > end:
                return
            delay = start + change.index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            change.sent = time.monotonic()
            if change.create:
                answer = api.call("POST", "tasks/", {"name": change.subject}, expect=201)
                task_ids[change.key] = answer["id"]
                created[change.key].set()
                change.committed = time.monotonic()
                continue
            # Its create was taken before it (the stream's lookback) and may be in flight.
            if not created[change.key].wait(timeout=60):
                raise NotConverged(f"task {change.key} was never created")
            # One task's renames one at a time, as one person edits a task: two in flight
            # at once may be applied in either order, and the last answered would not be
            # the name Cockpit kept, which final_subjects then waits for in vain.
            with renaming[change.key]:
                api.call("PATCH", f"tasks/{task_ids[change.key]}/", {"name": change.subject})
                change.committed = time.monotonic()

    with ThreadPoolExecutor(threads, thread_name_prefix="api-client") as pool:
        for future in [pool.submit(client) for _ in range(threads)]:
            future.result()
    done = [c for c in changes if c.committed]
    return len(done) / max(max(c.committed for c in done) - start, 1e-3)


def visible_at(changes: list[Change], seen: dict[str, float]) -> dict[int, float]:
    """When each change became visible in Salesforce: when its Subject, or a later Subject of
    the same task, was first seen (renames made before a push travel together)."""
    by_key: dict[int, list[Change]] = {}
    for change in sorted(changes, key=lambda c: c.committed):
        by_key.setdefault(change.key, []).append(change)
    found: dict[int, float] = {}
    for history in by_key.values():
        earliest: float | None = None
        for change in reversed(history):
            moment = seen.get(change.subject)
            if moment is not None:
                earliest = moment if earliest is None else min(earliest, moment)
            if earliest is not None:
                found[change.index] = earliest
    return found


def final_subjects(changes: list[Change]) -> set[str]:
    last: dict[int, Change] = {}
    for change in sorted(changes, key=lambda c: c.committed):
        last[change.key] = change
    return {c.subject for c in last.values()}


# ---- the naive sync ---------------------------------------------------------------------------


def naive_replay(live: Live, changes: list[Change]) -> tuple[int, float]:
    """The same changes as a naive sync makes them: one simple-salesforce call per change, as a
    post_save handler would (create, or update by the Id the create returned), in the order
    Cockpit committed them, each task's changes in one thread. Returns (calls the emulator
    logged for it, seconds)."""
    lanes: list[list[Change]] = [[] for _ in range(NAIVE_THREADS)]
    for change in sorted(changes, key=lambda c: c.committed):
        lanes[change.key % NAIVE_THREADS].append(change)

    def lane(items: list[Change]) -> int:
        sf, ids, calls = live.salesforce(NAIVE), {}, 0
        for change in items:
            subject = "naive " + change.subject
            if change.create:
                ids[change.key] = sf.Task.create({"Subject": subject})["id"]
            else:
                sf.Task.update(ids[change.key], {"Subject": subject})
            calls += 1
        return calls

    before = live.emulator.request_log()["by_user"].get(NAIVE, 0)
    started = time.monotonic()
    with ThreadPoolExecutor(NAIVE_THREADS, thread_name_prefix="naive") as pool:
        made = sum(pool.map(lane, [items for items in lanes if items]))
    seconds = time.monotonic() - started
    logged = live.emulator.request_log()["by_user"].get(NAIVE, 0) - before
    assert logged == made, f"the naive sync made {made} calls, the emulator logged {logged}"
    return logged, seconds


# ---- trickle ----------------------------------------------------------------------------------


def trickle(live: Live, rate: int, seconds: int) -> Row:
    """`rate` changes a second for `seconds`: half creates, half renames, through the API."""
    planned = rate * seconds
    # A create or rename takes 0.1-0.3 s through the API on a busy 2-core machine.
    threads = max(1, min(16, math.ceil(rate / 5)))
    prefix = f"live-t{rate}-"
    changes = change_stream(planned, prefix, edits=0.5, seed=rate, lookback=2 * threads)
    row = Row(
        f"trickle {rate}/s × {seconds} s",
        planned,
        lag_target=2.0,
        ratio_target=20 if rate == 50 else None,
    )
    watch = SalesforceWatch(live.salesforce(WATCHER), live.alice_salesforce_id, prefix)
    with window(live) as measured:
        watch.start()
        try:
            achieved = drive(live, changes, rate=rate, threads=threads, seconds=seconds)
            changes = [c for c in changes if c.committed]
            count = len(changes)
            wanted = final_subjects(changes)
            try:
                wait_until(
                    lambda: wanted <= watch.seen().keys(),
                    timeout=30 + count / 50,
                    what=lambda: (
                        f"{len(wanted - watch.seen().keys())} of {len(wanted)} tasks "
                        "not in Salesforce"
                    ),
                )
            except NotConverged as exc:
                row.converged = False
                row.notes.append(f"did not converge {exc}")
            settle(live, row)
        finally:
            watch.stop()
    if not count:
        raise NotConverged(f"no change went through Cockpit's API in {seconds} s")
    row.changes = count
    row.minimum = math.ceil(count / COLLECTION)
    row.target = math.ceil(seconds / 1) + 2  # issue 19: at most one call a second
    seen = visible_at(changes, watch.seen())
    lags = [max(0.0, seen[c.index] - c.committed) for c in changes if c.index in seen]
    answered = percentile([c.committed - c.sent for c in changes], 0.5) or 0.0
    push = measured.worker(PUSH_TASKS)
    row.calls = int(push["calls"])
    row.lag_p50, row.lag_p95 = percentile(lags, 0.5), percentile(lags, 0.95)
    row.records_per_s = count / push["seconds"] if push["seconds"] else None
    row.queries_per_record = push["queries"] / count
    row.worker_mb, row.broker_peak = measured.peak_mb, measured.peak_queue
    row.notes.append(
        f"sent at {achieved:.1f} changes/s ({planned} planned) with {threads} client "
        f"thread(s), the API answering in {answered:.2f} s (p50) "
        f"({sum(c.create for c in changes)} creates, {sum(not c.create for c in changes)} "
        f"renames); {measured.describe()}; the watcher made {watch.calls} queries"
    )
    row.naive, naive_seconds = naive_replay(live, changes)
    row.notes.append(f"naive sync: {row.naive} calls in {naive_seconds:.1f} s")
    return row
