"""What the task domain asks of apps that build on it, without importing them.

`tasks` imports no other app (DESIGN section 1); the sync registers here which task fields
Salesforce owns, so every interface that edits tasks can refuse changes to them.
"""

from collections.abc import Callable

from .models import Task

LockedFields = Callable[[Task], set[str]]
_locked_fields: LockedFields | None = None


def register_locked_fields(provider: LockedFields) -> None:
    global _locked_fields
    _locked_fields = provider


def locked_fields(task: Task) -> set[str]:
    """Field names ('name', 'details', 'custom:<key>') CSMs may not change on this task."""
    return _locked_fields(task) if _locked_fields else set()
