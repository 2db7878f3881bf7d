"""The sync's log lines: the fields every one of them carries, and the step they come from.

Every record logged under `sync.*` carries `task_id`, `salesforce_id`, `connection`, `outcome`,
`duration_ms` and `step` (None where a field does not apply), so LOG_FORMAT=json writes the
same keys on every sync line and a log search can rely on them. A line about one task names it
through `extra=`; the connection and the duration come from the engine step the line was
logged in (a push cycle, a pull, a batch of change events: sync/telemetry.py's `step`).

This module imports no model: settings' LOGGING loads `SyncFields` before the apps are ready.
"""

import logging
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass

FIELDS = ("task_id", "salesforce_id", "connection", "outcome", "duration_ms", "step")


@dataclass
class Step:
    """One engine step in progress: what it is, when it started, which connection it uses."""

    via: str  # "push", "pull" or "stream"
    started: float  # time.monotonic()
    connection: str = ""

    @property
    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)


_step: ContextVar[Step | None] = ContextVar("sync_step", default=None)


def current_step() -> Step | None:
    return _step.get()


def step_begin(via: str) -> tuple[Step, Token[Step | None]]:
    step = Step(via=via, started=time.monotonic())
    return step, _step.set(step)


def step_end(token: Token[Step | None]) -> None:
    _step.reset(token)


def step_connection(name: str) -> None:
    """The running step talks to this connection (sync/client_cache.py tells it)."""
    step = _step.get()
    if step is not None:
        step.connection = name


class SyncFields(logging.Filter):
    """Give every `sync.*` record the sync's fields, from `extra=` or from the running step."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "sync" and not record.name.startswith("sync."):
            return True
        step = _step.get()
        values = record.__dict__
        values.setdefault("task_id", None)
        values.setdefault("salesforce_id", None)
        values.setdefault("outcome", None)
        values.setdefault("connection", (step.connection or None) if step else None)
        values.setdefault("duration_ms", step.elapsed_ms if step else None)
        values.setdefault("step", step.via if step else None)
        return True
