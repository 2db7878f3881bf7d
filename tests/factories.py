import datetime as dt
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from adminconfig import services as config
from adminconfig.models import ResyncRun, SalesforceConnection
from adminconfig.permissions import SYNC_ADMIN_GROUP
from cockpit.models import WorkerHeartbeat
from sync.failures import OTHER
from sync.models import OutboxEntry, StreamState
from tasks.models import (
    Company,
    CustomField,
    Priority,
    Status,
    Task,
    TaskSyncRecord,
    TaskType,
    UserProfile,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"csm{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = "Casey"
    last_name = factory.Sequence(lambda n: f"Manager{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def time_zone(self, create, extracted, **kwargs):  # noqa: ANN001
        if create:
            UserProfile.objects.update_or_create(user=self, defaults={"time_zone": extracted or ""})
            self.save()


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class SyncAdminFactory(UserFactory):
    """Staff in the Sync admin group: configures the sync, sees Sync health."""

    username = factory.Sequence(lambda n: f"syncadmin{n}")
    is_staff = True

    @factory.post_generation
    def sync_admin_group(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            self.groups.add(Group.objects.get(name=SYNC_ADMIN_GROUP))


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")


class CustomFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomField

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda f: f.key.replace("_", " ").title())
    field_type = CustomField.FieldType.TEXT


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    name = factory.Sequence(lambda n: f"Task {n}")
    owner = factory.SubFactory(UserFactory)
    status = factory.LazyFunction(lambda: Status.objects.get(value="Open"))
    priority = factory.LazyFunction(lambda: Priority.objects.get(value="Medium"))
    due_date = factory.LazyFunction(dt.date.today)


class ConnectionFactory(factory.django.DjangoModelFactory):
    """A Salesforce connection nothing calls (pages, rules, permissions), made through the
    service so its secret is stored encrypted. Sync tests connect the emulator instead
    (tests/orgs.py)."""

    class Meta:
        model = SalesforceConnection

    name = factory.Sequence(lambda n: f"Org {n}")
    login_url = "https://acme.my.salesforce.com"
    client_id = "cid"
    client_secret = "s3cret"
    is_primary = True

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> SalesforceConnection:
        return config.connection_create(**kwargs)


class SyncRecordFactory(factory.django.DjangoModelFactory):
    """A task's sync record; `linked=True` gives it a Salesforce twin it is synced with."""

    class Meta:
        model = TaskSyncRecord

    task = factory.SubFactory(TaskFactory)

    class Params:
        linked = factory.Trait(
            salesforce_id=factory.Sequence(lambda n: f"00T{n:012d}AAA"),
            state=TaskSyncRecord.State.SYNCED,
        )


class OutboxEntryFactory(factory.django.DjangoModelFactory):
    """A change waiting for Salesforce (a pending upsert, due now, unless told otherwise)."""

    class Meta:
        model = OutboxEntry

    task_id = factory.LazyAttribute(lambda _: TaskFactory().pk)
    operation = OutboxEntry.Operation.UPSERT
    state = OutboxEntry.State.PENDING
    next_attempt_at = factory.LazyFunction(timezone.now)
    last_error = ""
    # A reason given as Salesforce's answers are stored ("STRING_TOO_LONG: ...") is of that
    # code's kind; any other is OTHER unless the test says which kind it is.
    error_code = factory.LazyAttribute(lambda entry: _code_of(entry.last_error))
    error_kind = factory.LazyAttribute(
        lambda entry: (
            entry.error_code
            or (OTHER if entry.last_error or entry.state == OutboxEntry.State.FAILED else "")
        )
    )

    class Params:
        # Given up on after its attempts: what Sync health lists under failed pushes.
        failed = factory.Trait(state=OutboxEntry.State.FAILED, attempts=10)


def _code_of(reason: str) -> str:
    code, colon, _ = reason.partition(":")
    return code if colon and code.isupper() and " " not in code else ""


class ResyncRunFactory(factory.django.DjangoModelFactory):
    """A mapping re-sync under way on the primary connection (its figures given)."""

    class Meta:
        model = ResyncRun

    connection = factory.SubFactory(ConnectionFactory)
    reason = "field mappings changed"


class WorkerHeartbeatFactory(factory.django.DjangoModelFactory):
    """A worker that ran beat's heartbeat just now."""

    class Meta:
        model = WorkerHeartbeat
        django_get_or_create = ("name",)

    name = "worker"
    last_seen = factory.LazyFunction(timezone.now)


class StreamStateFactory(factory.django.DjangoModelFactory):
    """The change-event listener, live and answering just now."""

    class Meta:
        model = StreamState
        django_get_or_create = ("pk",)

    pk = 1
    status = StreamState.Status.LIVE
    last_seen_at = factory.LazyFunction(timezone.now)


def api_as(user: Any) -> APIClient:
    """An API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def status(value: str) -> Status:
    return Status.objects.get(value=value)


def priority(value: str) -> Priority:
    return Priority.objects.get(value=value)


def task_type(name: str) -> TaskType:
    return TaskType.objects.get(name=name)
