"""The change-event stream's state and the drift repairs, for the sync health page."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from cockpit.page_rows import page_row

from ..models import ReconcileRun, StreamState
from ..selectors import stream_live


@dataclass
class StreamPanel:
    status: str
    live: bool
    replay_id: int | None
    last_event_age: dt.timedelta | None
    events_applied: int
    fallbacks: int
    last_error: str


def stream_panel() -> StreamPanel:
    state: StreamState = page_row("stream_state") or StreamState()
    age = timezone.now() - state.last_event_at if state.last_event_at else None
    return StreamPanel(
        status=state.get_status_display(),
        live=stream_live(),
        replay_id=state.replay_id,
        last_event_age=age,
        events_applied=state.events_applied,
        fallbacks=state.fallbacks,
        last_error=state.last_error,
    )


def reconcile_runs(limit: int = 5) -> list[ReconcileRun]:
    return list(ReconcileRun.objects.all()[:limit])
