"""What admins configure: Salesforce connections, sync switches, field/picklist/user mappings."""

import datetime as dt

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from tasks.models import salesforce_id_validator

api_version_validator = RegexValidator(r"^\d{2}\.0$", "Enter an API version such as 59.0.")


class SalesforceConnection(models.Model):
    class State(models.TextChoices):
        NEW = "new", "Not tested yet"
        CONNECTED = "connected", "Connected"
        UNAUTHORIZED = "unauthorized", "Unauthorized"
        ERROR = "error", "Error"
        PAUSED = "paused", "Paused"

    name = models.CharField(max_length=100, unique=True, help_text="e.g. 'Production org'.")
    is_primary = models.BooleanField(
        default=False,
        help_text="Only the primary connection syncs. Making this one primary demotes the other.",
    )
    login_url = models.URLField(
        default="https://login.salesforce.com",
        help_text="OAuth login host: https://login.salesforce.com, https://test.salesforce.com "
        "for a sandbox, your My Domain URL, or the local emulator's https://127.0.0.1:8443.",
    )
    client_id = models.CharField(
        max_length=255, help_text="Consumer key of the connected app (client credentials flow)."
    )
    client_secret_encrypted = models.TextField(
        blank=True, editable=False, help_text="Encrypted; never shown after saving."
    )
    api_version = models.CharField(
        max_length=6,
        default="59.0",
        validators=[api_version_validator],
        help_text="Salesforce REST API version.",
    )
    ca_bundle = models.CharField(
        max_length=500,
        blank=True,
        help_text="Path of a CA certificate file to trust (the local emulator's var/sfemulator/"
        "ca.pem). Empty: the system's trusted CAs.",
    )
    default_status = models.CharField(
        max_length=80,
        default="Not Started",
        help_text="Salesforce Status for a Cockpit status that has no mapping.",
    )
    default_priority = models.CharField(
        max_length=80,
        default="Normal",
        help_text="Salesforce Priority for a Cockpit priority that has no mapping.",
    )
    external_id_field = models.CharField(
        max_length=80,
        default="Cockpit_Task_Id__c",
        help_text="External id field on Task used to upsert, so a retry never makes a duplicate.",
    )
    daily_api_budget = models.PositiveIntegerField(
        default=10_000,
        validators=[MinValueValidator(100)],
        help_text="API calls per day Cockpit may spend on this org; sync slows down before it.",
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.NEW)
    last_error = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    api_usage = models.PositiveIntegerField(
        null=True, blank=True, help_text="API calls the org has used today (Sforce-Limit-Info)."
    )
    api_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="The org's daily API call allowance."
    )
    api_usage_checked_at = models.DateTimeField(null=True, blank=True)
    cockpit_calls_date = models.DateField(null=True, blank=True)
    cockpit_calls = models.PositiveIntegerField(
        default=0, help_text="API calls Cockpit itself made on cockpit_calls_date (UTC)."
    )
    push_paused_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Pushing waits until then because the org neared its daily API limit.",
    )
    outage_failures = models.PositiveIntegerField(
        default=0, help_text="Calls in a row that found Salesforce unreachable or busy."
    )
    retry_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Salesforce was unreachable: pushing tries again then (a success ends it).",
    )
    task_describe = models.JSONField(
        default=dict, blank=True, help_text="Cached Task describe (fields, types, picklists)."
    )
    describe_fetched_at = models.DateTimeField(null=True, blank=True)
    instance_url = models.URLField(
        blank=True,
        help_text="The org's own address, as its login answered (Test connection records it); "
        "links to Salesforce records start with it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_primary", "name"]
        verbose_name = "Salesforce connection"
        constraints = [
            models.UniqueConstraint(
                fields=["is_primary"], condition=Q(is_primary=True), name="one_primary_connection"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (primary)" if self.is_primary else self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    def cockpit_calls_on(self, day: dt.date) -> int:
        """Cockpit's own API calls counted on `day` (UTC): the count starts again each day."""
        return self.cockpit_calls if self.cockpit_calls_date == day else 0


MAX_IMPORT_HOURS = 30 * 24
MAX_DELETION_WINDOW_DAYS = 15
MAX_PULL_INTERVAL_SECONDS = 24 * 3600


class SyncSettings(models.Model):
    """The one row of sync switches and timings."""

    class ConflictPolicy(models.TextChoices):
        LATEST = "latest", "Latest change wins"
        SALESFORCE = "salesforce", "Salesforce wins"
        COCKPIT = "cockpit", "Cockpit wins"

    auto_sync = models.BooleanField(
        default=False, help_text="Push Cockpit task changes to Salesforce (outbound)."
    )
    bidirectional_sync = models.BooleanField(
        default=False,
        help_text="Also pull Salesforce task changes into Cockpit (inbound). Needs Auto Sync.",
    )
    first_enabled_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When sync was first switched on; only tasks created after it are pushed.",
    )
    # Bounded to what Salesforce can answer (getUpdated and the recycle bin reach 30 and 15
    # days back) and what a timedelta holds: 2**31 days was accepted and broke every pull.
    initial_import_hours = models.PositiveIntegerField(
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_IMPORT_HOURS)],
        help_text="First sync imports Salesforce tasks created or updated this many hours back "
        f"(1 to {MAX_IMPORT_HOURS}: 30 days).",
    )
    deletion_window_days = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DELETION_WINDOW_DAYS)],
        help_text="Salesforce deletions this many days back delete the Cockpit task "
        "(1 to 15: Salesforce's recycle bin keeps 15 days).",
    )
    pull_interval_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(10), MaxValueValidator(MAX_PULL_INTERVAL_SECONDS)],
        help_text="How often Salesforce changes are pulled (10 seconds to a day).",
    )
    conflict_policy = models.CharField(
        max_length=12,
        choices=ConflictPolicy.choices,
        default=ConflictPolicy.LATEST,
        help_text="When the same field changed on both sides since the last sync.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sync settings"
        verbose_name_plural = "sync settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(bidirectional_sync=False) | Q(auto_sync=True),
                name="bidirectional_needs_auto_sync",
            ),
            models.CheckConstraint(
                condition=Q(pull_interval_seconds__gte=10), name="pull_interval_at_least_10s"
            ),
        ]

    def __str__(self) -> str:
        return "Sync settings"


class FieldMapping(models.Model):
    class Direction(models.TextChoices):
        BOTH = "both", "Both ways"
        TO_SALESFORCE = "to_salesforce", "To Salesforce only"
        FROM_SALESFORCE = "from_salesforce", "From Salesforce only"

    connection = models.ForeignKey(
        SalesforceConnection, on_delete=models.CASCADE, related_name="field_mappings"
    )
    cockpit_field = models.CharField(
        max_length=80,
        help_text="A Cockpit task field, or 'custom:<key>' for a custom field.",
    )
    salesforce_field = models.CharField(max_length=80, help_text="API name of a Task field.")
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.BOTH)
    editable = models.BooleanField(
        default=True, help_text="CSMs may edit the field in Cockpit while it is synced."
    )
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "salesforce_field"], name="salesforce_field_mapped_once"
            ),
            models.UniqueConstraint(
                fields=["connection", "cockpit_field"], name="cockpit_field_mapped_once"
            ),
        ]

    def __str__(self) -> str:
        arrow = {"both": "↔", "to_salesforce": "→", "from_salesforce": "←"}[self.direction]
        return f"{self.cockpit_field} {arrow} {self.salesforce_field}"

    @property
    def goes_out(self) -> bool:
        return self.direction in (self.Direction.BOTH, self.Direction.TO_SALESFORCE)

    @property
    def comes_in(self) -> bool:
        return self.direction in (self.Direction.BOTH, self.Direction.FROM_SALESFORCE)


class PicklistMapping(models.Model):
    class Picklist(models.TextChoices):
        STATUS = "status", "Status"
        PRIORITY = "priority", "Priority"
        TYPE = "type", "Type"

    connection = models.ForeignKey(
        SalesforceConnection, on_delete=models.CASCADE, related_name="picklist_mappings"
    )
    picklist = models.CharField(max_length=10, choices=Picklist.choices)
    cockpit_value = models.CharField(
        max_length=80, help_text="A Cockpit Status/Priority value or task type."
    )
    salesforce_values = models.JSONField(
        default=list,
        help_text="Salesforce values, in order: the first is what Cockpit sends; all map back.",
    )

    class Meta:
        ordering = ["picklist", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "picklist", "cockpit_value"], name="cockpit_value_mapped_once"
            )
        ]

    def __str__(self) -> str:
        values = ", ".join(self.salesforce_values)
        return f"{self.get_picklist_display()}: {self.cockpit_value} → {values}"


class StatusMapping(PicklistMapping):
    class Meta:
        proxy = True
        verbose_name = "Status mapping"


class PriorityMapping(PicklistMapping):
    class Meta:
        proxy = True
        verbose_name = "Priority mapping"


class TypeMapping(PicklistMapping):
    class Meta:
        proxy = True
        verbose_name = "Type mapping"


class UserMapping(models.Model):
    class Source(models.TextChoices):
        EMAIL = "email", "Matched by email"
        MANUAL = "manual", "Set by hand"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="salesforce_user"
    )
    salesforce_user_id = models.CharField(
        max_length=18, validators=[salesforce_id_validator], help_text="Salesforce User Id (005…)."
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__username"]
        constraints = [
            models.UniqueConstraint(fields=["salesforce_user_id"], name="salesforce_user_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.salesforce_user_id}"


class ResyncRun(models.Model):
    """A re-sync of every synced task after the mappings changed; the admin shows its progress."""

    connection = models.ForeignKey(
        SalesforceConnection, on_delete=models.CASCADE, related_name="resync_runs"
    )
    reason = models.CharField(max_length=200)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Re-sync {self.done}/{self.total}"

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None


class SalesforceUser(models.Model):
    """The org's active users as Match users by email last read them: the names the cockpit
    shows for a Salesforce owner who has no Cockpit account ("Assigned in Salesforce to Dave
    Davis"), never a raw 005… Id."""

    salesforce_id = models.CharField(max_length=18, primary_key=True)
    name = models.CharField(max_length=255)
    email = models.CharField(max_length=255, blank=True)
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Salesforce user"

    def __str__(self) -> str:
        return f"{self.name} ({self.salesforce_id})"
