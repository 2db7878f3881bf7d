"""A page of Salesforce records and the Cockpit tasks it touches: the records already linked to
tasks, and our own tasks whose first push made one of the others although its answer never came
back (found by external id). sync/records.py applies the page in one transaction: it locks these
tasks first (locks.twins_lock), applies Salesforce's deletions, then reads the links here.
"""

from dataclasses import dataclass
from typing import Any

from tasks.models import TaskSyncRecord


@dataclass
class PageLinks:
    """A page's live records and what Cockpit has of each."""

    live: list[dict[str, Any]]
    ours: dict[str, int]  # Salesforce Id → the Cockpit task its external id names
    linked: dict[str | None, int]  # Salesforce Id → the task linked to it
    own: dict[int, TaskSyncRecord]  # task id → its unlinked record: its first push made one

    @property
    def unlinked(self) -> list[tuple[str, int | None]]:
        """The live records no task is linked to: (Id, the task their external id names)."""
        return [(r["Id"], self.ours.get(r["Id"])) for r in self.live if r["Id"] not in self.linked]


def page_links_read(live: list[dict[str, Any]], ours: dict[str, int]) -> PageLinks:
    """A page's records already linked to tasks, and the tasks of ours whose lost first push
    made one of the others."""
    linked = dict(
        TaskSyncRecord.objects.filter(salesforce_id__in=[r["Id"] for r in live]).values_list(
            "salesforce_id", "task_id"
        )
    )
    mine = [ours[r["Id"]] for r in live if r["Id"] not in linked and r["Id"] in ours]
    return PageLinks(live, ours, linked, _own_unlinked(mine))


def _own_unlinked(task_ids: list[int]) -> dict[int, TaskSyncRecord]:
    """Tasks of ours whose first push reached Salesforce but whose answer never came back."""
    if not task_ids:
        return {}
    return {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=task_ids, salesforce_id=None)
    }
