"""What every scenario of `bench live` stands on: the stack configured for sync and the clients
that drive it (Live), a table row (Row), and the measuring window around a scenario: Salesforce
calls by user, the worker's own counts, its memory and the broker's queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce

from bench.live.probes import Resources, stats_delta, worker_busy, worker_stats
from sfemulator.seed import INTEGRATION_USERNAME, SEED_PASSWORD
from tests.e2e.stack import Api, Stack, sync_configure

PUSH_TASKS = ("sync.push", "sync.sweep")
PULL_TASKS = ("sync.pull", "sync.pull_tick")
COLLECTION = 200  # records a collection call carries
QUERY_PAGE = 2_000  # records a query page carries
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
    the API, as an admin does (tests/e2e/stack.py's `sync_configure`, as the e2e tests do)."""
    synced = sync_configure(stack, pull_interval_seconds=60)
    token = synced.alice.session.headers["Authorization"]
    return Live(
        stack=stack,
        admin=synced.admin,
        alice_token=str(token).removeprefix("Token "),
        alice_salesforce_id=synced.alice_salesforce_id,
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


def collection_write(sf: Salesforce, method: str, records: list[dict[str, Any]]) -> None:
    answers = sf.restful(
        "composite/sobjects", method=method, json={"allOrNone": True, "records": records}
    )
    failed = [a for a in answers if not a.get("success")]
    assert not failed, f"Salesforce refused {len(failed)} of {len(records)}: {failed[:3]}"
