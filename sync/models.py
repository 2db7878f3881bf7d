"""The sync engine's own records: the outbox of changes to push and the log of what happened."""

from django.conf import settings
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
        # An admin chose not to push a failed change (Sync health, Skip): it is kept, not sent.
        SKIPPED = "skipped", "Skipped"

    task_id = models.BigIntegerField(db_index=True, help_text="Cockpit task id (may be deleted).")
    salesforce_id = models.CharField(max_length=18, blank=True)
    operation = models.CharField(max_length=8, choices=Operation.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The last failure, classified once where it was met (sync/failures.py): the reason as
    # people read it, its kind (Salesforce's error code or the sync's own), Salesforce's code,
    # and the attempts the push gave up after. The health page groups and filters by the kind.
    last_error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=80, blank=True)
    error_code = models.CharField(max_length=80, blank=True)
    gave_up_after = models.PositiveIntegerField(null=True, blank=True)
    resync_run_id = models.BigIntegerField(
        null=True, blank=True, help_text="The mapping re-sync this push counts towards."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "outbox entries"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="outbox_due"),
            # The failed entries of one kind (the health page's groups, Retry and Skip).
            models.Index(fields=["state", "error_kind"], name="outbox_state_kind"),
        ]
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
        RECONCILED = "reconciled", "Reconciled"
        DESYNCED = "desynced", "Stopped syncing"
        RESYNCED = "resynced", "Syncing again"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    task_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    salesforce_id = models.CharField(max_length=18, blank=True)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The newest event of each kind (sync status) is a seek, not a group over the log.
        indexes = [models.Index(fields=["kind", "created_at"], name="syncevent_kind_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"


class PullState(models.Model):
    """Where the inbound pull got to, and a lease so only one machine pulls at a time."""

    watermark = models.DateTimeField(
        null=True, blank=True, help_text="SystemModstamp of the newest Salesforce change applied."
    )
    deleted_until = models.DateTimeField(
        null=True, blank=True, help_text="Salesforce deletions are known up to here."
    )
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    imported = models.PositiveIntegerField(
        default=0, help_text="Tasks created from Salesforce since sync was first switched on."
    )

    def __str__(self) -> str:
        return f"Pulled up to {self.watermark}"


class StreamState(models.Model):
    """The change-event listener (Streaming API): where it is in the stream, and how it is."""

    class Status(models.TextChoices):
        OFF = "off", "Not running"
        CONNECTING = "connecting", "Connecting"
        LIVE = "live", "Live"
        CATCHING_UP = "catching_up", "Catching up with a pull"
        ERROR = "error", "Error"

    replay_id = models.BigIntegerField(
        null=True, blank=True, help_text="The last change event applied; resumed from after it."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OFF)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="The listener's last sign of life (each long poll)."
    )
    events_applied = models.PositiveBigIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0, help_text="Pulls run to cover a gap.")
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Stream {self.get_status_display()} at replay {self.replay_id}"


class Lease(models.Model):
    """A named lock that works across processes and machines without holding a transaction.

    Pushes and pulls take the same lease ("engine"): both read and write a task's agreed
    values around a network call, and two of them interleaving on one task would lose one
    side's bookkeeping.
    """

    name = models.CharField(max_length=40, primary_key=True)
    token = models.CharField(max_length=32, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    acquired_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current holder took it (for /metrics)."
    )

    def __str__(self) -> str:
        return f"{self.name} until {self.locked_until}"


class Tombstone(models.Model):
    """A task deleted in Cockpit that was, or may have become, a Salesforce task.

    Nothing comes back to life: a Salesforce record that names a tombstoned task (by Id or by
    the external id a first push stamped on it) is deleted in Salesforce, never imported. A task
    whose twin Salesforce deleted is tombstoned too, against a late first push of ours that
    would make a new twin; the deleted record itself may still be undeleted by a Salesforce
    user, and then comes in as a new task.
    """

    class Side(models.TextChoices):
        COCKPIT = "cockpit", "Cockpit"
        SALESFORCE = "salesforce", "Salesforce"

    task_id = models.BigIntegerField(primary_key=True)
    salesforce_id = models.CharField(max_length=18, blank=True, db_index=True)
    deleted_in = models.CharField(max_length=10, choices=Side.choices, default=Side.COCKPIT)
    deleted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"task {self.task_id} deleted ({self.salesforce_id or 'not linked'})"


class Conflict(models.Model):
    """A field changed on both sides since they last agreed, and how the policy settled it."""

    task_id = models.BigIntegerField(db_index=True)
    salesforce_id = models.CharField(max_length=18)
    salesforce_field = models.CharField(max_length=80)
    cockpit_value = models.JSONField(null=True)
    salesforce_value = models.JSONField(null=True)
    winner = models.CharField(max_length=10)  # "cockpit" or "salesforce"
    policy = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # An admin's decision afterwards (Sync health): whose value the task keeps.
    resolution = models.CharField(
        max_length=10,
        choices=[("cockpit", "Kept Cockpit's value"), ("salesforce", "Took Salesforce's value")],
        blank=True,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.salesforce_field} on task {self.task_id}: {self.winner} won"


class ResyncWatch(models.Model):
    """The stuck-run check's notes on one mapping re-sync (adminconfig.ResyncRun): how far the
    run had got when last looked at, and why it was ended early, if it was.

    A run counts its progress as its outbox entries finish; a run whose entries were taken over
    by a newer run, or whose start message was lost, would otherwise show "0 of 22" for good.
    """

    run_id = models.BigIntegerField(primary_key=True)
    progress_seen = models.PositiveIntegerField(default=0)
    progress_seen_at = models.DateTimeField()
    stopped_reason = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"re-sync {self.run_id}: {self.stopped_reason or self.progress_seen}"


class ReconcileRun(models.Model):
    """A drift repair: every linked task compared with its Salesforce twin, and what was found."""

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=10, default="schedule")  # "schedule" or "hand"
    checked = models.PositiveIntegerField(default=0, help_text="Linked tasks compared.")
    repaired_in_cockpit = models.PositiveIntegerField(
        default=0, help_text="Tasks that took Salesforce values Cockpit had missed."
    )
    repaired_in_salesforce = models.PositiveIntegerField(
        default=0, help_text="Tasks whose Cockpit values were queued to be written again."
    )
    conflicts = models.PositiveIntegerField(default=0)
    twins_missing = models.PositiveIntegerField(
        default=0, help_text="Twins gone from Salesforce for good: their tasks were deleted."
    )
    api_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Reconcile of {self.started_at:%Y-%m-%d %H:%M}: {self.checked} checked"


class SalesforceAccount(models.Model):
    """The org's Accounts as Cockpit last read them: names to link companies by."""

    salesforce_id = models.CharField(max_length=18, primary_key=True)
    name = models.CharField(max_length=255, db_index=True)
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Salesforce Account"

    def __str__(self) -> str:
        return f"{self.name} ({self.salesforce_id})"


class AlertMail(models.Model):
    """When sync admins were last mailed about one kind of trouble (sync/alerts.py): a row per
    kind, claimed by a conditional update, so every process (beat, a second beat by mistake, a
    command run by hand) shares one count of at most one mail per kind an hour."""

    class Kind(models.TextChoices):
        PUSHES_FAILING = "pushes_failing", "Pushes are failing"
        STREAM_DOWN = "stream_down", "The change-event stream is down"
        PUSHING_PAUSED = "pushing_paused", "Pushing is paused by the API budget"

    kind = models.CharField(max_length=20, choices=Kind.choices, primary_key=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: mailed {self.sent_at}"
