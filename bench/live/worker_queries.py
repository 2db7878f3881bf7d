"""Database queries, Salesforce calls and busy time per Celery task, counted inside the worker
for `python -m bench live` only.

The benchmark starts the worker with `--include bench.live.worker_queries` and LIVE_QUERY_STATS
set to a path; production never imports this module. Each task runs with a Django execute
wrapper on the worker process's connection, and requests' Session.send counts the calls to
Salesforce's REST API and the time spent waiting for them (pushes and pulls both query, so the
emulator's log alone cannot tell them apart). After each task the totals by task name
({name: {runs, queries, calls, seconds, waited}}) are written to a file, which the benchmark
reads before and after a scenario. With the prefork pool the signals fire in the pool process
that runs the task, one task at a time, so plain counters are enough.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import requests
from celery.signals import task_postrun, task_prerun

STATS_PATH = os.environ.get("LIVE_QUERY_STATS", "")


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0
        self.calls = 0
        self.waited = 0.0  # seconds waiting for Salesforce's answers
        self.started = time.monotonic()

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


_running: dict[str, QueryCounter] = {}
_totals: dict[str, dict[str, float]] = {}
_send = requests.Session.send


def _counting_send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
    if "/services/data/" not in (request.url or ""):
        return _send(session, request, **kwargs)
    started = time.monotonic()
    try:
        return _send(session, request, **kwargs)
    finally:
        for counter in _running.values():
            counter.calls += 1
            counter.waited += time.monotonic() - started


if STATS_PATH:
    requests.Session.send = _counting_send  # type: ignore[method-assign]


def _totals_path() -> Path:
    # One file per pool process: a replaced pool process starts from zero and must not
    # overwrite what its predecessor counted.
    return Path(f"{STATS_PATH}.{os.getpid()}")


@task_prerun.connect
def _task_started(task_id: str, **_: Any) -> None:
    if not STATS_PATH:
        return
    from django.db import connection

    counter = QueryCounter()
    connection.execute_wrappers.append(counter)
    _running[task_id] = counter
    _write()


@task_postrun.connect
def _task_finished(task_id: str, task: Any, **_: Any) -> None:
    counter = _running.pop(task_id, None)
    if counter is None:
        return
    from django.db import connection

    if counter in connection.execute_wrappers:
        connection.execute_wrappers.remove(counter)
    totals = _totals.setdefault(
        task.name, {"runs": 0, "queries": 0, "calls": 0, "seconds": 0.0, "waited": 0.0}
    )
    totals["runs"] += 1
    totals["queries"] += counter.count
    totals["calls"] += counter.calls
    totals["waited"] += counter.waited
    totals["seconds"] += time.monotonic() - counter.started
    _write()


def _write() -> None:
    """The totals, and whether a task is running now (so the benchmark can wait for the end
    of the cycle that made its last change visible)."""
    path = _totals_path()
    scratch = Path(f"{path}.tmp")
    scratch.write_text(json.dumps({"running": len(_running), "totals": _totals}))
    scratch.replace(path)  # the benchmark never reads a half-written file
