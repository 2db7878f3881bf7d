"""Tasks named and linked, for every list on the page: one query for all names."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery
from django.urls import NoReverseMatch, reverse

from tasks.models import Task

from ..selectors import task_names


def task_url_name() -> str:
    """The task page when the cockpit has one (issue 10 adds it), else the edit form."""
    try:
        reverse("task-detail", args=[1])
    except NoReverseMatch:
        return "task-edit"
    return "task-detail"


@dataclass(frozen=True)
class TaskLink:
    id: int
    name: str  # empty when the task is gone
    url: str

    @property
    def label(self) -> str:
        return self.name or f"Task {self.id} (deleted)"


def task_links(task_ids: Iterable[int | None]) -> dict[int, TaskLink]:
    """Each task by id with its name and page, in one query whatever the number."""
    ids = {i for i in task_ids if i is not None}
    names = task_names(ids)
    url_name = task_url_name()
    return {i: task_link(i, names.get(i), url_name) for i in ids}


def task_name_of(field: str = "task_id") -> Subquery:
    """The name of the task a row names by id (None when it is gone), to read with the rows."""
    return Subquery(Task.objects.filter(pk=OuterRef(field)).order_by().values("name")[:1])


def task_link(task_id: int, name: str | None, url_name: str | None = None) -> TaskLink:
    """A task by id and its name as read (None: the task is gone, nothing to link to)."""
    if name is None:
        return TaskLink(task_id, "", "")
    return TaskLink(task_id, name, reverse(url_name or task_url_name(), args=[task_id]))
