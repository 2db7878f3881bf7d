"""Salesforce changes a read could not see: a field changed and changed back before the read.

A pull, or a push that reads first, sees a field at the value both sides agreed on and sends
Cockpit's change over it. If a Salesforce user changed that field and back meanwhile, only
the change events tell; when they arrive after the read (the listener was held up, say while a
dead worker's lease ran out), the listener skips them as known: the read holds their end
(sync/stream.py, `known_already`). So the merge of a read keeps, for each field it sends over
a value it saw unchanged, the Salesforce versions it could not see into (`unseen_windows` on
the sync record: after the SystemModstamp Cockpit had seen, up to the one it read). A known
event of such a window, committed by a Salesforce user, that set the field to another value is
then recorded as the conflict it was: Cockpit's value won (it is written already), both values
are named, and an admin can take Salesforce's from the sync health page. The edit stays
overwritten, but never silently.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from tasks.bulk import rows_update
from tasks.models import Task, TaskSyncRecord

from . import outbox
from .engine_config import Engine
from .merge import COCKPIT, Merge, same
from .models import Conflict, SyncEvent
from .stamps import modified_at

UNSEEN = "unseen"  # the "policy" of such a conflict: no policy chose, the order of events did
WINDOWS_KEPT = 5  # per task, the newest
# Salesforce keeps change events this long: an older window's events can no longer come.
EVENTS_RETAINED = dt.timedelta(hours=72)


def unseen_windows_open(
    record: TaskSyncRecord,
    merged: Merge,
    ours: dict[str, Any],
    theirs: dict[str, Any] | None,
    seen_before: dt.datetime | None,
) -> bool:
    """Keep the windows of a read's merge on the record (not saved here); returns whether
    they changed. None when Salesforce committed nothing since the version Cockpit had seen:
    then there was nothing to miss."""
    stamp = modified_at(theirs or {}, "SystemModstamp")
    if theirs is None or stamp is None or (seen_before is not None and stamp <= seen_before):
        return False
    contested = {c.salesforce_field for c in merged.conflicts}  # recorded already
    opened = [
        {
            "field": name,
            "salesforce": theirs.get(name),
            "cockpit": ours.get(name),
            "sent": merged.to_salesforce[name],  # as Salesforce holds it once written
            "after": seen_before.isoformat() if seen_before else None,
            "until": stamp.isoformat(),
        }
        for name in merged.to_salesforce
        if name not in contested
    ]
    if not opened:
        return False
    record.unseen_windows = _current([*(record.unseen_windows or []), *opened])
    return True


def _current(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    oldest = timezone.now() - EVENTS_RETAINED
    kept = [w for w in windows if dt.datetime.fromisoformat(w["until"]) >= oldest]
    return kept[-WINDOWS_KEPT:]


@dataclass
class Unseen:
    """A Salesforce user's change inside a window: the value Cockpit's write went over hid it."""

    task_id: int
    salesforce_id: str
    window: dict[str, Any]
    value: Any  # what the Salesforce user set the field to


def unseen_in(
    link: TaskSyncRecord,
    changed: dict[str, Any],
    committed: dt.datetime,
    *,
    set_by_salesforce: bool,
    known: bool,
) -> list[Unseen]:
    """What a change event hid from a read's merge, if anything: `changed`, the fields it set;
    `set_by_salesforce`, committed by a user other than Cockpit's (Cockpit's own writes are
    echoes); `known`, skipped as known already. An event the listener applies while Cockpit's
    write has not been agreed yet tells the merge itself (the values it passed: sync/merge.py);
    once the write is agreed, the merge sees no change of Salesforce's in it any more."""
    if not set_by_salesforce or not link.unseen_windows:
        return []
    found = []
    for window in link.unseen_windows:
        name = window["field"]
        if name not in changed or same(changed[name], window["salesforce"]):
            continue
        if not known and not same((link.agreed_values or {}).get(name), window["sent"]):
            continue
        after = window["after"]
        if committed > dt.datetime.fromisoformat(window["until"]) or (
            after is not None and committed <= dt.datetime.fromisoformat(after)
        ):
            continue
        found.append(Unseen(link.task_id, str(link.salesforce_id), window, changed[name]))
    return found


def unseen_conflicts_record(engine: Engine, found: list[Unseen]) -> int:
    """Record each window's hidden change once, as a conflict Cockpit won, and close the
    window; returns how many were recorded. The caller holds the lease (its fence)."""
    if not found:
        return 0
    task_ids = sorted({u.task_id for u in found})
    recorded = 0
    with transaction.atomic():
        outbox.tasks_lock(task_ids)  # the order every writer of a task takes
        records = {r.task_id: r for r in TaskSyncRecord.objects.filter(task_id__in=task_ids)}
        names = dict(Task.objects.filter(pk__in=task_ids).values_list("pk", "name"))
        conflicts, events, changed = [], [], []
        for hidden in _per_window(found):
            first = hidden[0]
            record = records.get(first.task_id)
            if record is None or first.window not in (record.unseen_windows or []):
                continue  # the task is gone, or the window was recorded already
            record.unseen_windows.remove(first.window)
            conflicts.append(_conflict(first))
            events.append(_event(engine, names.get(first.task_id, ""), hidden))
            changed.append(record)
            recorded += 1
        rows_update(list({r.pk: r for r in changed}.values()), ["unseen_windows"])
        Conflict.objects.bulk_create(conflicts)
        SyncEvent.objects.bulk_create(events)
    return recorded


def _per_window(found: list[Unseen]) -> list[list[Unseen]]:
    windows: dict[tuple[int, str], list[Unseen]] = {}
    for unseen in found:
        key = (unseen.task_id, repr(sorted(unseen.window.items())))
        windows.setdefault(key, []).append(unseen)
    return list(windows.values())


def _conflict(unseen: Unseen) -> Conflict:
    window = unseen.window
    return Conflict(
        task_id=unseen.task_id,
        salesforce_id=unseen.salesforce_id,
        salesforce_field=window["field"],
        cockpit_value=window["cockpit"],
        salesforce_value=window["salesforce"],
        winner=COCKPIT,
        policy=UNSEEN,
    )


def _event(engine: Engine, task_name: str, hidden: list[Unseen]) -> SyncEvent:
    window = hidden[0].window
    label = engine.labels.get(window["field"], window["field"])
    values = ", ".join(f"'{v}'" for v in dict.fromkeys(str(u.value) for u in hidden))
    return SyncEvent(
        kind=SyncEvent.Kind.CONFLICT,
        task_id=hidden[0].task_id,
        salesforce_id=hidden[0].salesforce_id,
        message=f"'{task_name}': {label} changed on both sides: in Salesforce to {values} and "
        f"back to '{window['salesforce']}' before Cockpit read it, so Cockpit's "
        f"'{window['cockpit']}' was written over it; Salesforce's change events told later. "
        "Cockpit's value was kept.",
    )
