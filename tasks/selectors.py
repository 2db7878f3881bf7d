"""Reads of the task domain that more than one interface needs."""

import datetime as dt
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cockpit.page_rows import page_table
from cockpit.request_memo import memoized

from .models import Company, CustomField, Priority, Status, Task, UserProfile


def user_time_zone(user: User | AnonymousUser) -> zoneinfo.ZoneInfo:
    name: str | None = ""
    if isinstance(user, User) and hasattr(user, "profile_time_zone"):
        name = user.profile_time_zone  # read with the user (cockpit.authentication)
    elif isinstance(user, User):
        name = memoized(
            ("time_zone", user.pk),
            UserProfile.objects.filter(user=user).values_list("time_zone", flat=True).first,
        )
    return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)


def user_today(user: User | AnonymousUser) -> dt.date:
    """The user's today: a CSM in Tokyo and one in London can be on different dates."""
    return timezone.localdate(timezone.now(), user_time_zone(user))


def tasks_visible_to(user: User | AnonymousUser) -> QuerySet[Task]:
    qs = Task.objects.select_related(
        "status", "priority", "owner", "company", "type", "sync_record"
    )
    if isinstance(user, AnonymousUser):
        return qs.none()  # every interface asks for a signed-in user first
    return qs if user.is_staff else qs.filter(owner=user)


DUE_CHOICES = ("today", "tomorrow", "overdue", "upcoming")


def tasks_due(qs: QuerySet[Task], *, due: str, today: dt.date) -> QuerySet[Task]:
    """'overdue' is open tasks due before today; 'upcoming' is anything due after tomorrow."""
    tomorrow = today + dt.timedelta(days=1)
    if due == "today":
        return qs.filter(due_date=today)
    if due == "tomorrow":
        return qs.filter(due_date=tomorrow)
    if due == "overdue":
        return qs.filter(due_date__lt=today, status__is_closed=False)
    if due == "upcoming":
        return qs.filter(due_date__gt=tomorrow)
    raise ValueError(due)


COMPANY_IDS_INLINE = 500


def task_search(qs: QuerySet[Task], *, text: str) -> QuerySet[Task]:
    """Tasks with the text in their name, details or company name, in any case.

    The companies are found first (a short table) so that each of the three conditions is on
    the task table itself: on PostgreSQL the trigram indexes of name and details
    (migration 0006) and the company index answer them together, where an OR across a join
    reads every task. On SQLite it is a scan of the task table."""
    matching = Company.objects.filter(name__icontains=text).values_list("pk", flat=True)
    found = list(matching[: COMPANY_IDS_INLINE + 1])
    # A text most companies hold ("a"): a subquery rather than thousands of parameters.
    companies = found if len(found) <= COMPANY_IDS_INLINE else matching
    return qs.filter(
        Q(name__icontains=text) | Q(details__icontains=text) | Q(company_id__in=companies)
    )


def status_default() -> Status:
    return Status.objects.get(is_default=True)


def priority_default() -> Priority:
    return Priority.objects.get(is_default=True)


def status_closed_default() -> Status:
    """The status 'complete' sets: the first active closed status."""
    status = Status.objects.filter(is_closed=True, is_active=True).order_by("order", "id").first()
    if status is None:
        raise Status.DoesNotExist("No active closed status is defined.")
    return status


# Reads of the cockpit pages. A page shows a CSM their own tasks only, staff included:
# other people's work is reached through the admin, never by guessing an id in the cockpit.


def tasks_owned_by(user: User | AnonymousUser) -> QuerySet[Task]:
    if isinstance(user, AnonymousUser):
        return Task.objects.none()
    return tasks_visible_to(user).filter(owner=user)


def tasks_open(qs: QuerySet[Task]) -> QuerySet[Task]:
    """Open work soonest first; tasks without a due date come last, not first."""
    return qs.filter(status__is_closed=False).order_by(F("due_date").asc(nulls_last=True), "id")


def tasks_completed(qs: QuerySet[Task]) -> QuerySet[Task]:
    """The most recently completed first."""
    return qs.filter(status__is_closed=True).order_by(
        F("completed_at").desc(nulls_last=True), "-id"
    )


def tasks_filter(
    qs: QuerySet[Task],
    *,
    status: Status | None = None,
    priority: Priority | None = None,
    text: str = "",
) -> QuerySet[Task]:
    if status is not None:
        qs = qs.filter(status=status)
    if priority is not None:
        qs = qs.filter(priority=priority)
    if text:
        qs = task_search(qs, text=text)
    return qs


def custom_fields_all() -> list[CustomField]:
    """Every custom field, active or not, in the order they were made: read once a GET request
    (the task page names them in its fields, its differences and its history: issue 19)."""
    together = page_table("custom_fields")
    return together if together is not None else list(CustomField.objects.order_by("pk"))


def custom_fields_active() -> QuerySet[CustomField]:
    return CustomField.objects.filter(is_active=True).order_by("key")
