"""The scenarios of `bench live`: a trickle of changes at a fixed rate, and backlogs each way,
measured on the whole stack (tests/e2e/stack.py) over the network, and the naive sync run on
the same change stream against the same emulator."""

from __future__ import annotations

import bisect
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce

from bench.live.probes import (
    CockpitWatch,
    Resources,
    SalesforceWatch,
    percentile,
    stats_delta,
    worker_busy,
    worker_stats,
)
from sfemulator.seed import INTEGRATION_USERNAME, SEED_PASSWORD
from tests.e2e.stack import ADMIN_PASSWORD, ADMIN_USERNAME, REPO_ROOT, Api, Service, Stack

ALICE_PASSWORD = "live-Bench-passw0rd"
PUSH_TASKS = ("sync.push", "sync.sweep")
PULL_TASKS = ("sync.pull", "sync.pull_tick")
COLLECTION = 200  # records a collection call carries
QUERY_PAGE = 2_000  # records a query page carries
NAIVE_THREADS = 4
# Sales users of the emulator's seed that no Cockpit user matches: their calls are logged under
# their own names, so the emulator's request log tells them from Cockpit's, and the tasks they
# own are not pulled into Cockpit.
WATCHER = "dave@example.com.sfemu"
NAIVE = "bob@example.com.sfemu"
SALESFORCE_USER = "carol@example.com.sfemu"


class NotConverged(Exception):
    """A scenario's changes did not all reach the other side in time."""


@dataclass
class Row:
    """One line of the table; None prints as '-'."""

    scenario: str
    changes: int
    calls: int | None = None
    minimum: int = 0
    target: int | None = None  # issue 8's bound on the calls
    naive: int | None = None
    lag_p50: float | None = None
    lag_p95: float | None = None
    records_per_s: float | None = None
    queries_per_record: float | None = None
    worker_mb: float | None = None
    broker_peak: int | None = None
    notes: list[str] = field(default_factory=list)
    converged: bool = True
    lag_target: float | None = None  # seconds p95 may take (trickle)
    ratio_target: float | None = None  # naive calls / Cockpit's at least (trickle at 50/s)
    rate_target: float | None = None  # records a second at least (backlogs)
    queries_target: float | None = None  # queries a record at most (inbound backlog)


@dataclass
class Change:
    """One create or rename of a Cockpit task, as the trickle sends it."""

    index: int
    key: int  # which task (the n-th the stream creates)
    create: bool
    subject: str
    sent: float = 0.0  # time.monotonic() when the request went
    committed: float = 0.0  # time.monotonic() when Cockpit's API answered


@dataclass
class Live:
    """The running stack, configured for sync, and the clients the scenarios use."""

    stack: Stack
    admin: Api
    alice_token: str
    alice_salesforce_id: str
    stats_path: Path

    @property
    def emulator(self) -> Any:
        assert self.stack.emulator is not None
        return self.stack.emulator

    def alice(self) -> Api:
        """A client of its own: one per thread (a requests Session is not shared)."""
        return Api(self.stack.url, self.alice_token)

    def salesforce(self, username: str) -> Salesforce:
        return self.emulator.simple_salesforce(username=username, password=SEED_PASSWORD)

    def worker_pid(self) -> int | None:
        worker = self.stack.worker
        if worker is None or worker.process is None or not worker.running:
            return None
        return worker.process.pid

    def queue_dir(self) -> Path | None:
        if not self.stack.broker_url.startswith("filesystem://"):
            return None
        return self.stack.var_dir / "broker" / "queue"

    def tasks_create(self, names: Iterable[str]) -> None:
        """Alice's tasks through the service the API calls (`manage.py shell` in the stack's
        environment), 500 a transaction: as an import would make them, many times faster
        than one API request (and one SQLite commit) each."""
        path = self.stack.workdir / "tasks_create.json"
        path.write_text(json.dumps(list(names)))
        script = (
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from tasks.services import task_create\n"
            "from django.db import transaction\n"
            "alice = get_user_model().objects.get(username='alice')\n"
            f"names = json.loads(open({str(path)!r}).read())\n"
            "for start in range(0, len(names), 500):\n"
            "    with transaction.atomic():\n"
            "        for name in names[start:start + 500]:\n"
            "            task_create(owner=alice, name=name)\n"
        )
        self.stack.run("manage.py", "shell", "-c", script, timeout=900)

    def pull_now(self) -> None:
        """Send `sync.pull` to the worker through the broker, as beat would: the pull runs in
        the worker, where its queries are counted (POST sync/pull/ would run it in the web
        process)."""
        from celery import Celery

        app = Celery("live-bench", broker=self.stack.broker_url)
        if self.queue_dir() is not None:
            broker = self.stack.var_dir / "broker"
            app.conf.broker_transport_options = {
                "data_folder_in": str(broker / "queue"),
                "data_folder_out": str(broker / "queue"),
                "processed_folder": str(broker / "processed"),
                "control_folder": str(broker / "control"),
                "store_processed": False,
            }
        try:
            app.send_task("sync.pull")
        finally:
            app.close()


def configure(stack: Stack) -> Live:
    """Alice, the emulator as the primary connection, users matched, sync on both ways: through
    the API, as an admin does (tests/e2e/test_whole_stack.py does the same)."""
    emulator = stack.emulator
    assert emulator is not None
    admin = Api.login(stack.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    alice = admin.call(
        "POST",
        "users/",
        {"username": "alice", "email": "alice@example.com", "password": ALICE_PASSWORD},
        expect=201,
    )
    connection = admin.call(
        "POST",
        "sync/connections/",
        {
            "name": "Emulator",
            "login_url": emulator.login_url,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "ca_bundle": emulator.ca_path,
            "is_primary": True,
        },
        expect=201,
    )
    report = admin.call("POST", f"sync/connections/{connection['id']}/test/")
    assert report["ok"], report
    admin.call("POST", f"sync/connections/{connection['id']}/match-users/")
    alice = admin.call("GET", f"users/{alice['id']}/")
    assert alice["salesforce_user_id"], f"Alice was not matched to a Salesforce user: {alice}"
    admin.call("PATCH", "sync/settings/", {"auto_sync": True, "bidirectional_sync": True})
    token = Api.login(stack.url, "alice", ALICE_PASSWORD).session.headers["Authorization"]
    return Live(
        stack=stack,
        admin=admin,
        alice_token=str(token).removeprefix("Token "),
        alice_salesforce_id=alice["salesforce_user_id"],
        stats_path=Path(stack.env["LIVE_QUERY_STATS"]),
    )


# ---- what every scenario measures -------------------------------------------------------------


@dataclass
class Window:
    """Salesforce calls by user and endpoint, worker figures by task, worker memory and broker
    queue peaks, between the start and the end of a scenario."""

    log_before: dict[str, Any]
    stats_before: dict[str, dict[str, float]]
    log_after: dict[str, Any] = field(default_factory=dict)
    stats_after: dict[str, dict[str, float]] = field(default_factory=dict)
    peak_mb: float = 0.0
    peak_queue: int | None = None

    def calls_by(self, username: str) -> int:
        before = self.log_before["by_user"].get(username, 0)
        return int(self.log_after["by_user"].get(username, 0) - before)

    def worker(self, names: tuple[str, ...]) -> dict[str, float]:
        return stats_delta(self.stats_before, self.stats_after, names)

    def describe(self) -> str:
        """Cockpit's calls at the emulator and the worker's calls by direction, for the notes."""
        cockpit = self.calls_by(INTEGRATION_USERNAME)
        push, pull = self.worker(PUSH_TASKS), self.worker(PULL_TASKS)
        return (
            f"Cockpit's calls at the emulator: {cockpit} (pushes {push['calls']:.0f} in "
            f"{push['runs']:.0f} runs, {push['seconds']:.1f} s busy of which "
            f"{push['waited']:.1f} s waiting for Salesforce; pulls {pull['calls']:.0f} in "
            f"{pull['runs']:.0f} runs, {pull['seconds']:.1f} s busy of which "
            f"{pull['waited']:.1f} s waiting)"
        )


@contextmanager
def window(live: Live) -> Iterator[Window]:
    resources = Resources(live.worker_pid, live.queue_dir())
    measured = Window(
        log_before=live.emulator.request_log(), stats_before=worker_stats(live.stats_path)
    )
    resources.start()
    try:
        yield measured
    finally:
        resources.stop()
        measured.log_after = live.emulator.request_log()
        measured.stats_after = worker_stats(live.stats_path)
        measured.peak_mb = resources.peak_mb
        measured.peak_queue = resources.peak_queue


def settle(live: Live, row: Row) -> None:
    """Wait for the worker to finish the cycle that made the last change visible (it records
    its results after the call), so its calls, queries and busy time are all counted."""
    quiet_since: float | None = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if worker_busy(live.stats_path):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.0:
            return
        time.sleep(0.05)
    row.notes.append("the worker was still busy 30 s after the last change was visible")


def wait_until(check: Callable[[], bool], *, timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise NotConverged(f"after {timeout:.0f} s: {what()}")
        time.sleep(0.1)


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
            else:
                # Its create was taken before it (the stream's lookback) and may be in flight.
                if not created[change.key].wait(timeout=60):
                    raise NotConverged(f"task {change.key} was never created")
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
    row.target = math.ceil(seconds / 0.5) + math.ceil(count / COLLECTION) + 2
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


# ---- backlogs ---------------------------------------------------------------------------------


def backlog_out(live: Live, count: int) -> tuple[Row, dict[str, str]]:
    """`count` tasks created through the API while the worker is stopped, then released by
    starting it. Returns the row and the Salesforce Ids of the tasks, by Subject."""
    prefix = f"live-bo{count}-"
    row = Row(
        f"backlog out {count:,}",
        count,
        minimum=math.ceil(count / COLLECTION),
        target=math.floor(1.1 * math.ceil(count / COLLECTION)) + 2,
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
    lags = [seen[c.subject] - released for c in changes if c.subject in seen]
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
        _collection(sf, "PATCH", body)
        committed += [time.monotonic()] * len(chunk)
    for start in range(len(renames), count, COLLECTION):
        body = [
            {
                "attributes": {"type": "Task"},
                "Subject": f"{prefix}{n:05d}",
                "OwnerId": live.alice_salesforce_id,
            }
            for n in range(start, min(start + COLLECTION, count))
        ]
        _collection(sf, "POST", body)
        committed += [time.monotonic()] * len(body)
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
    lags = [
        reached - at
        for k, at in enumerate(committed, start=1)
        if (reached := watch.reached(k)) is not None
    ]
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


def _collection(sf: Salesforce, method: str, records: list[dict[str, Any]]) -> None:
    answers = sf.restful(
        "composite/sobjects", method=method, json={"allOrNone": True, "records": records}
    )
    failed = [a for a in answers if not a.get("success")]
    assert not failed, f"Salesforce refused {len(failed)} of {len(records)}: {failed[:3]}"


# ---- change events ---------------------------------------------------------------------------


def stream_in(live: Live, count: int) -> Row:
    """`count` tasks created in Salesforce (collections of 200) with the change-event listener
    running (`manage.py sync_stream`, the Procfile's `stream`), as `make run` runs it: how fast
    they reach Cockpit without waiting for a pull. The listener is no Celery task, so its
    database queries are not counted; its REST calls are Cockpit's calls at the emulator less
    the worker's."""
    prefix = f"live-si{count}-"
    row = Row(f"stream in {count:,}", count, minimum=0)
    stream = Service(
        "stream",
        [str(live.stack.bin / "python"), str(REPO_ROOT / "manage.py"), "sync_stream"],
        live.stack.env,
        live.stack.workdir,
    )
    stream.start()
    try:
        stream.wait_for_log("Listening to Salesforce change events")
        wait_until(
            lambda: "POST cometd/meta/handshake" in live.emulator.request_log()["by_endpoint"],
            timeout=30,
            what=lambda: "the listener never shook hands with the Streaming API",
        )
        time.sleep(1.0)  # the subscribe follows the handshake
        sf = live.salesforce(SALESFORCE_USER)
        committed: list[float] = []
        watch = CockpitWatch(live.alice(), prefix)
        with window(live) as measured:
            watch.start()
            try:
                for start in range(0, count, COLLECTION):
                    body = [
                        {
                            "attributes": {"type": "Task"},
                            "Subject": f"{prefix}{n:05d}",
                            "OwnerId": live.alice_salesforce_id,
                        }
                        for n in range(start, min(start + COLLECTION, count))
                    ]
                    _collection(sf, "POST", body)
                    committed += [time.monotonic()] * len(body)
                try:
                    wait_until(
                        lambda: watch.count() >= count,
                        timeout=60 + count / 50,
                        what=lambda: f"{count - watch.count()} of {count} tasks not in Cockpit",
                    )
                except NotConverged as exc:
                    row.converged = False
                    row.notes.append(f"did not converge {exc}")
                settle(live, row)
            finally:
                watch.stop()
    finally:
        stream.stop()
    lags = [
        reached - at
        for k, at in enumerate(committed, start=1)
        if (reached := watch.reached(k)) is not None
    ]
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
