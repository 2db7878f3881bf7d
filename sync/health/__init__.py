"""Reads for the sync health page, an admin's control room: failed pushes grouped by kind, open
conflicts, the log, the day's activity per hour, the API budget, the running re-sync or first
import, and the getting-started checklist. Writes live in sync/resolve.py and sync/resyncs.py."""

from ..failures import CONNECTION, OTHER, OWNER_NOT_MAPPED
from .activity import (
    CHART_SERIES,
    DayCounts,
    HourCounts,
    activity,
    activity_by_day,
    activity_by_hour,
)
from .budget import Budget, api_budget, push_pause_reason
from .checklist import (
    STEP_TITLES,
    Step,
    getting_started,
    getting_started_done,
    users_blocking_pushes,
)
from .conflicts import (
    ConflictRow,
    EventRow,
    conflicts_open,
    conflicts_open_count,
    log_events,
)
from .errors import (
    ERROR_KINDS,
    KIND,
    ErrorGroup,
    error_groups,
    error_kind_title,
    failed_entries,
)
from .links import TaskLink, task_links, task_url_name
from .live import StreamPanel, reconcile_runs, stream_panel
from .progress import RunProgress, first_import, resync_progress, runs_in_progress
from .queue import FailedRecord, failed_kinds, failed_records, log_filtered

__all__ = [
    "FailedRecord",
    "failed_kinds",
    "failed_records",
    "log_filtered",
    "CHART_SERIES",
    "CONNECTION",
    "ERROR_KINDS",
    "KIND",
    "OTHER",
    "OWNER_NOT_MAPPED",
    "STEP_TITLES",
    "Budget",
    "ConflictRow",
    "ErrorGroup",
    "EventRow",
    "DayCounts",
    "HourCounts",
    "RunProgress",
    "Step",
    "StreamPanel",
    "TaskLink",
    "activity_by_day",
    "activity",
    "activity_by_hour",
    "api_budget",
    "conflicts_open",
    "conflicts_open_count",
    "error_groups",
    "error_kind_title",
    "failed_entries",
    "first_import",
    "getting_started",
    "getting_started_done",
    "log_events",
    "push_pause_reason",
    "reconcile_runs",
    "resync_progress",
    "runs_in_progress",
    "stream_panel",
    "task_links",
    "task_url_name",
    "users_blocking_pushes",
]
