"""Template filters and tags of the cockpit pages."""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django import template

from cockpit.selectors import error_in_words, rows_version
from tasks.models import Task

register = template.Library()


@register.filter
def sync_error_words(error: str) -> str:
    """A stored sync error as a CSM reads it (never a raw transport error)."""
    return error_in_words(error)


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
