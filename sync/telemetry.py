"""What the sync engine did, counted for Prometheus and logged one line a task.

The engine calls these from where things happen (one line each): a push cycle, a pull and a
batch of change events are `step`s, so their log lines carry the connection and how long the
step has run (sync/logs.py); a task pushed, pulled or failed gets its own line and its lag.

Counters and histograms are kept by whichever process does the work (the Celery worker, the
change-event listener, a web request that pushes) in prometheus-client's multiprocess mode:
files under PROMETHEUS_MULTIPROC_DIR that every web process's /metrics adds up. What the
database already knows (the outbox, the API budget, the stream, the lease, re-sync progress)
is read at scrape time instead, in sync/gauges.py: the database is the source of truth, and a
gauge kept in a process would die with it.

Lag is measured from a change's commit to its arrival on the other side: for a push, from
the outbox entry's creation (the first change still waiting) to Salesforce's answer; for a
pull or a change event, from Salesforce's SystemModstamp (its clock, to the second) to the
moment Cockpit applied it. Echoes and re-read records that change nothing are not arrivals.
"""

import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar

from django.utils import timezone
from prometheus_client import Counter, Histogram

from .failures import Failure
from .logs import Step, current_step, step_begin, step_end
from .mapping import sf_datetime_parse

outbound_log = logging.getLogger("sync.outbound")
inbound_log = logging.getLogger("sync.inbound")

P = ParamSpec("P")
R = TypeVar("R")

TO_SALESFORCE = "to_salesforce"
FROM_SALESFORCE = "from_salesforce"
PUSH_OUTCOMES = ("pushed", "deleted", "unchanged", "retried", "failed")
PULL_OUTCOMES = ("created", "updated", "unchanged", "deleted", "skipped", "conflicts")
# Seconds: a change event arrives in well under a second, a pull within its interval (60 s),
# a push backing off after failures within an hour.
LAG_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600)
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

PUSH_RECORDS = Counter(
    "cockpit_sync_push_records",
    "Outbox entries a push cycle finished, by what became of them.",
    ["outcome"],
)
PUSH_FAILURES = Counter(
    "cockpit_sync_push_failures",
    "Failed push attempts of one task, by kind (Salesforce's error code, CONNECTION, "
    "OWNER_NOT_MAPPED, OTHER).",
    ["kind"],
)
PUSH_SECONDS = Histogram(
    "cockpit_sync_push_cycle_seconds",
    "How long a push cycle that claimed work took.",
    buckets=STEP_BUCKETS,
)
PULL_RUNS = Counter("cockpit_sync_pull_runs", "Pulls run, by outcome (ok, error).", ["outcome"])
PULL_RECORDS = Counter(
    "cockpit_sync_pull_records",
    "Salesforce records a pull applied, by what they did in Cockpit.",
    ["outcome"],
)
PULL_FAILURES = Counter(
    "cockpit_sync_pull_failures",
    "Pulls that failed, by kind (Salesforce's error code, CONNECTION, UNEXPECTED, OTHER).",
    ["kind"],
)
PULL_SECONDS = Histogram("cockpit_sync_pull_seconds", "How long a pull took.", buckets=STEP_BUCKETS)
SALESFORCE_CALLS = Counter(
    "cockpit_sync_salesforce_calls",
    "Salesforce API calls the push cycles and pulls made.",
    ["step"],
)
LAG = Histogram(
    "cockpit_sync_lag_seconds",
    "From a change's commit on one side to its arrival on the other.",
    ["direction", "via"],
    buckets=LAG_BUCKETS,
)


def series_init() -> None:
    """Every series at 0 in this process's file, so a scrape lists them before the first push
    and rate() needs no warm-up. The scraping web process calls it: a process that merely
    imports this module (a one-off manage.py command) leaves no file behind."""
    for outcome in PUSH_OUTCOMES:
        PUSH_RECORDS.labels(outcome)
    for outcome in PULL_OUTCOMES:
        PULL_RECORDS.labels(outcome)
    for outcome in ("ok", "error"):
        PULL_RUNS.labels(outcome)
    for step_name in ("push", "pull"):
        SALESFORCE_CALLS.labels(step_name)
    LAG.labels(TO_SALESFORCE, "push")
    LAG.labels(FROM_SALESFORCE, "pull")
    LAG.labels(FROM_SALESFORCE, "stream")


# ---- what the engine hands over (structural: the engine's own types stay its own) ----------


class Entry(Protocol):
    task_id: int
    salesforce_id: str
    created_at: dt.datetime


class Item(Protocol):
    task_id: int
    theirs: dict[str, Any] | None
    salesforce_id: str


class Merged(Protocol):
    task_id: int
    changed_cockpit: bool


class Link(Protocol):
    task_id: int
    salesforce_id: str | None
    salesforce_seen_at: dt.datetime | None


# ---- steps ---------------------------------------------------------------------------------


def step(via: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an engine step ("push": a push cycle, "pull", "stream": a batch of change
    events): its log lines carry the connection and its duration, and what it did is counted
    and summed up in one line."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            current, token = step_begin(via)
            try:
                result = func(*args, **kwargs)
                if via == "push":
                    _push_counted(current, result)
                elif via == "pull":
                    _pull_counted(current, result)
                return result
            except Exception:
                if via == "pull":
                    PULL_RUNS.labels("error").inc()
                    PULL_FAILURES.labels("UNEXPECTED").inc()
                raise
            finally:
                step_end(token)

        return run

    return decorate


def _push_counted(current: Step, result: Any) -> None:
    if not result.claimed:
        return  # nothing was due: not a cycle worth a line
    seconds = current.elapsed_ms / 1000
    PUSH_SECONDS.observe(seconds)
    for outcome in PUSH_OUTCOMES:
        PUSH_RECORDS.labels(outcome).inc(getattr(result, outcome))
    SALESFORCE_CALLS.labels("push").inc(result.api_calls)
    outbound_log.info(
        "Push cycle: %s pushed, %s deleted, %s unchanged, %s to retry, %s failed; "
        "%s Salesforce call(s) in %.2f s",
        result.pushed,
        result.deleted,
        result.unchanged,
        result.retried,
        result.failed,
        result.api_calls,
        seconds,
        extra={"outcome": "errors" if result.retried or result.failed else "ok"},
    )


def _pull_counted(current: Step, result: Any) -> None:
    if not result.ran:
        return  # not due, or another step held the engine
    seconds = current.elapsed_ms / 1000
    PULL_SECONDS.observe(seconds)
    PULL_RUNS.labels("error" if result.errors else "ok").inc()
    for kind in result.error_kinds:
        PULL_FAILURES.labels(kind).inc()
    for outcome in PULL_OUTCOMES:
        PULL_RECORDS.labels(outcome).inc(getattr(result, outcome))
    SALESFORCE_CALLS.labels("pull").inc(result.api_calls)
    inbound_log.log(
        logging.WARNING if result.errors else logging.INFO,
        "Pull: %s created, %s updated, %s unchanged, %s deleted, %s skipped, %s conflict(s); "
        "%s Salesforce call(s) in %.2f s%s",
        result.created,
        result.updated,
        result.unchanged,
        result.deleted,
        result.skipped,
        result.conflicts,
        result.api_calls,
        seconds,
        f"; failed: {result.errors[0]}" if result.errors else "",
        extra={"outcome": "error" if result.errors else "ok"},
    )


def _lag(since: dt.datetime | None) -> float | None:
    if since is None:
        return None
    return round(max((timezone.now() - since).total_seconds(), 0.0), 3)


def _via(default: str) -> str:
    current = current_step()
    return current.via if current is not None else default


# ---- one task at a time --------------------------------------------------------------------


def records_pushed(entries: Iterable[Entry], salesforce_ids: Mapping[int, str | None]) -> None:
    """Salesforce confirmed these writes: they arrived."""
    lags = LAG.labels(TO_SALESFORCE, "push")
    for entry in entries:
        lag = _lag(entry.created_at)
        if lag is not None:
            lags.observe(lag)
        salesforce_id = salesforce_ids.get(entry.task_id) or entry.salesforce_id or None
        outbound_log.info(
            "Task %s pushed to Salesforce %s, %.1f s after the change",
            entry.task_id,
            salesforce_id,
            lag or 0.0,
            extra={
                "task_id": entry.task_id,
                "salesforce_id": salesforce_id,
                "outcome": "pushed",
                "lag_seconds": lag,
            },
        )


def record_deleted(entry: Entry) -> None:
    """A Cockpit delete reached Salesforce."""
    lag = _lag(entry.created_at)
    if lag is not None:
        LAG.labels(TO_SALESFORCE, "push").observe(lag)
    outbound_log.info(
        "Task %s deleted in Salesforce (%s), %.1f s after the change",
        entry.task_id,
        entry.salesforce_id,
        lag or 0.0,
        extra={
            "task_id": entry.task_id,
            "salesforce_id": entry.salesforce_id or None,
            "outcome": "deleted",
            "lag_seconds": lag,
        },
    )


def push_failed(entry: Entry, failure: Failure, *, final: bool) -> None:
    """One task's push failed: it will be retried, or (final) it failed for good. Counted by
    the kind the sync health page groups failed pushes by."""
    PUSH_FAILURES.labels(failure.kind).inc()
    outbound_log.warning(
        "Push of task %s failed%s: %s",
        entry.task_id,
        "" if final else ", will retry",
        failure.message,
        extra={
            "task_id": entry.task_id,
            "salesforce_id": entry.salesforce_id or None,
            "outcome": "failed" if final else "retry",
        },
    )


def push_unreachable(entries: Sequence[Entry]) -> None:
    """Salesforce could not be reached: these tasks wait for the end of the outage."""
    if not entries:
        return
    PUSH_FAILURES.labels("CONNECTION").inc(len(entries))
    outbound_log.warning(
        "Salesforce could not be reached: %s change(s) wait for the end of the outage",
        len(entries),
        extra={"outcome": "unreachable"},
    )


def records_pulled(items: Iterable[Item], outcomes: Mapping[int, Merged]) -> None:
    """Salesforce changes that changed Cockpit tasks (echoes and re-reads do not count)."""
    via = _via("pull")
    for item in items:
        outcome = outcomes.get(item.task_id)
        if outcome is None or not outcome.changed_cockpit:
            continue
        stamp = (item.theirs or {}).get("SystemModstamp")
        seen = sf_datetime_parse(stamp) if stamp else None
        _arrived(item.task_id, item.salesforce_id, seen, "updated", via)


def records_created(links: Iterable[Link]) -> None:
    """Salesforce tasks Cockpit did not have, created."""
    via = _via("pull")
    for link in links:
        _arrived(link.task_id, link.salesforce_id, link.salesforce_seen_at, "created", via)


def _arrived(
    task_id: int, salesforce_id: str | None, stamp: dt.datetime | None, outcome: str, via: str
) -> None:
    lag = _lag(stamp)
    if lag is not None:
        LAG.labels(FROM_SALESFORCE, via).observe(lag)
    inbound_log.info(
        "Task %s %s from Salesforce %s, %.1f s after the change",
        task_id,
        outcome,
        salesforce_id,
        lag or 0.0,
        extra={
            "task_id": task_id,
            "salesforce_id": salesforce_id,
            "outcome": outcome,
            "lag_seconds": lag,
        },
    )
