"""What an admin does from the sync health page: retry or skip a whole group of failed pushes,
settle a conflict, lift a budget pause. Each is a normal Cockpit write; the engine does the
rest (a retried entry is pushed by the next cycle, a settled conflict by the normal push)."""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from tasks import services as task_services
from tasks.models import Task, TaskSyncRecord

from . import outbox
from .failures import NO_FAILURE
from .health import KIND, error_kind_title, failed_entries
from .mapping import MappingSpec
from .mapping_specs import mapping_spec_load
from .merge import COCKPIT, SALESFORCE, SKIP
from .models import Conflict, OutboxEntry, SyncEvent
from .payload import lookups_load, picklists_load, sync_fields, task_changes


def _kind_check(kind: str) -> None:
    if not KIND.match(kind or ""):
        raise ValidationError("Unknown kind of error.")


def error_group_retry(*, kind: str, up_to: int | None = None) -> int:
    """Queue every failed push of one kind again (with a clean attempt count); returns how
    many. `up_to`: the newest entry the admin saw, so a failure that came later waits."""
    _kind_check(kind)
    entries = failed_entries(kind=kind, up_to=up_to)
    for entry in entries:
        outbox.entry_retry(entry=entry)
    return len(entries)


def error_group_skip(*, kind: str, by: Any, up_to: int | None = None) -> int:
    """Give up on every failed push of one kind: the entries are kept as Skipped (not sent),
    the tasks no longer show the error, and the log says who skipped what. The tasks keep
    their values; a later edit is pushed as usual."""
    _kind_check(kind)
    entries = failed_entries(kind=kind, up_to=up_to)
    if not entries:
        return 0
    title = error_kind_title(kind)[0]
    who = by.get_username()
    task_ids = {e.task_id for e in entries}
    with transaction.atomic():
        skipped = OutboxEntry.objects.filter(
            pk__in=[e.pk for e in entries], state=OutboxEntry.State.FAILED
        ).update(state=OutboxEntry.State.SKIPPED)
        # A task with a newer change queued keeps its state: that change is on its way.
        waiting = set(
            OutboxEntry.objects.filter(
                task_id__in=task_ids,
                state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT],
            ).values_list("task_id", flat=True)
        )
        TaskSyncRecord.objects.filter(
            task_id__in=task_ids - waiting, state=TaskSyncRecord.State.ERROR
        ).update(state=TaskSyncRecord.State.NOT_SYNCED, **NO_FAILURE)
        SyncEvent.objects.bulk_create(
            SyncEvent(
                kind=SyncEvent.Kind.SKIPPED,
                task_id=entry.task_id,
                salesforce_id=entry.salesforce_id,
                message=f"Failed push skipped by {who} ({title}): {entry.last_error}",
            )
            for entry in entries
        )
    return skipped


def conflict_resolve(*, conflict: Conflict, keep: str, by: Any) -> Conflict:
    """Settle a conflict as an admin: the task takes the kept side's value through
    `task_update`, as if a CSM had typed it. Taking Salesforce's value leaves the push nothing
    new to send (or the value Salesforce holds); keeping Cockpit's makes the normal push send
    it. A value that Cockpit already holds is no edit, and nothing is pushed."""
    if keep not in (COCKPIT, SALESFORCE):
        raise ValidationError("Choose Cockpit's or Salesforce's value.")
    if conflict.resolved_at is not None:
        raise ValidationError("This conflict was settled already.")
    connection = SalesforceConnection.objects.filter(is_primary=True).first()
    if connection is None:
        raise ValidationError("There is no primary Salesforce connection.")
    spec = mapping_spec_load(connection)
    value = _kept_value(conflict, keep, spec)
    with transaction.atomic():
        _conflict_settle(conflict, keep, value, spec, by)
    conflict.refresh_from_db()
    return conflict


def _kept_value(conflict: Conflict, keep: str, spec: MappingSpec) -> Any:
    """The Cockpit value the kept side stands for; a ValidationError when there is none."""
    fields = {f.salesforce: f for f in sync_fields(spec, lookups_load())}
    item = fields.get(conflict.salesforce_field)
    if item is None:
        raise ValidationError(
            f"{conflict.salesforce_field} is no longer mapped: nothing to settle in Cockpit."
        )
    if keep != SALESFORCE:
        return conflict.cockpit_value
    value = item.back(conflict.salesforce_value)
    if value is SKIP:
        raise ValidationError(
            f"Salesforce's value '{conflict.salesforce_value}' has no Cockpit value mapped."
        )
    return value


def _conflict_settle(conflict: Conflict, keep: str, value: Any, spec: MappingSpec, by: Any) -> None:
    """The task takes the value under its row lock, the conflict is marked settled and the
    log says who kept which side. Runs in the caller's transaction."""
    task = (
        Task.objects.select_for_update(of=("self",))
        .select_related("status", "priority", "owner", "company", "type")
        .filter(pk=conflict.task_id)
        .first()
    )
    if task is None:
        raise ValidationError("The task was deleted.")
    changes = task_changes({conflict.salesforce_field: value}, spec, picklists_load())
    task_services.task_update(task=task, **changes)
    Conflict.objects.filter(pk=conflict.pk).update(
        resolution=keep, resolved_at=timezone.now(), resolved_by=by
    )
    side = "Cockpit's" if keep == COCKPIT else "Salesforce's"
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.CONFLICT,
        task_id=task.pk,
        salesforce_id=conflict.salesforce_id,
        message=f"'{task.name}': {by.get_username()} settled the {conflict.salesforce_field} "
        f"conflict, keeping {side} value '{value}'.",
    )


def push_pause_lift(*, connection: SalesforceConnection, by: Any) -> bool:
    """Resume pushing now ("resume now"): the pause ends and the outbox is pushed. The next
    call records the usage again, and pauses again if the org is still past the ceiling or
    Cockpit's budget is still spent. False when nothing was paused."""
    now = timezone.now()
    with transaction.atomic():
        lifted = SalesforceConnection.objects.filter(
            pk=connection.pk, push_paused_until__gt=now
        ).update(push_paused_until=None)
        if not lifted:
            return False
        paused_until: dt.datetime | None = connection.push_paused_until
        until = f" (paused until {timezone.localtime(paused_until):%H:%M})" if paused_until else ""
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.RETRY,
            message=f"Pushing resumed by {by.get_username()}{until}.",
        )
        transaction.on_commit(outbox.doorbell)
    return True
