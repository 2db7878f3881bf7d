"""Mapping re-syncs that always end: a newer run takes over from an older one, and a run that
can make no more progress is finished with its reason (issue 10: one re-sync sat at "0 of 22"
for good after two saves in a row).

Why a run could hang: a run counts its progress as its outbox entries finish, and a task has
at most one pending entry (sync.models.OutboxEntry). Saving the mappings twice before the
first run's entries went out moved those entries to the second run (sync.outbox.outbox_add),
so the first one never counted anything. A lost start message, or entries taken over by a
CSM's newer edit, leave a run with nothing queued in the same way.
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from adminconfig.models import ResyncRun

from . import outbox
from .models import OutboxEntry, ResyncWatch, SyncEvent
from .stalls import STALL_MINUTES

log = logging.getLogger(__name__)

STALL = dt.timedelta(minutes=STALL_MINUTES)


def _stop(run: ResyncRun, *, reason: str, now: dt.datetime) -> bool:
    """Finish a run that will count no further; False when it finished meanwhile."""
    with transaction.atomic():
        stopped = ResyncRun.objects.filter(pk=run.pk, finished_at=None).update(finished_at=now)
        if not stopped:
            return False
        ResyncWatch.objects.update_or_create(
            run_id=run.pk,
            defaults={
                "stopped_reason": reason[:300],
                "progress_seen": run.done + run.failed,
                "progress_seen_at": now,
            },
        )
        SyncEvent.objects.create(kind=SyncEvent.Kind.ERROR, message=f"Re-sync stopped: {reason}")
    return True


def resync_run_begin(*, run_id: int) -> int:
    """Start a mapping re-sync (the Celery task's body): older unfinished runs of the same
    connection are finished as superseded, since this one pushes every synced task again with
    the newest mapping; then every linked task is queued. Returns how many were queued."""
    run = ResyncRun.objects.filter(pk=run_id).first()
    if run is None or run.finished_at is not None:
        return 0  # gone, or superseded before its message arrived
    now = timezone.now()
    same_connection = ResyncRun.objects.filter(connection_id=run.connection_id)
    if same_connection.filter(pk__gt=run.pk).exists():
        # Messages can arrive out of order: a newer run re-syncs every task anyway, and this
        # one queueing now would take the newer run's entries over.
        _stop(run, reason="superseded by a newer re-sync before it started.", now=now)
        return 0
    for old in same_connection.filter(finished_at=None, pk__lt=run.pk):
        _stop(
            old,
            reason=f"superseded by a newer re-sync (mappings saved again at "
            f"{timezone.localtime(run.started_at):%H:%M:%S}), which re-syncs every task; "
            f"{old.done + old.failed:,} of {old.total:,} were done.",
            now=now,
        )
    return outbox.resync_run_start(run_id=run_id)


def resync_runs_check(*, now: dt.datetime | None = None) -> int:
    """Beat: finish runs that made no progress for STALL while nothing is queued for them
    (nothing queued: nothing can count towards them any more). Returns how many stopped.

    Progress is noted here rather than by the push cycle, so a run's last movement is known
    without a write per pushed task; a count that moved since the last look is progress.
    """
    now = now or timezone.now()
    stopped = 0
    for run in ResyncRun.objects.filter(finished_at=None).annotate(
        progress=F("done") + F("failed")
    ):
        watch, created = ResyncWatch.objects.get_or_create(
            run_id=run.pk,
            defaults={"progress_seen": run.progress, "progress_seen_at": run.started_at},
        )
        if not created and watch.progress_seen != run.progress:
            ResyncWatch.objects.filter(pk=watch.pk).update(
                progress_seen=run.progress, progress_seen_at=now
            )
            continue
        if now - watch.progress_seen_at < STALL:
            continue
        queued = OutboxEntry.objects.filter(
            resync_run_id=run.pk,
            state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT],
        ).exists()
        if queued:
            continue  # waiting (a budget pause, an outage backoff) is not being stuck
        left = max(run.total - run.progress, 0)
        reason = (
            f"no progress for {STALL_MINUTES} minutes and nothing queued for it: "
            f"{run.progress:,} of {run.total:,} tasks were counted, {left:,} not. Their "
            "changes went out with other pushes or not at all; save the mappings again to "
            "re-sync every task."
        )
        if _stop(run, reason=reason, now=now):
            log.warning("Re-sync %s stopped: %s", run.pk, reason)
            stopped += 1
    return stopped
