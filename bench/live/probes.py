"""What `bench live` watches while a scenario runs, each in its own thread: the worker's memory
and the broker's queue, Salesforce (polled through the emulator with SOQL) and Cockpit (polled
through its REST API), plus the worker's own query counts (bench/live/worker_queries.py)."""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce

POLL_EVERY = 0.1  # seconds between two polls of either side
# A poll reads the Tasks stamped since a little before the previous poll: Salesforce stamps to
# the second, and a collection of 200 is stamped when it arrives, not when it commits.
POLL_OVERLAP = dt.timedelta(seconds=3)


class Poller(threading.Thread):
    """Calls `poll` every POLL_EVERY seconds until stopped; keeps the first error."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def poll(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - reported by stop(), never swallowed
                self.error = exc
                return
            self.halt.wait(POLL_EVERY)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        if self.error is not None:
            raise RuntimeError(f"{self.name} failed: {self.error!r}") from self.error


# ---- the worker's memory and the broker's queue ---------------------------------------------


def _process_tree(pid: int) -> list[int]:
    """pid and its descendants (the worker's prefork pool), from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return found


def _rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Resources(Poller):
    """Peak resident memory of the worker (main process and pool together) and peak number of
    messages waiting in the filesystem broker's queue folder (None for another broker)."""

    def __init__(self, worker_pid: Callable[[], int | None], queue_dir: Path | None) -> None:
        super().__init__("resources")
        self.worker_pid = worker_pid
        self.queue_dir = queue_dir
        self.peak_mb = 0.0
        self.peak_queue: int | None = 0 if queue_dir else None

    def poll(self) -> None:
        pid = self.worker_pid()
        if pid:
            self.peak_mb = max(self.peak_mb, sum(_rss_mb(p) for p in _process_tree(pid)))
        if self.queue_dir is not None and self.peak_queue is not None:
            try:
                waiting = sum(1 for p in self.queue_dir.iterdir() if p.suffix == ".msg")
            except OSError:
                waiting = 0
            self.peak_queue = max(self.peak_queue, waiting)


# ---- Salesforce, polled -----------------------------------------------------------------------


class SalesforceWatch(Poller):
    """First time each Subject with a prefix is seen in Salesforce.

    One SOQL query (and its next pages, if any) a poll, of Tasks stamped since shortly before
    the previous poll. The client logs in as a sales user of its own, so the emulator's request
    log tells its calls from Cockpit's; it also counts them itself (`calls`)."""

    def __init__(self, sf: Salesforce, owner_id: str, prefix: str) -> None:
        super().__init__(f"salesforce-watch {prefix}")
        self.sf = sf
        self.owner_id = owner_id
        self.prefix = prefix
        self.since = dt.datetime.now(dt.UTC) - POLL_OVERLAP
        self.first_seen: dict[str, float] = {}  # Subject -> time.monotonic()
        self.ids: dict[str, str] = {}  # Subject -> Salesforce Id
        self.calls = 0
        self.lock = threading.Lock()

    def poll(self) -> None:
        sent = dt.datetime.now(dt.UTC)
        stamp = self.since.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        soql = (
            "SELECT Id, Subject FROM Task "  # noqa: S608 - the bench's own values
            f"WHERE SystemModstamp >= {stamp} AND OwnerId = '{self.owner_id}' "
            f"AND Subject LIKE '{self.prefix}%'"
        )
        answer = self.sf.query(soql)
        self.calls += 1
        records = list(answer["records"])
        while not answer["done"]:
            answer = self.sf.query_more(answer["nextRecordsUrl"], identifier_is_url=True)
            self.calls += 1
            records.extend(answer["records"])
        seen = time.monotonic()
        with self.lock:
            for record in records:
                self.first_seen.setdefault(record["Subject"], seen)
                self.ids[record["Subject"]] = record["Id"]
        self.since = sent - POLL_OVERLAP

    def seen(self) -> dict[str, float]:
        with self.lock:
            return dict(self.first_seen)


# ---- Cockpit, polled --------------------------------------------------------------------------


class CockpitWatch(Poller):
    """How many of Alice's tasks match a search, over time: [(time.monotonic(), count)]."""

    def __init__(self, api: Any, search: str) -> None:
        super().__init__(f"cockpit-watch {search}")
        self.api = api
        self.search = search
        self.counts: list[tuple[float, int]] = []
        self.lock = threading.Lock()

    def poll(self) -> None:
        answer = self.api.call("GET", f"tasks/?search={self.search}&page_size=1")
        seen = time.monotonic()
        with self.lock:
            if not self.counts or self.counts[-1][1] != answer["count"]:
                self.counts.append((seen, answer["count"]))

    def count(self) -> int:
        with self.lock:
            return self.counts[-1][1] if self.counts else 0

    def reached(self, k: int) -> float | None:
        """When the count first reached k."""
        with self.lock:
            return next((t for t, count in self.counts if count >= k), None)


# ---- the worker's own figures -----------------------------------------------------------------


def _stats_files(stats_path: Path) -> dict[int, dict[str, Any]]:
    """{pid: what that pool process wrote last}."""
    found = {}
    for path in stats_path.parent.glob(stats_path.name + ".*"):
        if not path.suffix[1:].isdigit():
            continue  # a .tmp being written
        try:
            found[int(path.suffix[1:])] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return found


def worker_busy(stats_path: Path) -> bool:
    """Whether a live pool process is running a task now (one killed mid-task still says so)."""
    return any(
        data["running"] and Path(f"/proc/{pid}").exists()
        for pid, data in _stats_files(stats_path).items()
    )


def worker_stats(stats_path: Path) -> dict[str, dict[str, float]]:
    """Totals by task name over every pool process the worker has had (one file each)."""
    totals: dict[str, dict[str, float]] = {}
    for data in _stats_files(stats_path).values():
        for name, figures in data["totals"].items():
            into = totals.setdefault(name, {})
            for key, value in figures.items():
                into[key] = into.get(key, 0) + value
    return totals


def stats_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], names: tuple[str, ...]
) -> dict[str, float]:
    """runs, queries, Salesforce calls, busy seconds and seconds waiting for Salesforce of the
    named tasks between two readings."""
    delta = {"runs": 0.0, "queries": 0.0, "calls": 0.0, "seconds": 0.0, "waited": 0.0}
    for name in names:
        for key in delta:
            delta[key] += after.get(name, {}).get(key, 0) - before.get(name, {}).get(key, 0)
    return delta


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
