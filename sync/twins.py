"""A Cockpit task and its Salesforce twin: merge, link, and delete, for both directions.

The pull and the push both end here once they hold Salesforce's values for a task: the merge
(sync/merge.py) decides field by field, this module applies what comes in under a row lock,
records conflicts and skipped values, and keeps the agreed values that the next merge starts
from. No network here: callers read Salesforce before and write after.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from adminconfig.models import SalesforceConnection, SyncSettings
from tasks import services as task_services
from tasks.models import Task, TaskSyncRecord

from .config import mapping_spec_load
from .context import applying_inbound
from .mapping import MappingSpec, sf_datetime_parse
from .merge import COCKPIT, SKIP, Merge, SyncField, merge, same
from .merge import Conflict as MergeConflict
from .models import Conflict, SyncEvent, Tombstone
from .payload import (
    Lookups,
    Picklists,
    field_labels,
    lookups_load,
    picklists_load,
    sync_fields,
    task_changes,
    task_values,
)

log = logging.getLogger(__name__)

# A write whose answer never came can still land this long after it was sent.
UNCERTAIN_FOR = dt.timedelta(minutes=15)
UNCERTAIN_KEPT = 5
LATE_WRITE = "late_write"  # the "policy" of a conflict with a late write of our own


@dataclass
class Engine:
    """What one push cycle or pull knows about the configuration, loaded once."""

    connection: SalesforceConnection
    settings: SyncSettings
    spec: MappingSpec
    lookups: Lookups
    fields: list[SyncField] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    picklists: Picklists = field(default_factory=picklists_load)

    def __post_init__(self) -> None:
        self.fields = sync_fields(self.spec, self.lookups)
        self.labels = field_labels(self.spec)

    @property
    def field_names(self) -> list[str]:
        return [f.salesforce for f in self.fields]


def engine_load(connection: SalesforceConnection, settings: SyncSettings) -> Engine:
    return Engine(
        connection=connection,
        settings=settings,
        spec=mapping_spec_load(connection),
        lookups=lookups_load(),
    )


@dataclass
class Outcome:
    """What merging one task did; `to_salesforce` is what still has to be written."""

    task_id: int
    merged: Merge
    ours: dict[str, Any]
    changed_cockpit: bool = False


# ---- uncertain writes ---------------------------------------------------------------------


def uncertain_add(writes: dict[int, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Remember writes whose answer never came: task id → (values sent, Cockpit's values)."""
    now = timezone.now()
    for record in TaskSyncRecord.objects.filter(task_id__in=writes):
        sent, cockpit = writes[record.task_id]
        kept = _fresh(record.uncertain_writes, now)
        kept.append({"at": now.isoformat(), "values": sent, "cockpit": cockpit})
        record.uncertain_writes = kept[-UNCERTAIN_KEPT:]
        record.save(update_fields=["uncertain_writes"])


def _fresh(writes: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    return [w for w in writes or [] if dt.datetime.fromisoformat(w["at"]) > now - UNCERTAIN_FOR]


def stale_fields(
    record: TaskSyncRecord, theirs: dict[str, Any], fields: list[SyncField], ours: dict[str, Any]
) -> frozenset[str]:
    """Fields whose Salesforce value is what one of our unanswered writes sent, no longer what
    Cockpit holds: the write arrived late, after a newer one. Salesforce's LastModifiedById
    cannot tell (it names the last editor of any field), so the value itself does; a Salesforce
    user who set that very value meanwhile is indistinguishable, and the merge records a
    conflict for every such field, so the case is never silent."""
    if not record.uncertain_writes or not theirs:
        return frozenset()
    agreed = record.agreed_values or {}
    by_name = {item.salesforce: item for item in fields}
    stale = set()
    for write in _fresh(record.uncertain_writes, timezone.now()):
        for name, value in write["values"].items():
            item = by_name.get(name)
            if item is None or name not in theirs or not same(theirs[name], value):
                continue
            if not same(value, agreed.get(name)) and not same(item.out(ours.get(name)), value):
                stale.add(name)
    return frozenset(stale)


def _landed(write: dict[str, Any], theirs: dict[str, Any]) -> bool:
    return all(same(theirs.get(k), v) for k, v in write["values"].items() if k in theirs)


def uncertain_since(record: TaskSyncRecord) -> dt.datetime | None:
    """When the newest write of this task whose answer never came was sent, if recently."""
    fresh = _fresh(record.uncertain_writes, timezone.now())
    return dt.datetime.fromisoformat(fresh[-1]["at"]) if fresh else None


def _legacy_base_ck(engine: Engine, base_sf: dict[str, Any], ours: dict[str, Any]) -> dict:
    """Records agreed before Cockpit's side was kept: what Cockpit held then, as far as the
    Salesforce values tell (an unmapped value stood beside Cockpit's current one)."""
    base_ck = {}
    for item in engine.fields:
        if item.salesforce in base_sf:
            value = item.back(base_sf[item.salesforce])
            base_ck[item.salesforce] = ours.get(item.salesforce) if value is SKIP else value
    return base_ck


def _modified_at(theirs: dict[str, Any]) -> dt.datetime | None:
    stamp = theirs.get("LastModifiedDate") or theirs.get("SystemModstamp")
    return sf_datetime_parse(stamp) if stamp else None


# ---- merge one linked task ----------------------------------------------------------------


def twin_merge(
    *,
    engine: Engine,
    task_id: int,
    theirs: dict[str, Any] | None,
    salesforce_id: str,
    base_override: tuple[dict[str, Any], dict[str, Any]] | None = None,
    resync: bool = False,
) -> Outcome | None:
    """Merge Salesforce's values (None: not read) into the task, under its row lock, and keep
    the new agreement. None when the task is gone."""
    with transaction.atomic():
        task = (
            Task.objects.select_for_update(of=("self",))
            .select_related("status", "priority", "owner", "company")
            .filter(pk=task_id)
            .first()
        )
        if task is None:
            return None
        record, _ = TaskSyncRecord.objects.select_for_update().get_or_create(task=task)
        ours = task_values(task, engine.spec)
        if base_override is not None:
            base_sf, base_ck = base_override
        else:
            base_sf = record.agreed_values or None
            base_ck = record.agreed_cockpit or (
                _legacy_base_ck(engine, base_sf, ours) if base_sf else {}
            )
        if resync:
            # The admin changed the mappings: Cockpit's values go out again wherever they now
            # translate differently from what Salesforce holds.
            base_ck = {}
        stale = stale_fields(record, theirs or {}, engine.fields, ours)
        if theirs and record.uncertain_writes:
            # A write Salesforce now shows has landed: it cannot land again later.
            pending = [w for w in record.uncertain_writes if not _landed(w, theirs)]
            if pending != record.uncertain_writes:
                TaskSyncRecord.objects.filter(pk=record.pk).update(uncertain_writes=pending)
        modified = _modified_at(theirs or {})
        # Salesforce stamps to the second: within one second the tie goes to Salesforce (a
        # conflict is recorded either way).
        changed_here = task.updated_at.replace(microsecond=0)
        latest = "salesforce" if modified and modified >= changed_here else "cockpit"
        result = merge(
            engine.fields,
            base_sf=base_sf,
            base_ck=base_ck,
            ours=ours,
            theirs=theirs,
            latest=latest,
            policy=engine.settings.conflict_policy,
            stale=stale,
        )
        for name in sorted(stale):
            # Salesforce holds an older Cockpit value that arrived late. Cockpit's newer value
            # goes out again; an edit made in Salesforce just before the late arrival would be
            # gone, and nobody can tell, so the overwrite is recorded where admins see it.
            conflict = MergeConflict(name, ours.get(name), theirs[name], COCKPIT, late_write=True)
            result.conflicts.append(conflict)
        outcome = Outcome(task_id=task.pk, merged=result, ours=ours)
        if result.to_cockpit:
            outcome.changed_cockpit = _apply_to_cockpit(engine, task, result, salesforce_id)
        _record_conflicts(engine, task, salesforce_id, result)
        _record_skips(engine, task.pk, salesforce_id, result)
        changes: dict[str, Any] = {}
        if record.salesforce_id != salesforce_id:
            changes["salesforce_id"] = salesforce_id
        if result.base_sf != record.agreed_values or result.base_ck != record.agreed_cockpit:
            changes.update(agreed_values=result.base_sf, agreed_cockpit=result.base_ck)
        if outcome.changed_cockpit or (not result.to_salesforce and changes):
            changes.update(state=TaskSyncRecord.State.SYNCED, last_error="")
            changes["last_synced_at"] = timezone.now()
        if changes:
            TaskSyncRecord.objects.filter(pk=record.pk).update(**changes)
    if outcome.changed_cockpit:
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.PULLED,
            task_id=task.pk,
            salesforce_id=salesforce_id,
            message="Updated from Salesforce: "
            + ", ".join(sorted(engine.labels.get(n, n) for n in result.to_cockpit)),
        )
    return outcome


def _apply_to_cockpit(engine: Engine, task: Task, result: Merge, salesforce_id: str) -> bool:
    try:
        # task_update validates before it writes: a refusal leaves nothing to roll back.
        with applying_inbound():
            task_services.task_update(
                task=task, **task_changes(result.to_cockpit, engine.spec, engine.picklists)
            )
        return True
    except ValidationError as exc:
        # Cockpit refuses the values (too long, say): it keeps its own, the refusal is logged
        # once, and Salesforce's value counts as seen so it is not refused again every pull.
        for name in result.to_cockpit:
            result.base_ck.pop(name, None)
        result.to_cockpit.clear()
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.ERROR,
            task_id=task.pk,
            salesforce_id=salesforce_id,
            message=f"Salesforce values refused by Cockpit: {'; '.join(exc.messages)}",
        )
        return False


def _record_conflicts(engine: Engine, task: Task, salesforce_id: str, result: Merge) -> None:
    for conflict in result.conflicts:
        label = engine.labels.get(conflict.salesforce_field, conflict.salesforce_field)
        Conflict.objects.create(
            task_id=task.pk,
            salesforce_id=salesforce_id,
            salesforce_field=conflict.salesforce_field,
            cockpit_value=conflict.cockpit_value,
            salesforce_value=conflict.salesforce_value,
            winner=conflict.winner,
            policy=LATE_WRITE if conflict.late_write else engine.settings.conflict_policy,
        )
        if conflict.late_write:
            message = (
                f"'{task.name}': a slow, older write of Cockpit's {label} "
                f"('{conflict.salesforce_value}') reached Salesforce after a newer one; "
                f"Cockpit's '{conflict.cockpit_value}' was written again. A Salesforce edit of "
                f"the {label} made just before it would have been overwritten."
            )
        else:
            message = (
                f"'{task.name}': {label} changed on both sides ('{conflict.cockpit_value}' in "
                f"Cockpit, '{conflict.salesforce_value}' in Salesforce): {conflict.winner} wins "
                f"({engine.settings.get_conflict_policy_display()})."
            )
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.CONFLICT,
            task_id=task.pk,
            salesforce_id=salesforce_id,
            message=message,
        )


def _record_skips(engine: Engine, task_id: int, salesforce_id: str, result: Merge) -> None:
    # Logged once per record and value: the value becomes part of the agreed base, so the
    # next pull does not see it as a change again.
    for name, value in result.skipped:
        label = engine.labels.get(name, name)
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.SKIPPED,
            task_id=task_id,
            salesforce_id=salesforce_id,
            message=f"Salesforce {name} '{value}' has no Cockpit value mapped: the Cockpit "
            f"{label} keeps its value.",
        )


def twin_agreed_after_push(
    *, outcomes: list[tuple[Outcome, str]], now: dt.datetime | None = None
) -> None:
    """Record the agreement for merged tasks whose writes Salesforce confirmed."""
    now = now or timezone.now()
    for outcome, salesforce_id in outcomes:
        base_sf, base_ck = outcome.merged.agreed_after_push(outcome.ours)
        TaskSyncRecord.objects.filter(task_id=outcome.task_id).update(
            salesforce_id=salesforce_id,
            agreed_values=base_sf,
            agreed_cockpit=base_ck,
            state=TaskSyncRecord.State.SYNCED,
            last_synced_at=now,
            last_error="",
        )


# ---- deletions ----------------------------------------------------------------------------


def twins_deleted_in_salesforce(*, salesforce_ids: list[str], reason: str) -> int:
    """Salesforce deleted these records: their Cockpit tasks go too (a delete wins over an
    edit made meanwhile in Cockpit), without an echo."""
    linked = dict(
        TaskSyncRecord.objects.filter(salesforce_id__in=salesforce_ids).values_list(
            "task_id", "salesforce_id"
        )
    )
    if not linked:
        return 0
    names = dict(Task.objects.filter(pk__in=linked).values_list("pk", "name"))
    with transaction.atomic():
        with applying_inbound():
            task_services.task_delete_many(task_ids=list(linked))
        Tombstone.objects.bulk_create(
            [
                Tombstone(
                    task_id=task_id,
                    salesforce_id=salesforce_id,
                    deleted_in=Tombstone.Side.SALESFORCE,
                )
                for task_id, salesforce_id in linked.items()
            ],
            ignore_conflicts=True,
        )
    SyncEvent.objects.bulk_create(
        SyncEvent(
            kind=SyncEvent.Kind.DELETED,
            task_id=task_id,
            salesforce_id=salesforce_id,
            message=f"'{names.get(task_id, task_id)}' {reason}",
        )
        for task_id, salesforce_id in linked.items()
    )
    return len(linked)


def tombstone_for(*, salesforce_id: str, external_id: str) -> Tombstone | None:
    """The tombstone of the Cockpit task this Salesforce record is a twin of, if that task is
    gone: deleted in Cockpit, or a late first push of a task whose twin Salesforce deleted."""
    found = Tombstone.objects.filter(salesforce_id=salesforce_id).first() if salesforce_id else None
    if found is not None and found.deleted_in == Tombstone.Side.SALESFORCE:
        return None  # the very record Salesforce deleted, undeleted there: a user's choice
    if found is None and external_id.startswith("cockpit-"):
        try:
            task_id = int(external_id.removeprefix("cockpit-"))
        except ValueError:
            return None
        found = Tombstone.objects.filter(pk=task_id).first()
        if found is not None and found.salesforce_id == salesforce_id:
            return None
    return found
