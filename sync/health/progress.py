"""The running mapping re-sync or first import."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from adminconfig.models import ResyncRun
from cockpit.page_rows import page_row
from cockpit.request_memo import memoized

from ..models import PullState, ResyncWatch
from ..selectors import outbound_connection, sync_settings
from ..stalls import STALL_MINUTES


@dataclass
class RunProgress:
    kind: str  # "resync" or "import"
    title: str
    done: int
    failed: int
    total: int | None  # None: not known (the first import counts as it goes)
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    stopped_reason: str = ""
    waiting_reason: str = ""
    stalled_reason: str = ""  # running, but nothing moved for longer than it should
    # Said instead of "Tasks are now synced with the new mapping" when that is not what happened
    # (sync was off: the run had nothing to re-sync).
    note: str = ""

    @property
    def running(self) -> bool:
        return self.finished_at is None and not self.waiting_reason

    @property
    def percent(self) -> int | None:
        if self.total is None:
            return None
        if not self.total:
            return 100
        return min(100, round(100 * (self.done + self.failed) / self.total))


def resync_progress() -> RunProgress | None:
    """The newest mapping re-sync, running or finished (stopped ones with their reason)."""
    run: ResyncRun | None = page_row("resync_newest")
    if run is None:
        return None
    watch: ResyncWatch | None = page_row("resync_newest_watch")
    note = ""
    if run.finished_at is not None and not run.total and outbound_connection() is None:
        note = (
            "Sync is off, so no task was re-synced; the mapping applies once sync is switched on."
        )
    return RunProgress(
        kind="resync",
        title=f"Re-sync after mapping changes ({run.reason})",
        done=run.done,
        failed=run.failed,
        total=run.total,
        started_at=run.started_at,
        finished_at=run.finished_at,
        stopped_reason=watch.stopped_reason if watch else "",
        note=note,
    )


def first_import() -> RunProgress | None:
    """The first import of Salesforce tasks: waiting for the switches, running, or done."""
    # The checklist and the progress panel both show it: read once a GET request.
    return memoized("first_import", _first_import_read)


def _first_import_read() -> RunProgress | None:
    settings = sync_settings()
    if settings.first_enabled_at is None:
        return None
    state: PullState | None = page_row("pull_state")
    pulled = state is not None and state.last_pull_at is not None
    imported = state.imported if state is not None else 0
    waiting = stalled = ""
    if not settings.bidirectional_sync and not pulled:
        waiting = "It starts when Bi-directional Sync is switched on."
    elif not pulled and timezone.now() - settings.updated_at > dt.timedelta(minutes=STALL_MINUTES):
        # The first pull is due at the next beat tick (10 s): minutes without one mean no
        # worker or no beat is running.
        stalled = (
            f"No pull has run in the {STALL_MINUTES} minutes since the switches changed: are "
            "the Celery worker and beat running?"
        )
    return RunProgress(
        kind="import",
        title=f"First import (Salesforce tasks of the last {settings.initial_import_hours} h)",
        done=imported,
        failed=0,
        total=imported if pulled else None,
        started_at=settings.first_enabled_at,
        finished_at=state.last_pull_at if pulled and state else None,
        stopped_reason=(state.last_error if pulled and state else ""),
        waiting_reason=waiting,
        stalled_reason=stalled,
    )


def runs_in_progress() -> list[RunProgress]:
    """What the progress panel shows: the first import, running or with its result, and the
    newest re-sync. A re-sync from before sync was first switched on (a mapping saved while
    it was off: "0 of 0") gives way to the first import's result."""
    runs = []
    imported = first_import()
    resync = resync_progress()
    if (
        resync is not None
        and imported is not None
        and imported.started_at is not None
        and resync.started_at is not None
        and resync.started_at < imported.started_at
    ):
        resync = None
    if imported is not None and (imported.finished_at is None or resync is None):
        runs.append(imported)
    if resync is not None:
        runs.append(resync)
    return runs
