"""Template filters and tags of the cockpit pages."""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django import template

from cockpit.selectors import rows_version, sync_error_in_words
from tasks.models import Task, TaskSyncRecord

register = template.Library()


@register.filter
def sync_error_words(record: TaskSyncRecord) -> str:
    """A sync record's error as a CSM reads it (never a raw transport error)."""
    return sync_error_in_words(record)


@register.filter
def task_ids(tasks: Iterable[Task]) -> str:
    return ",".join(str(task.pk) for task in tasks)


@register.simple_tag
def rows_version_of(tasks: Iterable[Task]) -> str:
    return rows_version(list(tasks))


@register.filter
def as_date(value: Any) -> dt.date | Any:
    """A custom date field's stored ISO text as a date, so it is formatted like the due date."""
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return value
