"""The sync engine's own records: the outbox of changes to push and the log of what happened."""

from django.db import models
from django.db.models import Q


class OutboxEntry(models.Model):
    """A Cockpit change waiting to reach Salesforce, written in the task change's transaction.

    The database, not the broker, is the source of truth: a lost Celery message, a worker crash
    or a Salesforce outage leaves the row pending, and the beat sweep picks it up again.
    """

    class Operation(models.TextChoices):
        UPSERT = "upsert", "Create or update"
        DELETE = "delete", "Delete"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "Being pushed"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    task_id = models.BigIntegerField(db_index=True, help_text="Cockpit task id (may be deleted).")
    salesforce_id = models.CharField(max_length=18, blank=True)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    resync_run_id = models.BigIntegerField(
        null=True, blank=True, help_text="The mapping re-sync this push counts towards."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "outbox entries"
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due")]
        constraints = [
            # Many edits of one task before the next push collapse into one pending entry;
            # the push reads the task as it is then.
            models.UniqueConstraint(
                fields=["task_id", "operation"],
                condition=Q(state="pending"),
                name="one_pending_entry_per_task_operation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation} task {self.task_id} ({self.state})"


class SyncEvent(models.Model):
    """What the sync did or could not do, for admins and CSMs: pushes, pulls, skips, errors."""

    class Kind(models.TextChoices):
        PUSHED = "pushed", "Pushed to Salesforce"
        PULLED = "pulled", "Pulled from Salesforce"
        DELETED = "deleted", "Deleted"
        SKIPPED = "skipped", "Value skipped"
        CONFLICT = "conflict", "Conflict resolved"
        RETRY = "retry", "Will retry"
        ERROR = "error", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    task_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    salesforce_id = models.CharField(max_length=18, blank=True)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"
