"""Template filters and tags of the cockpit pages."""

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.safestring import SafeString

from cockpit.selectors import rows_version, sync_error_in_words
from tasks.field_kinds import FieldKind
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
def shown_as(value: Any, kind: FieldKind) -> SafeString:
    """A custom field's stored value as its kind shows it (tasks/field_kinds.py): a new kind
    needs no template edit."""
    return kind.page_html(value)
