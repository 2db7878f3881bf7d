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

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from adminconfig.models import SalesforceConnection, SyncSettings
from tasks import services as task_services
from tasks.bulk import rows_update
from tasks.models import Company, Task, TaskSyncRecord

from .context import applying_inbound
from .mapping import FieldRule, MappingSpec, sf_datetime_parse
from .mapping_specs import mapping_spec_load
from .merge import COCKPIT, SKIP, Merge, SyncField, merge, same
from .merge import Conflict as MergeConflict
from .models import Conflict, SyncEvent, Tombstone
from .payload import (
    COMPANY,
    OWNER,
    Lookups,
    Picklists,
    field_labels,
    lookups_load,
    picklists_load,
    salesforce_fields_of,
    sync_fields,
    task_changes,
    task_values,
)

log = logging.getLogger(__name__)

# A write whose answer never came can still land this long after it was sent.
UNCERTAIN_FOR = dt.timedelta(minutes=15)
UNCERTAIN_KEPT = 5
LATE_WRITE = "late_write"  # the "policy" of a conflict with a late write of our own
DIRECTION = "direction"  # ... and of a newly mapped one-way field's first values
EXTERNAL_PREFIX = "cockpit-"  # Cockpit_Task_Id__c holds "cockpit-<task id>"


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
    engine: Engine | None = None  # the mapping the merge ran under, to mark the agreement

    def agreed_after_push(self) -> tuple[dict[str, Any], dict[str, Any]]:
        base_sf, base_ck = self.merged.agreed_after_push(self.ours)
        if self.engine is not None:
            base_ck = agreement_marked(self.engine, base_sf, base_ck)
        return base_sf, base_ck


# ---- which mapping an agreement was made under ----------------------------------------------
# The agreed Cockpit values carry, under this key (no Salesforce field name starts with '@'),
# what the mapping was when each field was agreed: for a mapped field its Cockpit field and
# direction, for Status and Priority the Salesforce value Cockpit's agreed value translated to
# and whether the agreed Salesforce value had a mapping. A mapping or default change is then
# judged per task against the mapping its agreement was made under (issue 16): however many
# saves come before the re-sync reaches a task, and whichever of push, pull or re-sync merges
# it first. The company lookup is marked the same way: the Account the agreed company was
# linked to, and whether the agreed WhatId was an Account no company had; a company linked to
# another Account (by an admin, or by a pull that matched its name) is then a change of each
# of its tasks' WhatId, whichever merge meets the task first.
MARKS = "@mapping"
# A base value no real value equals: an agreed WhatId that became readable since (its Account
# is a company's now) is seen as changed in Salesforce.
LINKED = "\u2063cockpit-linked\u2063"


def _direction(rule: FieldRule) -> str:
    return {(True, True): "both", (True, False): "out", (False, True): "in"}.get(
        (rule.goes_out, rule.comes_in), "none"
    )


def agreement_marked(
    engine: Engine, base_sf: dict[str, Any], base_ck: dict[str, Any]
) -> dict[str, Any]:
    """The agreed Cockpit values with the marks of the mapping (and company links) they are
    agreed under."""
    spec = engine.spec
    marks: dict[str, Any] = {
        rule.salesforce_field: {"from": rule.cockpit_field, "dir": _direction(rule)}
        for rule in spec.fields
    }
    for _, picklist in spec.picklists:
        name = picklist.salesforce_field
        if base_ck.get(name) is None or name not in base_sf:
            continue  # not agreed (a write on its way): nothing to mark
        theirs = base_sf[name]
        marks[name] = {
            "out": picklist.out(base_ck[name]),
            "unmapped": theirs is not None and picklist.back(theirs) is None,
        }
    if COMPANY in base_sf and COMPANY in base_ck:
        lookups, theirs = engine.lookups, base_sf[COMPANY]
        company = base_ck[COMPANY]
        marks[COMPANY] = {
            "out": lookups.accounts_out.get(company) if company else None,
            "unmapped": bool(theirs) and theirs not in lookups.accounts_in,
        }
    return {**{k: v for k, v in base_ck.items() if k != MARKS}, MARKS: marks}


def _mapping_changes(
    engine: Engine,
    base_sf: dict[str, Any],
    base_ck: dict[str, Any],
    ours: dict[str, Any],
    theirs: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
    """The agreement as the current mapping can use it, and the fields with none (README, "What
    the sync guarantees", 11). Only what the new mapping translates differently from the old
    one's agreement goes out; a value Salesforce chose is never rewritten by a mapping change."""
    # A picklist that joined the sync after the twin's agreement (the task type, once mapped)
    # has none: it meets Salesforce's value as a newly mapped field does, so a Type a
    # Salesforce user chose is neither cleared by a task without a type nor overwritten.
    unagreed = {
        picklist.salesforce_field
        for _, picklist in engine.spec.picklists
        if picklist.salesforce_field not in base_sf
    }
    marks = base_ck.get(MARKS)
    if marks is None:
        # Agreed before marks were kept: as if under this one.
        return base_sf, base_ck, frozenset(unagreed)
    base_sf, base_ck = dict(base_sf), dict(base_ck)
    by_name = {item.salesforce: item for item in engine.fields}
    fresh: set[str] = set(unagreed)

    def forget(name: str) -> None:
        fresh.add(name)
        base_sf.pop(name, None)
        base_ck.pop(name, None)

    for rule in engine.spec.fields:
        name, mark = rule.salesforce_field, marks.get(rule.salesforce_field)
        if name not in base_sf or (mark is not None and mark["from"] != rule.cockpit_field):
            forget(name)  # newly mapped, or another Cockpit field behind it: no agreement yet
        elif mark is not None and mark["dir"] != _direction(rule) and name in base_ck:
            # A one-way field's agreement is only half a one (the side it ignored may have
            # moved on): it still holds where the two values translate into each other.
            item = by_name[name]
            agreed, agreed_sf = base_ck[name], base_sf[name]
            if not (same(item.out(agreed), agreed_sf) or same(item.back(agreed_sf), agreed)):
                forget(name)
    for _, picklist in engine.spec.picklists:
        name, mark = picklist.salesforce_field, marks.get(picklist.salesforce_field)
        if mark is None or name not in base_ck or name not in base_sf:
            continue
        agreed, agreed_sf = base_ck[name], base_sf[name]
        readable = agreed_sf is not None and picklist.back(agreed_sf) is not None
        if same(agreed_sf, mark["out"]) and readable:
            # Salesforce holds Cockpit's own translation, and the new mapping still reads it:
            # it follows a new translation (a changed mapping or default), unless a Salesforce
            # user changed the field since (the merge then takes that edit, or keeps it when
            # it has no mapping). A value the new mapping cannot read stays, as any other.
            moved = theirs is not None and not same(theirs.get(name, agreed_sf), agreed_sf)
            if not same(picklist.out(agreed), agreed_sf) and not moved:
                del base_ck[name]  # Cockpit's value counts as changed: it goes out
        elif mark["unmapped"] and agreed_sf is not None:
            meaning = picklist.back(agreed_sf)
            if meaning is not None and meaning != agreed:
                forget(name)  # a value newly mapped to another Cockpit value: no agreement yet
    _company_link_changes(engine, marks, base_sf, base_ck, theirs)
    return base_sf, base_ck, frozenset(fresh)


# ---- what a CSM changed since the agreement ---------------------------------------------------
# A field a CSM changed and changed back before a push (a task handed to Bob and back to its
# CSM) holds the agreed value again, and the merge would see no Cockpit change: a Salesforce
# change made meanwhile (the task given to a user with no Cockpit account) would win without a
# conflict, and a value Salesforce holds that Cockpit cannot express would stay although a CSM
# chose the field's value since. The Cockpit fields a CSM's change wrote are kept beside the
# agreement, under this key, until the next merge (README, "What the sync guarantees", 3).
TOUCHED = "@touched"


def agreement_touched(*, task: Task, fields: set[str]) -> None:
    """A CSM's change wrote these Cockpit fields ('owner', 'status', 'custom:<key>') of a
    task: the next merge counts them as changed by Cockpit even where the value is the agreed
    one again. Called in the change's transaction, which holds the task's row lock, so no
    merge (which locks the task first) runs between the change and this."""
    record = TaskSyncRecord.objects.select_for_update().filter(task=task).first()
    if record is None or not record.agreed_cockpit:
        return  # no agreement yet: the first push sends every field
    before = record.agreed_cockpit.get(TOUCHED) or []
    touched = sorted({*before, *fields})
    if touched != before:
        record.agreed_cockpit = {**record.agreed_cockpit, TOUCHED: touched}
        record.save(update_fields=["agreed_cockpit"])


def _company_link_changes(
    engine: Engine,
    marks: dict[str, Any],
    base_sf: dict[str, Any],
    base_ck: dict[str, Any],
    theirs: dict[str, Any] | None,
) -> None:
    """The agreed company's Account changed since the agreement (the agreement as the merge can
    use it, changed in place). Where Salesforce held the Account Cockpit's company meant, the
    company's new Account (or none) is a Cockpit change of the task's WhatId: it goes out, and
    a Salesforce user's change of it meanwhile makes a conflict, settled by the policy and
    recorded. Where Salesforce held an Account no company had (a push does not link
    companies), and that Account is now another company's, Salesforce's choice is a Salesforce
    change: it comes in (or meets Cockpit's own change as a conflict)."""
    if COMPANY not in base_sf or COMPANY not in base_ck:
        return
    agreed, agreed_sf = base_ck[COMPANY], base_sf[COMPANY]
    mark = marks.get(COMPANY)
    if mark is None:
        if agreed is None or agreed_sf is not None:
            return  # agreed before links were marked, and nothing tells what it meant
        # An empty WhatId agreed beside a company: that company had no Account then.
        mark = {"out": None, "unmapped": False}
    lookups = engine.lookups
    if mark["unmapped"]:
        meaning = lookups.accounts_in.get(agreed_sf) if agreed_sf else None
        if meaning is not None and meaning != agreed and theirs is not None:
            base_sf[COMPANY] = LINKED  # Salesforce's value counts as changed
    elif same(agreed_sf, mark["out"]):
        now = lookups.accounts_out.get(agreed) if agreed else None
        if not same(now, agreed_sf):
            del base_ck[COMPANY]  # Cockpit's value counts as changed: it goes out


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


def _legacy_base_ck(
    engine: Engine, base_sf: dict[str, Any], ours: dict[str, Any]
) -> dict[str, Any]:
    """Records agreed before Cockpit's side was kept: what Cockpit held then, as far as the
    Salesforce values tell (an unmapped value stood beside Cockpit's current one)."""
    base_ck = {}
    for item in engine.fields:
        if item.salesforce in base_sf:
            value = item.back(base_sf[item.salesforce])
            base_ck[item.salesforce] = ours.get(item.salesforce) if value is SKIP else value
    return base_ck


def _modified_at(theirs: dict[str, Any], *names: str) -> dt.datetime | None:
    for name in names or ("LastModifiedDate", "SystemModstamp"):
        if theirs.get(name):
            return sf_datetime_parse(theirs[name])
    return None


# ---- conditional writes ---------------------------------------------------------------------
# Salesforce's conditional headers validate weakly: If-Unmodified-Since compares an HTTP date,
# to the second, with LastModifiedDate, so an edit saved in the same second as the version
# Cockpit holds passes the check. A stamp is therefore kept only when the read that saw the
# version began at least SETTLED_AFTER past it: its second was over (one second), and a
# transaction still in flight when the version was read (a Salesforce record can become
# visible after later stamps) had another second to commit. An edit saved after that read is
# stamped later than the version, and a write conditional on it gets 412 instead.
SETTLED_AFTER = dt.timedelta(seconds=2)


def stamp_settled(theirs: dict[str, Any], read_at: dt.datetime | None) -> dt.datetime | None:
    """The LastModifiedDate of the version a read saw, if a write may be conditional on it."""
    modified = _modified_at(theirs, "LastModifiedDate")
    if modified is None or read_at is None or read_at < modified + SETTLED_AFTER:
        return None
    return modified


def conditional_since(engine: Engine, record: TaskSyncRecord) -> dt.datetime | None:
    """The stamp a push of this linked task may write on with If-Unmodified-Since instead of
    reading Salesforce first, or None when it must read: no settled stamp, a write whose answer
    never came (its late arrival needs the read's values to be recognised), or an agreement
    the current mapping judges differently (a mapping change meets Salesforce's values)."""
    stamp = record.salesforce_modified_at
    if stamp is None or not _agreement_writable(engine, record):
        return None
    return stamp


# A twin Cockpit wrote itself has no settled stamp until a read 2 s past its second sees it: a
# push cycle's verifying read (sync/outbound.py) does, in the call of the cycle after next at
# the latest. Until then its next update may wait for that read instead of reading first.
STAMP_AWAITED = dt.timedelta(seconds=4)


def stamp_awaited(engine: Engine, record: TaskSyncRecord, now: dt.datetime) -> bool:
    """Whether this twin's next update may wait for its stamp to settle: Cockpit wrote (or
    read) it less than STAMP_AWAITED ago, and only the stamp keeps it from going
    conditionally."""
    return (
        record.salesforce_modified_at is None
        and record.last_synced_at is not None
        and now - record.last_synced_at < STAMP_AWAITED
        and _agreement_writable(engine, record)
    )


def _agreement_writable(engine: Engine, record: TaskSyncRecord) -> bool:
    if _fresh(record.uncertain_writes, timezone.now()):
        return False
    base_sf, base_ck = record.agreed_values or {}, record.agreed_cockpit or {}
    if MARKS not in base_ck or any(
        name not in base_sf or name not in base_ck for name in engine.field_names
    ):
        return False
    judged_sf, judged_ck, fresh = _mapping_changes(engine, base_sf, base_ck, {}, None)
    return not (fresh or judged_sf != base_sf or judged_ck != base_ck)


# ---- merge linked tasks ---------------------------------------------------------------------


@dataclass
class MergeItem:
    """One linked task to merge with Salesforce's values (None: not read, Cockpit's side only)."""

    task_id: int
    theirs: dict[str, Any] | None
    salesforce_id: str
    base_override: tuple[dict[str, Any], dict[str, Any]] | None = None
    drift: bool = False  # a reconcile: values that differ although both sides agreed clash
    # When a read of Salesforce saw `theirs`, at the latest (Salesforce's clock; None: not a
    # read, say a change event): whether the version can be written on conditionally.
    read_at: dt.datetime | None = None


# A base value no real value equals: a field whose sides differ although the agreed values say
# they agree (drift) is seen as changed on both sides, and the policy decides, with a conflict.
DRIFT = "\u2063cockpit-drift\u2063"


def twins_merge_many(*, engine: Engine, items: list[MergeItem]) -> dict[int, Outcome]:
    """Merge Salesforce's values into these tasks under their row locks, and keep the new
    agreements: a bounded number of queries whatever the number of tasks (a pull's page of
    2,000). Tasks gone meanwhile, or desynced by their CSM, are left out of the answer."""
    if not items:
        return {}
    outcomes: dict[int, Outcome] = {}
    events: list[SyncEvent] = []
    conflicts: list[Conflict] = []
    with transaction.atomic():
        tasks = {
            t.pk: t
            for t in Task.objects.select_for_update(of=("self",))
            .select_related("status", "priority", "owner", "company", "type")
            .filter(pk__in=[i.task_id for i in items])
        }
        records = _records_locked(list(tasks))
        to_apply: list[tuple[Task, dict[str, Any]]] = []
        uncertain_before: dict[int, list[dict[str, Any]]] = {}
        outcome: Outcome | None
        for item in items:
            task, record = tasks.get(item.task_id), records.get(item.task_id)
            if task is None or record is None or record.desynced_at:
                continue
            uncertain_before[task.pk] = list(record.uncertain_writes or [])
            outcome = _merge_one(engine, task, record, item)
            outcomes[task.pk] = outcome
            if outcome.merged.to_cockpit:
                to_apply.append((task, outcome.merged.to_cockpit))
        refused = _apply_to_cockpit(engine, to_apply)
        changed: list[TaskSyncRecord] = []
        now = timezone.now()
        for item in items:
            outcome = outcomes.get(item.task_id)
            if outcome is None:
                continue
            task, record = tasks[item.task_id], records[item.task_id]
            result = outcome.merged
            if task.pk in refused:
                # Cockpit refuses the values (too long, say): it keeps its own, the refusal is
                # logged once, and Salesforce's value counts as seen so it is not refused
                # again every pull.
                for name in result.to_cockpit:
                    result.base_ck.pop(name, None)
                result.to_cockpit.clear()
                events.append(
                    SyncEvent(
                        kind=SyncEvent.Kind.ERROR,
                        task_id=task.pk,
                        salesforce_id=item.salesforce_id,
                        message=f"Salesforce values refused by Cockpit: "
                        f"{'; '.join(refused[task.pk].messages)}",
                    )
                )
            elif result.to_cockpit:
                outcome.changed_cockpit = True
            conflicts += _conflict_rows(engine, task, item.salesforce_id, result, events)
            events += _skip_events(engine, task.pk, item.salesforce_id, result)
            seen = _modified_at(item.theirs or {}, "SystemModstamp")
            newer = seen is not None and (
                record.salesforce_seen_at is None or seen > record.salesforce_seen_at
            )
            if newer:
                record.salesforce_seen_at = seen
            stamp_moved = False
            if item.theirs is not None:
                stamp = stamp_settled(item.theirs, item.read_at)
                stamp_moved = stamp != record.salesforce_modified_at
                record.salesforce_modified_at = stamp
            agreed = _agree(record, item.salesforce_id, outcome, now, uncertain_before[task.pk])
            if agreed or newer or stamp_moved:
                changed.append(record)
            if outcome.changed_cockpit:
                events.append(
                    SyncEvent(
                        kind=SyncEvent.Kind.PULLED,
                        task_id=task.pk,
                        salesforce_id=item.salesforce_id,
                        message=f"'{task.name}' updated from Salesforce: "
                        + ", ".join(sorted(engine.labels.get(n, n) for n in result.to_cockpit)),
                    )
                )
        rows_update(changed, RECORD_FIELDS)
        Conflict.objects.bulk_create(conflicts)
        SyncEvent.objects.bulk_create(events)
    return outcomes


RECORD_FIELDS = [
    "salesforce_seen_at",
    "salesforce_modified_at",
    "salesforce_id",
    "agreed_values",
    "agreed_cockpit",
    "uncertain_writes",
    "state",
    *TaskSyncRecord.ERROR_FIELDS,
    "last_synced_at",
]


def _records_locked(task_ids: list[int]) -> dict[int, TaskSyncRecord]:
    records = {
        r.task_id: r
        for r in TaskSyncRecord.objects.select_for_update().filter(task_id__in=task_ids)
    }
    missing = [TaskSyncRecord(task_id=pk) for pk in task_ids if pk not in records]
    if missing:
        TaskSyncRecord.objects.bulk_create(missing, ignore_conflicts=True)
        records.update(
            {
                r.task_id: r
                for r in TaskSyncRecord.objects.select_for_update().filter(
                    task_id__in=[m.task_id for m in missing]
                )
            }
        )
    return records


def _merge_one(engine: Engine, task: Task, record: TaskSyncRecord, item: MergeItem) -> Outcome:
    """The three-way merge of one task, in memory; the record's uncertain writes that
    Salesforce now shows are dropped from it."""
    theirs = item.theirs
    ours = task_values(task, engine.spec)
    base_sf: dict[str, Any] | None
    if item.base_override is not None:
        base_sf, base_ck = item.base_override
    else:
        base_sf = record.agreed_values or None
        base_ck = record.agreed_cockpit or (
            _legacy_base_ck(engine, base_sf, ours) if base_sf else {}
        )
    fresh: frozenset[str] = frozenset()
    if item.base_override is None and base_sf is not None:
        base_sf, base_ck, fresh = _mapping_changes(engine, base_sf, base_ck, ours, theirs)
    if item.drift and theirs is not None and base_sf is not None:
        base_sf, base_ck = _drift_marked(engine, ours, theirs, base_sf, base_ck)
    stale = stale_fields(record, theirs or {}, engine.fields, ours)
    touched_by_csm = (record.agreed_cockpit or {}).get(TOUCHED) or []
    touched = salesforce_fields_of(engine.spec, touched_by_csm)
    if theirs and record.uncertain_writes:
        # A write Salesforce now shows has landed: it cannot land again later.
        record.uncertain_writes = [w for w in record.uncertain_writes if not _landed(w, theirs)]
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
        fresh=fresh,
        touched=touched,
    )
    result.base_ck = agreement_marked(engine, result.base_sf, result.base_ck)
    for name in sorted(stale):
        # Salesforce holds an older Cockpit value that arrived late. Cockpit's newer value
        # goes out again; an edit made in Salesforce just before the late arrival would be
        # gone, and nobody can tell, so the overwrite is recorded where admins see it.
        conflict = MergeConflict(name, ours.get(name), theirs[name], COCKPIT, late_write=True)  # type: ignore[index]
        result.conflicts.append(conflict)
    return Outcome(task_id=task.pk, merged=result, ours=ours, engine=engine)


def _drift_marked(
    engine: Engine,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    base_sf: dict[str, Any],
    base_ck: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base with drifted fields marked: both sides hold what they last agreed on, and yet
    the values differ (a write lost without trace, a mapping changed under the record). A value
    Salesforce has that Cockpit cannot map is no drift: it is kept beside Cockpit's by design."""
    base_sf, base_ck = dict(base_sf), dict(base_ck)
    for item in engine.fields:
        name = item.salesforce
        if name not in theirs or name not in base_sf or name not in base_ck:
            continue
        if item.back(theirs[name]) is SKIP or same(item.out(ours.get(name)), theirs[name]):
            continue
        if same(theirs[name], base_sf[name]) and same(ours.get(name), base_ck[name]):
            base_sf[name] = base_ck[name] = DRIFT
    return base_sf, base_ck


def _agree(
    record: TaskSyncRecord,
    salesforce_id: str,
    outcome: Outcome,
    now: dt.datetime,
    uncertain_before: list[dict[str, Any]],
) -> bool:
    """Keep the merge's agreement on the record; returns whether the record changed."""
    result = outcome.merged
    agreed = (
        record.salesforce_id != salesforce_id
        or result.base_sf != record.agreed_values
        or result.base_ck != record.agreed_cockpit
    )
    if agreed:
        record.salesforce_id = salesforce_id
        record.agreed_values, record.agreed_cockpit = result.base_sf, result.base_ck
    if outcome.changed_cockpit or (agreed and not result.to_salesforce):
        record.state = TaskSyncRecord.State.SYNCED
        record.error_clear()
        record.last_synced_at = now
        return True
    return agreed or record.uncertain_writes != uncertain_before


def _apply_to_cockpit(
    engine: Engine, to_apply: list[tuple[Task, dict[str, Any]]]
) -> dict[int, ValidationError]:
    """Write what the merges take from Salesforce into the tasks, all at once; returns the
    refused tasks (they keep their values)."""
    if not to_apply:
        return {}
    users = _users_for([values[OWNER] for _, values in to_apply if OWNER in values])
    companies = _companies_for([values[COMPANY] for _, values in to_apply if values.get(COMPANY)])
    changes = [
        (task, task_changes(values, engine.spec, engine.picklists, users, companies))
        for task, values in to_apply
    ]
    return task_services.tasks_update_from_salesforce(changes=changes)


def _users_for(ids: list[Any]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.filter(pk__in=set(ids))}


def _companies_for(ids: list[Any]) -> dict[int, Company]:
    if not ids:
        return {}
    return {c.pk: c for c in Company.objects.filter(pk__in=set(ids))}


def _conflict_rows(
    engine: Engine, task: Task, salesforce_id: str, result: Merge, events: list[SyncEvent]
) -> list[Conflict]:
    rows = []
    for conflict in result.conflicts:
        label = engine.labels.get(conflict.salesforce_field, conflict.salesforce_field)
        rows.append(
            Conflict(
                task_id=task.pk,
                salesforce_id=salesforce_id,
                salesforce_field=conflict.salesforce_field,
                cockpit_value=conflict.cockpit_value,
                salesforce_value=conflict.salesforce_value,
                winner=conflict.winner,
                policy=LATE_WRITE
                if conflict.late_write
                else DIRECTION
                if conflict.by_direction
                else engine.settings.conflict_policy,
            )
        )
        if conflict.late_write:
            message = (
                f"'{task.name}': a slow, older write of Cockpit's {label} "
                f"('{conflict.salesforce_value}') reached Salesforce after a newer one; "
                f"Cockpit's '{conflict.cockpit_value}' was written again. A Salesforce edit of "
                f"the {label} made just before it would have been overwritten."
            )
        elif conflict.by_direction:
            message = (
                f"'{task.name}': {label}, newly mapped one way, differed "
                f"('{conflict.cockpit_value}' in Cockpit, '{conflict.salesforce_value}' in "
                f"Salesforce): {conflict.winner}, "
                "the side it syncs from, wins."
            )
        else:
            message = (
                f"'{task.name}': {label} changed on both sides ('{conflict.cockpit_value}' in "
                f"Cockpit, '{conflict.salesforce_value}' in Salesforce): {conflict.winner} wins "
                f"({engine.settings.get_conflict_policy_display()})."
            )
        events.append(
            SyncEvent(
                kind=SyncEvent.Kind.CONFLICT,
                task_id=task.pk,
                salesforce_id=salesforce_id,
                message=message,
            )
        )
    return rows


def _skip_events(
    engine: Engine, task_id: int, salesforce_id: str, result: Merge
) -> list[SyncEvent]:
    # Logged once per record and value: the value becomes part of the agreed base, so the
    # next pull does not see it as a change again.
    return [
        SyncEvent(
            kind=SyncEvent.Kind.SKIPPED,
            task_id=task_id,
            salesforce_id=salesforce_id,
            message=f"Salesforce {name} '{value}' has no Cockpit value mapped: the Cockpit "
            f"{engine.labels.get(name, name)} keeps its value.",
        )
        for name, value in result.skipped
    ]


def twin_agreed_after_push(
    *, outcomes: list[tuple[Outcome, str]], now: dt.datetime | None = None
) -> None:
    """Record the agreement for merged tasks whose writes Salesforce confirmed."""
    now = now or timezone.now()
    records = {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=[o.task_id for o, _ in outcomes])
    }
    for outcome, salesforce_id in outcomes:
        record = records.get(outcome.task_id)
        if record is None:
            continue  # deleted meanwhile
        record.agreed_values, record.agreed_cockpit = outcome.agreed_after_push()
        record.salesforce_modified_at = None  # Cockpit's write made a version it has not read
        record.salesforce_id, record.state = salesforce_id, TaskSyncRecord.State.SYNCED
        record.error_clear()
        record.last_synced_at = now
    rows_update(list(records.values()), AGREED_FIELDS)


AGREED_FIELDS = [
    "salesforce_id",
    "salesforce_modified_at",
    "agreed_values",
    "agreed_cockpit",
    "state",
    *TaskSyncRecord.ERROR_FIELDS,
    "last_synced_at",
]


# ---- deletions ----------------------------------------------------------------------------


def twins_deleted_in_salesforce(*, salesforce_ids: list[str], reason: str) -> int:
    """Salesforce deleted these records: their Cockpit tasks go too (a delete wins over an
    edit made meanwhile in Cockpit), without an echo."""
    linked = {
        task_id: salesforce_id
        for task_id, salesforce_id in TaskSyncRecord.objects.filter(
            salesforce_id__in=salesforce_ids, desynced_at=None
        ).values_list("task_id", "salesforce_id")
        if salesforce_id  # always, by the filter; said for the type checker
    }
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


def external_id(task_id: int) -> str:
    """The value of a Cockpit task's external id field in Salesforce."""
    return f"{EXTERNAL_PREFIX}{task_id}"


def task_id_of(external: str) -> int | None:
    """The Cockpit task an external id value names, if it is one of ours."""
    if not external.startswith(EXTERNAL_PREFIX):
        return None
    try:
        return int(external.removeprefix(EXTERNAL_PREFIX))
    except ValueError:
        return None


def first_push_base(record: TaskSyncRecord) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """What a first push whose answer never came sent (both sides' values), if Cockpit still
    remembers it: the agreed base once its twin is found."""
    creates = [w for w in record.uncertain_writes or [] if OWNER in w["values"]]
    if not creates:
        return None
    return creates[-1]["values"] or {}, creates[-1].get("cockpit") or {}


def tombstones_for(pairs: list[tuple[str, str]]) -> dict[str, Tombstone]:
    """For Salesforce records (Id, external id) Cockpit has no link to: the tombstones of the
    Cockpit tasks they are twins of, if those tasks are gone (deleted in Cockpit, or a late
    first push of a task whose twin Salesforce deleted). Two queries for any number."""
    by_salesforce = {
        t.salesforce_id: t
        for t in Tombstone.objects.filter(salesforce_id__in=[sf for sf, _ in pairs if sf])
    }
    task_ids = {t for t in (task_id_of(ext) for _, ext in pairs) if t is not None}
    by_task = {t.task_id: t for t in Tombstone.objects.filter(pk__in=task_ids)} if task_ids else {}
    found: dict[str, Tombstone] = {}
    for salesforce_id, external in pairs:
        tombstone = by_salesforce.get(salesforce_id)
        if tombstone is not None and tombstone.deleted_in == Tombstone.Side.SALESFORCE:
            continue  # the very record Salesforce deleted, undeleted there: a user's choice
        if tombstone is None:
            task_id = task_id_of(external)
            tombstone = by_task.get(task_id) if task_id is not None else None
            if tombstone is not None and tombstone.salesforce_id == salesforce_id:
                continue
        if tombstone is not None:
            found[salesforce_id] = tombstone
    return found
