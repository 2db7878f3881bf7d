"""Writes of the task domain: every interface (API, pages, admin, sync) goes through here."""

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any, TypedDict

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import hooks
from .bulk import rows_update
from .custom_fields import custom_field_definitions, custom_fields_clean
from .models import Company, Priority, Status, Task, TaskSyncRecord, TaskType
from .selectors import priority_default, status_closed_default, status_default, tasks_owned_by

RELATIONS = ("status", "priority", "owner", "company", "type")
# The plain fields a field mapping can lock; custom fields lock as 'custom:<key>'.
LOCKABLE = ("name", "details", "due_date")
LOCKED_MESSAGE = "Synced from Salesforce: change it there."


class TaskChanges(TypedDict, total=False):
    name: str
    status: Status
    priority: Priority
    due_date: dt.date | None
    details: str
    owner: User
    company: Company | None
    type: TaskType | None
    custom_fields: dict[str, Any]


def _set_completion(task: Task, *, was_closed: bool) -> None:
    """Completing stamps completed_at; reopening clears it."""
    if task.status.is_closed and not was_closed:
        task.completed_at = timezone.now()
    elif not task.status.is_closed:
        task.completed_at = None


def _apply(task: Task, changes: TaskChanges) -> None:
    # Explicit assignments, not setattr over a dict: each field is a decision.
    if "name" in changes:
        task.name = changes["name"]
    if "status" in changes:
        task.status = changes["status"]
    if "priority" in changes:
        task.priority = changes["priority"]
    if "due_date" in changes:
        task.due_date = changes["due_date"]
    if "details" in changes:
        task.details = changes["details"] or ""
    if "owner" in changes:
        task.owner = changes["owner"]
    if "company" in changes:
        task.company = changes["company"]
    if "type" in changes:
        task.type = changes["type"]


def task_locked_changes_check(*, task: Task, changes: Mapping[str, Any]) -> None:
    """Refuse changes to the fields an admin mapped as not editable, while the task is synced.

    Salesforce owns those fields, so only its own writes (the sync applying its values, see
    tasks.hooks) change them; the API, the pages and the admin get a ValidationError keyed
    by the field, a custom field by its key. `changes["custom_fields"]`, when given, holds
    the cleaned values merged over the stored ones (as custom_fields_clean returns them).
    A value equal to the stored one is no change.
    """
    if hooks.owner_writing():
        return
    if not (changes.keys() & {*LOCKABLE, "custom_fields"}):
        return  # nothing lockable changes: no need to ask which fields are locked
    locked = hooks.locked_fields(task)
    if not locked:
        return
    errors: dict[str, str] = {}
    for name in LOCKABLE:
        if name in locked and name in changes:
            new = (changes[name] or "") if name == "details" else changes[name]
            if new != getattr(task, name):
                errors[name] = LOCKED_MESSAGE
    if "custom_fields" in changes:
        stored, new_values = task.custom_fields or {}, changes["custom_fields"] or {}
        for name in locked:
            key = name.removeprefix("custom:")
            if name.startswith("custom:") and new_values.get(key) != stored.get(key):
                errors[key] = LOCKED_MESSAGE
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def task_create(*, owner: User, name: str, **changes: Any) -> Task:
    data: TaskChanges = {"owner": owner, "name": name, **changes}  # type: ignore[typeddict-item]
    task = Task(status=data.get("status") or status_default())
    task.priority = data.get("priority") or priority_default()
    data.pop("status", None)
    data.pop("priority", None)
    _apply(task, data)
    task.custom_fields = custom_fields_clean(data.get("custom_fields"))
    _set_completion(task, was_closed=False)
    task.full_clean()
    task.save()
    return task


STALE_MESSAGE = "Changed meanwhile (now “{now}”): check it and save again."


class TaskChangedError(ValidationError):
    """The task is no longer the version the caller read (an API client's If-Match)."""


class TaskGoneError(ValidationError):
    """The task was deleted (by a CSM, or by Salesforce through a pull) after the caller read
    it: nothing was saved. The pages show it on the form; the API answers 404."""


def task_etag(task: Task) -> str:
    """The task's version as an HTTP entity tag: every write of the row moves updated_at."""
    return f'"{task.pk}-{int(task.updated_at.timestamp() * 1_000_000)}"'


def _stored(task: Task, name: str) -> Any:
    """A field's value as stored, for comparing: relations by id, empty details as ''."""
    if name in RELATIONS:
        return getattr(task, f"{name}_id")
    if name == "details":
        return task.details or ""
    return getattr(task, name)


def _given(name: str, value: Any) -> Any:
    """A value given for a field, as `_stored` gives it."""
    if name in RELATIONS:
        return value.pk if value is not None else None
    if name == "details":
        return value or ""
    return value


def _custom_changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


@transaction.atomic
def task_update(*, task: Task, expected: Mapping[str, Any] | None = None, **changes: Any) -> Task:
    """Change a task. Fields locked to Salesforce refuse changes (task_locked_changes_check).

    `task` is the caller's copy, as it read it: only the given fields whose values differ from
    it are changes. They are written onto the row as it is now, read under its lock, and
    nothing else is written (issue 16: a Salesforce rename pulled while a CSM edited the
    details was reverted by a save of the whole row from the copy read before the pull). A
    change committed meanwhile to another field survives, in either order.

    `expected`: what the user saw of the fields they changed (a page's form). A field stored
    since with another value (a pull, another tab) is refused, keyed by field, rather than
    overwritten unseen. `expected["etag"]` (an API client's If-Match): any write of the row
    since raises TaskChangedError. The caller's copy is updated to the row as saved.
    """
    data: TaskChanges = changes  # type: ignore[assignment]
    caller_custom = task.custom_fields or {}
    custom_wanted: dict[str, Any] = {}
    if "custom_fields" in data:
        cleaned = custom_fields_clean(data["custom_fields"], existing=caller_custom)
        custom_wanted = {k: cleaned.get(k) for k in _custom_changed(caller_custom, cleaned)}
    meant: TaskChanges = {  # type: ignore[assignment]
        name: value
        for name, value in data.items()
        if name != "custom_fields" and _given(name, value) != _stored(task, name)
    }
    current = (
        Task.objects.select_for_update(of=("self",))
        .select_related("status", "priority", "owner", "company", "type")
        .filter(pk=task.pk)
        .first()
    )
    if current is None:
        raise TaskGoneError("This task was deleted meanwhile: nothing was saved.")
    etag = (expected or {}).get("etag")
    if etag not in (None, "*") and etag != task_etag(current):
        raise TaskChangedError(
            "The task changed since you read it (its ETag is now "
            f"{task_etag(current)}): read it again and send your change again."
        )
    _stale_check(current, meant, custom_wanted, expected or {})
    was_closed = current.status.is_closed
    custom = None
    if custom_wanted:
        merged = {**(current.custom_fields or {}), **custom_wanted}
        kept = {k: v for k, v in merged.items() if v is not None}
        custom = custom_fields_clean({}, existing=kept)
    task_locked_changes_check(
        task=current, changes={**meant, "custom_fields": custom} if custom is not None else meant
    )
    if not meant and custom is None:
        task.__dict__.update(current.__dict__)
        return task  # nothing the caller means to change: no write, nothing to push
    completed_at = current.completed_at
    _apply(current, meant)
    if custom is not None:
        current.custom_fields = custom
    _set_completion(current, was_closed=was_closed)
    # Relations that did not change were valid when saved; checking them again costs a query
    # each, which adds up when a pull applies thousands of Salesforce changes.
    unchanged = [name for name in RELATIONS if name not in meant]
    current.full_clean(exclude=unchanged)
    written = [*meant, *(["custom_fields"] if custom is not None else [])]
    current.save(update_fields=[*written, "completed_at", "updated_at"])
    hooks.fields_changed(
        current,
        {
            *meant,
            *(f"custom:{key}" for key in custom_wanted),
            *(["completed_at"] if current.completed_at != completed_at else []),
        },
    )
    task.__dict__.update(current.__dict__)
    return task


def task_replace(*, task: Task, expected: Mapping[str, Any] | None = None, **changes: Any) -> Task:
    """Set every field of a task (the API's PUT), as task_update does the given ones.

    A writable field left out takes the value task_create gives it: no details, no due date,
    the default status and priority, no company, no type, no custom field values. Fields the
    caller may not change keep their values: the read-only ones, fields an admin locked to
    Salesforce while the task is synced, custom fields an admin deactivated. The owner left
    out stays the owner: a task always has one, and a PUT that forgot it must not hand the
    task to whoever sent it (staff may PUT any CSM's task).
    """
    locked = hooks.locked_fields(task)
    defaults: TaskChanges = {
        "status": status_default(),
        "priority": priority_default(),
        "due_date": None,
        "details": "",
        "company": None,
        "type": None,
    }
    full: dict[str, Any] = {k: v for k, v in defaults.items() if k not in locked}
    full.update(changes)
    # None clears a custom field in task_update; one given or locked keeps what it has.
    given_custom = changes.get("custom_fields") or {}
    full["custom_fields"] = {
        **{
            key: None
            for key in custom_field_definitions()
            if key not in given_custom and f"custom:{key}" not in locked
        },
        **given_custom,
    }
    return task_update(task=task, expected=expected, **full)


def _stale_check(
    current: Task,
    meant: Mapping[str, Any],
    custom_wanted: dict[str, Any],
    expected: Mapping[str, Any],
) -> None:
    errors: dict[str, str] = {}
    for name in meant:
        if name in expected and _given(name, expected[name]) != _stored(current, name):
            errors[name] = STALE_MESSAGE.format(now=getattr(current, name) or "")
    seen_custom = expected.get("custom_fields") or {}
    stored_custom = current.custom_fields or {}
    for key in custom_wanted:
        if key in seen_custom and seen_custom[key] != stored_custom.get(key):
            errors[key] = STALE_MESSAGE.format(now=stored_custom.get(key) or "")
    if errors:
        raise ValidationError(errors)


# ---- many at once, for the sync's pulls ------------------------------------------------------
# A pull applies up to 2,000 Salesforce changes a page. The values come translated by the sync
# from its own lookups loaded for the page (statuses, priorities, mapped users, companies), so
# the relations are not checked again one query each; every other rule of task_create and
# task_update holds (field validation, custom fields, completion stamps). Fields locked to
# Salesforce do not apply: these are Salesforce's own values. No signals fire (nothing of this
# goes back out).


@transaction.atomic
def tasks_update_from_salesforce(
    *, changes: list[tuple[Task, TaskChanges]]
) -> dict[int, ValidationError]:
    """Apply Salesforce's values to many tasks; returns the refused ones by task id (those
    keep their values). The given Task objects are updated in place."""
    definitions = custom_field_definitions()
    now = timezone.now()
    refused: dict[int, ValidationError] = {}
    accepted: list[Task] = []
    touched: set[str] = set()
    for task, data in changes:
        draft = copy.copy(task)
        try:
            _draft_update(draft, data, definitions)
        except ValidationError as exc:
            refused[task.pk] = exc
            continue
        draft.updated_at = now
        accepted.append(draft)
        touched.update(_touched(data))
        task.__dict__.update(draft.__dict__)
    if accepted:
        rows_update(accepted, sorted(touched | {"updated_at", "completed_at"}))
    return refused


def _draft_update(task: Task, data: TaskChanges, definitions: dict[str, Any]) -> None:
    was_closed = task.status.is_closed
    custom = None
    if "custom_fields" in data:
        custom = custom_fields_clean(
            data["custom_fields"],
            existing=task.custom_fields,
            definitions=definitions,
            required_if_given=True,
        )
    _apply(task, data)
    if custom is not None:
        task.custom_fields = custom
    _set_completion(task, was_closed=was_closed)
    task.clean_fields(exclude=list(RELATIONS))
    task.clean()


def _touched(data: TaskChanges) -> set[str]:
    return {name for name in data if name != "custom_fields"} | (
        {"custom_fields"} if "custom_fields" in data else set()
    )


@transaction.atomic
def tasks_create_from_salesforce(
    *, rows: list[tuple[User, str, TaskChanges]]
) -> list[Task | ValidationError]:
    """Create many tasks from Salesforce (owner, name, other values each); returns, in order,
    the task made or why it was refused."""
    definitions = custom_field_definitions()
    default_status, default_priority = status_default(), priority_default()
    made: list[Task | ValidationError] = []
    for owner, name, data in rows:
        task = Task(
            owner=owner,
            name=name,
            status=data.get("status") or default_status,
            priority=data.get("priority") or default_priority,
        )
        rest: TaskChanges = {k: v for k, v in data.items() if k not in ("status", "priority")}  # type: ignore[assignment]
        try:
            _apply(task, rest)
            task.custom_fields = custom_fields_clean(
                rest.get("custom_fields"), definitions=definitions, required_if_given=True
            )
            _set_completion(task, was_closed=False)
            task.clean_fields(exclude=list(RELATIONS))
            task.clean()
        except ValidationError as exc:
            made.append(exc)
            continue
        made.append(task)
    Task.objects.bulk_create([t for t in made if isinstance(t, Task)], batch_size=500)
    return made


def task_complete(*, task: Task) -> Task:
    if task.status.is_closed:
        return task
    return task_update(task=task, status=status_closed_default())


def task_reopen(*, task: Task) -> Task:
    if not task.status.is_closed:
        return task
    return task_update(task=task, status=status_default())


def _company_save(company: Company) -> Company:
    # Empty means "no Account": stored as NULL, so any number of companies can have none
    # (the column is unique, and "" twice would collide).
    company.salesforce_account_id = company.salesforce_account_id or None
    company.full_clean()
    company.save()
    return company


@transaction.atomic
def company_create(*, name: str, salesforce_account_id: str | None = None) -> Company:
    return _company_save(Company(name=name, salesforce_account_id=salesforce_account_id))


@transaction.atomic
def company_update(*, company: Company, **changes: Any) -> Company:
    """Change a company's name and/or salesforce_account_id; what is not given is kept. A new
    Account is every one of the company's tasks' new WhatId: the sync queues their pushes in
    this transaction (hooks.account_changed)."""
    # Compared with the row as stored, under its lock: the caller's copy may already carry the
    # new value (a form applies it before the save).
    stored = (
        Company.objects.select_for_update()
        .filter(pk=company.pk)
        .values_list("salesforce_account_id", flat=True)
        .first()
    )
    if "name" in changes:
        company.name = changes["name"]
    if "salesforce_account_id" in changes:
        company.salesforce_account_id = changes["salesforce_account_id"]
    _company_save(company)
    if company.salesforce_account_id != stored:
        hooks.account_changed(company)
    return company


def _tasks_lock_for_delete(task_ids: list[int]) -> None:
    # Django's delete removes the task's sync record before the task, so it would lock the
    # record first; the sync engine's writes lock the task, then its record (as a CSM's save
    # does). Locking the tasks first, in id order, keeps one order for everyone: on
    # PostgreSQL the two orders met as a deadlock, answered 500 to the CSM's DELETE.
    list(Task.objects.select_for_update().filter(pk__in=task_ids).order_by("pk").values("pk"))


@transaction.atomic
def task_delete(*, task: Task) -> None:
    _tasks_lock_for_delete([task.pk])
    task.delete()


@transaction.atomic
def task_delete_many(*, task_ids: list[int]) -> int:
    """Delete many tasks in a few queries (signals still fire for each)."""
    _tasks_lock_for_delete(task_ids)
    deleted, _ = Task.objects.filter(pk__in=task_ids).delete()
    return deleted


# ---- many tasks at once (the cockpit's bulk actions) ---------------------------------------
# Each takes the acting user and ids, and touches only that user's own tasks: an id of
# someone else's task is ignored, never an error that would confirm it exists.


@transaction.atomic
def task_complete_many(*, owner: User, task_ids: list[int]) -> list[Task]:
    """Complete the owner's open tasks among `task_ids`; returns those it completed. One save
    per task, so each writes its own outbox row (signals) like a single complete."""
    tasks = list(tasks_owned_by(owner).filter(pk__in=task_ids, status__is_closed=False))
    return [task_complete(task=task) for task in tasks]


@transaction.atomic
def task_delete_owned(*, owner: User, task_ids: list[int]) -> int:
    """Delete the owner's tasks among `task_ids`; returns how many."""
    ids = list(tasks_owned_by(owner).filter(pk__in=task_ids).values_list("pk", flat=True))
    if ids:
        # Not task_delete_many's count: that one includes the sync records deleted with them.
        task_delete_many(task_ids=ids)
    return len(ids)


@transaction.atomic
def task_push_many(*, owner: User, task_ids: list[int]) -> tuple[int, int]:
    """ "Sync to Salesforce" for the owner's tasks among `task_ids`: queue a push of each (also
    of tasks older than the sync); the worker sends them together. Desynced tasks are left
    alone. Returns (queued, left out)."""
    tasks = tasks_owned_by(owner).filter(pk__in=task_ids)
    queued = skipped = 0
    for task in tasks:
        record = _sync_record(task)
        if record is not None and record.desynced_at is not None:
            skipped += 1
        elif hooks.push_request(task, force=True):
            queued += 1
        else:
            skipped += 1
    return queued, skipped


# ---- desync: a CSM stops syncing one task, and syncs it again later ------------------------


def _sync_record(task: Task) -> TaskSyncRecord | None:
    try:
        return task.sync_record
    except TaskSyncRecord.DoesNotExist:
        return None


@transaction.atomic
def task_desync(*, task: Task) -> TaskSyncRecord:
    """Stop syncing this task: both sides keep their data, and from now on Cockpit neither
    pushes it nor applies Salesforce's changes to it (TaskSyncRecord.desynced_at)."""
    record = TaskSyncRecord.objects.select_for_update().filter(task=task).first()
    if record is None:
        raise ValidationError("This task is not synced with Salesforce: there is nothing to stop.")
    if record.desynced_at is not None:
        raise ValidationError("Syncing of this task is already stopped.")
    record.desynced_at = timezone.now()
    record.save(update_fields=["desynced_at"])
    task.sync_record = record
    hooks.sync_note(task, "desynced")
    return record


@transaction.atomic
def task_resync(*, task: Task) -> TaskSyncRecord:
    """Sync a desynced task again: queue a push, which merges from the values both sides last
    agreed on (what changed on each side meanwhile is merged field by field)."""
    record = TaskSyncRecord.objects.select_for_update().filter(task=task).first()
    if record is None or record.desynced_at is None:
        raise ValidationError("This task is syncing already.")
    record.desynced_at = None
    record.save(update_fields=["desynced_at"])
    task.sync_record = record
    hooks.sync_note(task, "resynced")
    hooks.push_request(task, force=False)
    record.refresh_from_db()
    task.sync_record = record
    return record
