"""The engine's Celery jobs, queued by name.

sync/tasks.py holds the jobs as shells over the services, so it imports them all; a service
that queues a job (the doorbell, a push booked for after an outage, a reconcile an admin asked
for) sends the job's name through here instead of importing sync/tasks.py back. The message is
the one the task's own apply_async sends: every process that sets Django up has the jobs
registered (sync/apps.py), and a registered job sends it itself (eager mode included)."""

from typing import Any

from celery import current_app
from django.db import transaction

PUSH = "sync.push"
PULL = "sync.pull"
RESYNC = "sync.resync"
RECONCILE = "sync.reconcile"
ACCOUNTS_REFRESH = "sync.accounts_refresh"


def job_send(name: str, *args: Any, countdown: float = 0.0) -> None:
    """Queue the job now, whatever becomes of the current transaction (countdown: seconds
    before a worker may take it; 0 sets no ETA, as apply_async without one)."""
    current_app.signature(name, args=args).apply_async(countdown=countdown)


def job_send_on_commit(name: str, *args: Any) -> None:
    """Queue the job when the current transaction commits; nothing if it rolls back."""
    transaction.on_commit(lambda: job_send(name, *args))
