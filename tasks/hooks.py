"""What the task domain asks of apps that build on it, without importing them.

`tasks` imports no other app (DESIGN section 1). Fields an admin mapped as not editable
belong to Salesforce while a task is synced: the sync registers here which fields those
are for a task, and how to recognise its own writes of Salesforce's values, the only
writes the locks do not hold for. `task_update` enforces the locks for every interface.
"""

from collections.abc import Callable

from .models import Company, Task

LockedFields = Callable[[Task], set[str]]
OwnerWriting = Callable[[], bool]
_locked_fields: LockedFields | None = None
_owner_writing: OwnerWriting | None = None


def register_locked_fields(provider: LockedFields) -> None:
    global _locked_fields
    _locked_fields = provider


def locked_fields(task: Task) -> set[str]:
    """Field names ('name', 'details', 'custom:<key>') CSMs may not change on this task."""
    return _locked_fields(task) if _locked_fields else set()


def register_owner_writing(check: OwnerWriting) -> None:
    """`check()` is true while the locked fields' owner (Salesforce, through the sync's
    inbound apply) writes them: those writes pass the locks."""
    global _owner_writing
    _owner_writing = check


def owner_writing() -> bool:
    return _owner_writing() if _owner_writing else False


PushRequest = Callable[[Task, bool], bool]
_push_request: PushRequest | None = None


def register_push_request(request: PushRequest) -> None:
    """`request(task, force)` queues a push of the task to Salesforce and says whether it
    did; `force` also pushes a task older than the sync (a CSM's "Sync to Salesforce")."""
    global _push_request
    _push_request = request


def push_request(task: Task, *, force: bool = False) -> bool:
    return _push_request(task, force) if _push_request else False


SyncNote = Callable[[Task, str], None]
_sync_note: SyncNote | None = None


def register_sync_note(note: SyncNote) -> None:
    """`note(task, kind)` writes a line of the task's sync history: kind "desynced" when a CSM
    stops syncing it, "resynced" when they sync it again."""
    global _sync_note
    _sync_note = note


def sync_note(task: Task, kind: str) -> None:
    if _sync_note:
        _sync_note(task, kind)


FieldsChanged = Callable[[Task, set[str]], None]
_fields_changed: FieldsChanged | None = None


def register_fields_changed(note: FieldsChanged) -> None:
    """`note(task, fields)` learns, inside the change's transaction, which fields a person's
    change wrote ('owner', 'status', 'custom:<key>', 'completed_at'): also a field set back to
    a value it had, which the row alone cannot tell (the sync counts it as changed)."""
    global _fields_changed
    _fields_changed = note


def fields_changed(task: Task, fields: set[str]) -> None:
    if _fields_changed and fields:
        _fields_changed(task, fields)


AccountChanged = Callable[[Company], object]
_account_changed: AccountChanged | None = None


def register_account_changed(changed: AccountChanged) -> None:
    """`changed(company)` is called in the transaction that changed which Salesforce Account a
    company is: the WhatId of each of its synced tasks changes with it."""
    global _account_changed
    _account_changed = changed


def account_changed(company: Company) -> None:
    if _account_changed:
        _account_changed(company)
