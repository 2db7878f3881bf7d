"""Backlogs each way, inbound through change events, and drift repair: what arrives in bulk."""

from __future__ import annotations

import math
import time
from typing import Any

from bench.live.harness import (
    COLLECTION,
    INTEGRATION_USERNAME,
    PULL_TASKS,
    PUSH_TASKS,
    QUERY_PAGE,
    SALESFORCE_USER,
    WATCHER,
    Live,
    NotConverged,
    Row,
    collection_write,
    settle,
    wait_until,
    window,
)
from bench.live.probes import CockpitWatch, SalesforceWatch, percentile
from bench.live.trickle import change_stream
from tests.e2e.stack import REPO_ROOT, Service

# ---- backlogs ---------------------------------------------------------------------------------

COMPOSITE = 5 * COLLECTION  # records one Composite call of collections carries


def backlog_out(live: Live, count: int) -> tuple[Row, dict[str, str]]:
    """`count` tasks created through the API while the worker is stopped, then released by
    starting it. Returns the row and the Salesforce Ids of the tasks, by Subject."""
    prefix = f"live-bo{count}-"
    row = Row(
        f"backlog out {count:,}",
        count,
        # One Composite call carries 5 collections of 200; issue 19's bound allows a read
        # beside each (2 × ceil(N/1,000) + 2).
        minimum=math.ceil(count / COMPOSITE),
        target=2 * math.ceil(count / COMPOSITE) + 2,
        naive=count,
        rate_target=3_000,
    )
    changes = change_stream(count, prefix, edits=0, seed=count, lookback=0)
    live.stack.stop_worker()
    try:
        made = time.monotonic()
        live.tasks_create(c.subject for c in changes)
        made = count / (time.monotonic() - made)
    finally:
        watch = SalesforceWatch(live.salesforce(WATCHER), live.alice_salesforce_id, prefix)
        with window(live) as measured:
            watch.start()
            try:
                live.stack.start_worker()
                released = time.monotonic()
                wanted = {c.subject for c in changes}
                try:
                    wait_until(
                        lambda: wanted <= watch.seen().keys(),
                        timeout=60 + count / 100,
                        what=lambda: (
                            f"{len(wanted - watch.seen().keys())} of {count} tasks "
                            "not in Salesforce"
                        ),
                    )
                except NotConverged as exc:
                    row.converged = False
                    row.notes.append(f"did not converge {exc}")
                settle(live, row)
            finally:
                watch.stop()
    seen = watch.seen()
    # A twin the worker pushed while start_worker was still waiting for it to say ready is seen
    # before `released`: its lag is nil, not negative.
    lags = [max(0.0, seen[c.subject] - released) for c in changes if c.subject in seen]
    push = measured.worker(PUSH_TASKS)
    row.calls = int(push["calls"])
    row.lag_p50, row.lag_p95 = percentile(lags, 0.5), percentile(lags, 0.95)
    row.records_per_s = count / push["seconds"] if push["seconds"] else None
    row.queries_per_record = push["queries"] / count
    row.worker_mb, row.broker_peak = measured.peak_mb, measured.peak_queue
    wall = max(lags) if lags else 0.0
    row.notes.append(
        f"created at {made:.0f}/s by task_create, 500 a transaction, with the worker stopped; "
        f"lag counted from "
        f"the worker's 'ready', all in Salesforce {wall:.1f} s after it; naive = one call per "
        f"change (not replayed); {measured.describe()}"
    )
    return row, dict(watch.ids)


def backlog_in(live: Live, count: int, twins: dict[str, str]) -> Row:
    """`count` changes made in Salesforce (collections of 200): renames of the outbound
    backlog's twins and, for the rest, new tasks owned by Alice; then a pull sent to the
    worker. Lag runs from each record's write call to when Cockpit's count of matching tasks
    covered it (a pull reads in SystemModstamp order, so the n-th written is the n-th applied)."""
    prefix = f"live-bi{count}-"
    row = Row(
        f"backlog in {count:,}",
        count,
        minimum=math.ceil(count / QUERY_PAGE),
        target=math.ceil(count / QUERY_PAGE) + 3,
        rate_target=2_000,
        queries_target=0.5,
    )
    sf = live.salesforce(SALESFORCE_USER)
    renames = list(twins.values())[: count // 2]
    committed: list[float] = []
    for start in range(0, len(renames), COLLECTION):
        chunk = renames[start : start + COLLECTION]
        body = [
            {"attributes": {"type": "Task"}, "id": i, "Subject": f"{prefix}{start + n:05d}"}
            for n, i in enumerate(chunk)
        ]
        collection_write(sf, "PATCH", body)
        committed += [time.monotonic()] * len(chunk)
    committed += _creates(live, sf, prefix, range(len(renames), count))
    watch = CockpitWatch(live.alice(), prefix)
    with window(live) as measured:
        watch.start()
        try:
            live.pull_now()
            try:
                wait_until(
                    lambda: watch.count() >= count,
                    timeout=60 + count / 50,
                    what=lambda: f"{count - watch.count()} of {count} changes not in Cockpit",
                )
            except NotConverged as exc:
                row.converged = False
                row.notes.append(f"did not converge {exc}")
            settle(live, row)
        finally:
            watch.stop()
    lags = _lags(committed, watch)
    pull = measured.worker(PULL_TASKS)
    row.calls = int(pull["calls"])
    row.lag_p50, row.lag_p95 = percentile(lags, 0.5), percentile(lags, 0.95)
    row.records_per_s = count / pull["seconds"] if pull["seconds"] else None
    row.queries_per_record = pull["queries"] / count
    row.worker_mb, row.broker_peak = measured.peak_mb, measured.peak_queue
    writes = math.ceil(len(renames) / COLLECTION) + math.ceil((count - len(renames)) / COLLECTION)
    row.notes.append(
        f"{len(renames)} renames of linked tasks and {count - len(renames)} new tasks, written "
        f"in {writes} collection calls; the pull sent through the broker; {measured.describe()}"
    )
    return row


# ---- change events ---------------------------------------------------------------------------


def stream_trickle(live: Live, rate: int, seconds: int) -> Row:
    """Salesforce users create tasks at `rate` a second for `seconds`, one REST call each, with
    the change-event listener running: the lag from each write to the task in Cockpit (issue
    12's target: p95 under 2 s at 50 a second)."""
    prefix = f"live-st{rate}-"
    count = rate * seconds
    row = Row(f"stream trickle {rate}/s × {seconds} s", count, minimum=0)
    stream = _listener(live)
    try:
        sf = live.salesforce(SALESFORCE_USER)
        committed: list[float] = []
        watch = CockpitWatch(live.alice(), prefix)
        with window(live) as measured:
            watch.start()
            try:
                started = time.monotonic()
                for n in range(count):
                    due = started + n / rate
                    if due > time.monotonic():
                        time.sleep(due - time.monotonic())
                    sf.Task.create(
                        {"Subject": f"{prefix}{n:05d}", "OwnerId": live.alice_salesforce_id}
                    )
                    committed.append(time.monotonic())
                achieved = count / (time.monotonic() - started)
                _await_in_cockpit(watch, count, row)
            finally:
                watch.stop()
    finally:
        stream.stop()
    lags = _lags(committed, watch)
    worker = measured.worker(PUSH_TASKS + PULL_TASKS)
    row.calls = measured.calls_by(INTEGRATION_USERNAME) - int(worker["calls"])
    row.lag_p50, row.lag_p95 = percentile(lags, 0.5), percentile(lags, 0.95)
    row.records_per_s = achieved
    row.worker_mb, row.broker_peak = measured.peak_mb, measured.peak_queue
    row.notes.append(
        f"{achieved:.0f} writes a second achieved, one REST create each; lag from each write's "
        f"answer to Cockpit's API showing it (polled); Cockpit's calls are the listener's "
        f"handshake and catch-up pull; {measured.describe()}"
    )
    return row


def _creates(live: Live, sf: Any, prefix: str, numbers: range) -> list[float]:
    """Alice's tasks "<prefix><n>" created in Salesforce, 200 a call; when each was written."""
    written: list[float] = []
    for start in range(numbers.start, numbers.stop, COLLECTION):
        body = [
            {
                "attributes": {"type": "Task"},
                "Subject": f"{prefix}{n:05d}",
                "OwnerId": live.alice_salesforce_id,
            }
            for n in range(start, min(start + COLLECTION, numbers.stop))
        ]
        collection_write(sf, "POST", body)
        written += [time.monotonic()] * len(body)
    return written


def _lags(committed: list[float], watch: CockpitWatch) -> list[float]:
    """Seconds from each write (in order) to Cockpit counting that many tasks."""
    return [
        max(0.0, reached - at)  # Cockpit may count a write before its answer reaches us
        for k, at in enumerate(committed, start=1)
        if (reached := watch.reached(k)) is not None
    ]


def _await_in_cockpit(watch: CockpitWatch, count: int, row: Row) -> None:
    try:
        wait_until(
            lambda: watch.count() >= count,
            timeout=60 + count / 50,
            what=lambda: f"{count - watch.count()} of {count} tasks not in Cockpit",
        )
    except NotConverged as exc:
        row.converged = False
        row.notes.append(f"did not converge {exc}")


def _listener(live: Live) -> Service:
    """The change-event listener, started as `make run` starts it, once it has subscribed."""
    stream = Service(
        "stream",
        [str(live.stack.bin / "python"), str(REPO_ROOT / "manage.py"), "sync_stream"],
        live.stack.env,
        live.stack.workdir,
    )
    stream.start()
    stream.wait_for_log("Listening to Salesforce change events")
    wait_until(
        lambda: "POST cometd/meta/handshake" in live.emulator.request_log()["by_endpoint"],
        timeout=30,
        what=lambda: "the listener never shook hands with the Streaming API",
    )
    time.sleep(1.0)  # the subscribe follows the handshake
    return stream


def stream_in(live: Live, count: int) -> Row:
    """`count` tasks created in Salesforce (collections of 200) with the change-event listener
    running (`manage.py sync_stream`, the Procfile's `stream`), as `make run` runs it: how fast
    they reach Cockpit without waiting for a pull. The listener is no Celery task, so its
    database queries are not counted; its REST calls are Cockpit's calls at the emulator less
    the worker's."""
    prefix = f"live-si{count}-"
    row = Row(f"stream in {count:,}", count, minimum=0)
    stream = _listener(live)
    try:
        sf = live.salesforce(SALESFORCE_USER)
        committed: list[float] = []
        watch = CockpitWatch(live.alice(), prefix)
        with window(live) as measured:
            watch.start()
            try:
                committed += _creates(live, sf, prefix, range(count))
                _await_in_cockpit(watch, count, row)
                settle(live, row)
            finally:
                watch.stop()
    finally:
        stream.stop()
    lags = _lags(committed, watch)
    worker = measured.worker(PUSH_TASKS + PULL_TASKS)
    row.calls = measured.calls_by(INTEGRATION_USERNAME) - int(worker["calls"])
    row.lag_p50, row.lag_p95 = percentile(lags, 0.5), percentile(lags, 0.95)
    done = watch.reached(count)
    row.records_per_s = count / (done - committed[0]) if done and committed else None
    row.worker_mb, row.broker_peak = measured.peak_mb, measured.peak_queue
    row.notes.append(
        f"written in {math.ceil(count / COLLECTION)} collection calls; records/s from the first "
        f"write to the last task in Cockpit (bounded by the writes); the listener's queries "
        f"are not counted; {measured.describe()}"
    )
    return row


# ---- drift repair -----------------------------------------------------------------------------


def reconcile(live: Live) -> Row:
    """Drift repair (issue 8, item 7) over every linked task, started from the API as an admin
    starts it by hand; the worker runs it. Its cost, with no target of its own."""
    row = Row("reconcile", 0)
    with window(live) as measured:
        run = live.admin.call("POST", "sync/reconcile-runs/", expect=202)

        def finished() -> bool:
            nonlocal run
            run = live.admin.call("GET", f"sync/reconcile-runs/{run['id']}/")
            return bool(run["finished_at"])

        try:
            wait_until(finished, timeout=600, what=lambda: f"the reconcile run is at {run}")
        except NotConverged as exc:
            row.converged = False
            row.notes.append(f"did not finish {exc}")
        settle(live, row)
    checked = int(run["checked"] or 0)
    work = measured.worker(("sync.reconcile",))
    row.scenario = f"reconcile {checked:,} linked"
    row.changes = checked
    row.calls = int(work["calls"])
    row.minimum = math.ceil(checked / QUERY_PAGE)
    row.records_per_s = checked / work["seconds"] if work["seconds"] else None
    row.queries_per_record = work["queries"] / checked if checked else None
    row.worker_mb, row.broker_peak = measured.peak_mb, measured.peak_queue
    row.notes.append(
        f"{run['repaired_in_cockpit']} repaired in Cockpit, {run['repaired_in_salesforce']} in "
        f"Salesforce, {run['conflicts']} conflicts, {run['twins_missing']} twins missing, "
        f"the run's own count of calls {run['api_calls']}, error: {run['error'] or 'none'}; "
        f"{work['seconds']:.1f} s busy of which {work['waited']:.1f} s waiting for Salesforce"
    )
    return row
