"""The task domain: tasks, companies, the Status and Priority picklists, types and custom fields."""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.db.models import Q

from .field_kinds import (
    FIELD_KINDS,
    FieldKind,
    field_kind,
    salesforce_date_validator,
)

NAME_MAX_LENGTH = 255
# Salesforce's Task.Description holds at most 32,000 characters.
DETAILS_MAX_LENGTH = 32_000

salesforce_id_validator = RegexValidator(
    r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$", "Enter a 15- or 18-character Salesforce Id."
)


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class PicklistValue(models.Model):
    """An admin-editable picklist value; `value` is what the API and the mappings use."""

    value = models.CharField(max_length=80, unique=True, help_text="Stored value, e.g. 'Open'.")
    label = models.CharField(max_length=80, help_text="What CSMs see.")
    order = models.PositiveIntegerField(default=0, help_text="Position in lists.")
    is_default = models.BooleanField(default=False, help_text="Used when a task names none.")
    is_active = models.BooleanField(default=True, help_text="Inactive values are not offered.")

    class Meta:
        abstract = True
        ordering = ["order", "value"]

    def __str__(self) -> str:
        return self.label


class Status(PicklistValue):
    is_closed = models.BooleanField(
        default=False, help_text="A task with this status counts as completed."
    )

    class Meta(PicklistValue.Meta):
        verbose_name_plural = "statuses"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_status"
            )
        ]


class Priority(PicklistValue):
    class Meta(PicklistValue.Meta):
        verbose_name_plural = "priorities"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_priority"
            )
        ]


class TaskType(models.Model):
    name = models.CharField(max_length=80, unique=True, help_text="e.g. Call, Email, Meeting.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomField(models.Model):
    # The kinds are defined in tasks/field_kinds.py; these choices name them (FieldType.DATE).
    FieldType = models.TextChoices(  # type: ignore[call-overload]
        "FieldType", [(kind.name.upper(), (kind.name, kind.label)) for kind in FIELD_KINDS.values()]
    )

    key = models.SlugField(
        max_length=50,
        unique=True,
        help_text="Key of the value in a task's custom_fields, e.g. 'renewal_date'.",
    )
    label = models.CharField(max_length=80)
    field_type = models.CharField(max_length=10, choices=FieldType.choices)
    max_length = models.PositiveIntegerField(
        default=255, help_text="Longest accepted text (text, email and url fields)."
    )
    required = models.BooleanField(default=False, help_text="Every task must have a value.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.label

    @property
    def kind(self) -> FieldKind:
        return field_kind(self.field_type)


class Company(models.Model):
    name = models.CharField(max_length=255, unique=True)
    salesforce_account_id = models.CharField(
        max_length=18,
        unique=True,
        null=True,
        blank=True,
        validators=[salesforce_id_validator],
        help_text="The Salesforce Account this company is (WhatId of its tasks).",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class UserProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        choices=time_zone_choices,
        help_text="Decides what 'today' means in this CSM's cockpit. Empty: the site's TIME_ZONE.",
    )

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class Task(models.Model):
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    status = models.ForeignKey(Status, on_delete=models.PROTECT, related_name="tasks")
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, related_name="tasks")
    due_date = models.DateField(null=True, blank=True, validators=[salesforce_date_validator])
    details = models.TextField(
        blank=True,
        max_length=DETAILS_MAX_LENGTH,
        # TextField.max_length is only a widget hint; the validator enforces it.
        validators=[MaxLengthValidator(DETAILS_MAX_LENGTH)],
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks"
    )
    company = models.ForeignKey(
        Company, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    type = models.ForeignKey(
        TaskType, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [
            models.Index(fields=["owner", "due_date"], name="task_owner_due"),
            models.Index(fields=["owner", "status"], name="task_owner_status"),
            # The default order (staff lists, the API) read in order, not sorted whole.
            models.Index(fields=["due_date", "id"], name="task_due_id"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.status.is_closed

    def is_overdue(self, today: dt.date) -> bool:
        return bool(self.due_date and self.due_date < today and not self.is_closed)


class TaskSyncRecord(models.Model):
    """A task's link to its Salesforce twin. Written by the sync engine, read by pages and API."""

    class State(models.TextChoices):
        NOT_SYNCED = "not_synced", "Not synced"
        PENDING = "pending", "Pending"
        SYNCED = "synced", "Synced"
        ERROR = "error", "Error"

    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="sync_record")
    salesforce_id = models.CharField(
        max_length=18, unique=True, null=True, blank=True, validators=[salesforce_id_validator]
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.NOT_SYNCED)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # The last failure, classified once by the sync (sync/failures.py): the reason as people
    # read it, its kind (Salesforce's error code or the sync's own), Salesforce's code, and the
    # attempts the sync gave up after. The pages word an error from these, never from the text.
    last_error = models.TextField(blank=True)
    error_kind = models.CharField(max_length=80, blank=True)
    error_code = models.CharField(max_length=80, blank=True)
    gave_up_after = models.PositiveIntegerField(null=True, blank=True)
    # What both sides last agreed on, the base of the three-way merge: the Salesforce values
    # (by Salesforce field) and the Cockpit values they correspond to (by Salesforce field too).
    # Both are kept because a Salesforce value with no Cockpit mapping ('Deferred') and the
    # Cockpit value it stands beside are different values that agree.
    agreed_values = models.JSONField(default=dict, blank=True)
    agreed_cockpit = models.JSONField(default=dict, blank=True)
    # Writes sent to Salesforce whose answer never came (a timeout, a lost connection): they may
    # still be applied later, and their values must then be recognised as a stale echo.
    uncertain_writes = models.JSONField(default=list, blank=True)
    # Desync (Gainsight's word): a CSM stopped syncing this task. Both sides keep their data;
    # while set, Cockpit neither pushes the task nor applies Salesforce's changes to it. The
    # link (salesforce_id, agreed values) is kept, so syncing again later merges from there.
    desynced_at = models.DateTimeField(
        null=True, blank=True, help_text="When a CSM stopped syncing this task; empty: it syncs."
    )
    # The newest Salesforce state of the twin Cockpit has applied (its SystemModstamp, or a
    # change event's commit time): a change event older than it is already known and skipped.
    salesforce_seen_at = models.DateTimeField(null=True, blank=True)
    # The LastModifiedDate of the Salesforce version `agreed_values` hold, kept only when Cockpit
    # read that version after its second had passed (sync/stamps.py, `stamp_settled`): a push
    # may then write conditionally on it (If-Unmodified-Since) without reading first. Empty
    # after Cockpit's own write and whenever the version is not known that well.
    salesforce_modified_at = models.DateTimeField(null=True, blank=True)
    # Where a read showed a field at its agreed value and Cockpit's change went out over it:
    # the field, both values and the Salesforce versions the read could not see into, until
    # the change events of those versions are known (sync/unseen.py).
    unseen_windows = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state"], name="tasksync_state")]

    ERROR_FIELDS = ("last_error", "error_kind", "error_code", "gave_up_after")

    def __str__(self) -> str:
        return f"{self.task_id} ↔ {self.salesforce_id or '-'} ({self.state})"

    def error_clear(self) -> None:
        """No failure any more (ERROR_FIELDS, to save)."""
        self.last_error = self.error_kind = self.error_code = ""
        self.gave_up_after = None
