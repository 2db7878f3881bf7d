"""Celery shells: take ids, call a service. The outbox rows are the real queue.

The services queue these by name (sync/enqueue.py), so that nothing the shells call imports
this module back."""

from celery import shared_task

from . import accounts, enqueue, housekeeping, inbound, outbox, resyncs, scheduler, selectors, usage
from . import alerts as sync_alerts
from . import reconcile as drift


@shared_task(name=enqueue.PUSH, ignore_result=True)
def push() -> None:
    scheduler.push_rung()


@shared_task(name="sync.sweep", ignore_result=True)
def sweep() -> None:
    """Beat: recover work a lost message or a crashed worker left behind."""
    outbox.outbox_release_stale()
    usage.push_pause_recheck()
    resyncs.resync_runs_check()
    # Also when a crashed cycle left entries in flight and nothing is due: the first cycle
    # after its lease ran out takes them back, without waiting for a new change.
    if outbox.outbox_due() or outbox.outbox_orphaned():
        if outbox.cycle_wait():
            # A cycle began less than a second ago (group commit): the next one takes these,
            # rung for its time.
            outbox.doorbell()
        else:
            scheduler.push_run()


@shared_task(name=enqueue.RESYNC, ignore_result=True)
def resync(run_id: int) -> None:
    resyncs.resync_run_begin(run_id=run_id)


@shared_task(name=enqueue.PULL, ignore_result=True)
def pull() -> None:
    """Pull now (first import, or on demand)."""
    inbound.pull_run(force=True)


@shared_task(name="sync.pull_tick", ignore_result=True)
def pull_tick() -> None:
    """Beat, every 10 s: pulls when the admin's pull interval has passed."""
    scheduler.pull_due_run()


@shared_task(name="sync.prune", ignore_result=True)
def prune() -> None:
    """Beat, daily: drop sync history older than SYNC_LOG_RETENTION_DAYS."""
    housekeeping.sync_log_prune()


@shared_task(name=enqueue.RECONCILE, ignore_result=True)
def reconcile(run_id: int | None = None) -> None:
    """Beat, daily (SYNC_RECONCILE_HOURS), or an admin's request: drift repair."""
    drift.reconcile_run(run_id=run_id)


@shared_task(name=enqueue.ACCOUNTS_REFRESH, ignore_result=True)
def accounts_refresh() -> None:
    """Beat, daily, or an admin's request: the org's Account names, for company links."""
    connection = selectors.outbound_connection()
    if connection is not None:
        accounts.accounts_refresh(connection=connection)


@shared_task(name="sync.alerts", ignore_result=True)
def alerts() -> None:
    """Beat, every minute: mail sync admins about failing pushes, a stream down, a pause."""
    sync_alerts.alerts_check()
