"""Tasks named and linked, for every list on the page: one query for all names."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

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
    return {
        i: TaskLink(i, names.get(i, ""), reverse(url_name, args=[i]) if i in names else "")
        for i in ids
    }
