"""Salesforce changes a read could not see: a field changed and changed back before the read.

A pull, or a push that reads first, sees a field at the value both sides agreed on and sends
Cockpit's change over it. If a Salesforce user changed that field and back meanwhile, only
the change events tell; when they arrive after the read (the listener was held up, say while a
dead worker's lease ran out), the listener skips them as known: the read holds their end
(sync/stream.py, `known_already`). So the merge of a read keeps, for each field it sends over
a value it saw unchanged, the Salesforce versions it could not see into (`unseen_windows` on
the sync record: after the SystemModstamp Cockpit had seen, up to the one it read). A known
event of such a window, committed by a Salesforce user, that set the field to another value is
then recorded as the conflict it was: Cockpit's value won, both values are named, and an admin
can take Salesforce's from the sync health page. The edit stays overwritten, but never silently.

The overwrite is Cockpit's write, so it counts only once that write has landed (`landed`: a
push's write of the field Salesforce confirmed, whatever value a CSM's later change gave it, or
a read that finds the value an unanswered write sent, unseen_landed). Events that come before
it keep what they found on the window (`hidden`), and the conflict is recorded when the write
lands. A write that does not land (the push gave up,
the CSM stopped syncing the task first) went over nothing and records nothing, unless it lands
later after all (a Retry, Sync again): then it went over the change. Once a window: its conflict
closes it, so replayed events find nothing more.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from tasks.bulk import rows_update
from tasks.models import Task, TaskSyncRecord

from .engine_config import Engine
from .locks import tasks_lock
from .merge import COCKPIT, Merge, same
from .models import Conflict, SyncEvent

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
    stamp: dt.datetime | None,
) -> bool:
    """Keep the windows of a read's merge on the record (not saved here); returns whether
    they changed. `seen_before`: the SystemModstamp Cockpit had seen before the read; `stamp`:
    the one of the version it merged. None when Salesforce committed nothing since the version
    Cockpit had seen: then there was nothing to miss."""
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
            "landed": False,  # Cockpit's write of `sent` (unseen_landed)
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
    once the write is agreed, the merge sees no change of Salesforce's in it any more. Whether
    Cockpit's write went over a known event's change is unseen_conflicts_record's to judge."""
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


@dataclass
class _Told:
    """What a batch of events' hidden changes write together."""

    conflicts: list[Conflict] = field(default_factory=list)
    events: list[SyncEvent] = field(default_factory=list)
    records: dict[int, TaskSyncRecord] = field(default_factory=dict)  # windows changed


def unseen_conflicts_record(engine: Engine, found: list[Unseen]) -> int:
    """Record each window's hidden change once, as a conflict Cockpit won, and close the
    window, where Cockpit's write of the window has landed; where it has not (yet), keep the
    hidden values on the window (`hidden`) for unseen_landed to record when it lands: a write
    the push gives up on, or of a task its CSM stopped syncing, went over nothing. Returns how
    many were recorded. The caller holds the lease (its fence)."""
    if not found:
        return 0
    task_ids = sorted({u.task_id for u in found})
    told = _Told()
    with transaction.atomic():
        tasks_lock(task_ids)  # the order every writer of a task takes
        records = {r.task_id: r for r in TaskSyncRecord.objects.filter(task_id__in=task_ids)}
        names = dict(Task.objects.filter(pk__in=task_ids).values_list("pk", "name"))
        for hidden in _per_window(found):
            record = records.get(hidden[0].task_id)
            if record is not None:  # else the task is gone
                _window_told(engine.labels, names.get(record.task_id, ""), record, hidden, told)
        rows_update(list(told.records.values()), ["unseen_windows"])
        Conflict.objects.bulk_create(told.conflicts)
        SyncEvent.objects.bulk_create(told.events)
    return len(told.conflicts)


def _window_told(
    labels: dict[str, str],
    task_name: str,
    record: TaskSyncRecord,
    hidden: list[Unseen],
    told: _Told,
) -> None:
    """One window's hidden changes, on the record as it is under its lock: recorded if
    Cockpit's write landed, else kept on the window."""
    windows = list(record.unseen_windows or [])
    at = next((i for i, w in enumerate(windows) if _key(w) == _key(hidden[0].window)), None)
    if at is None:
        return  # recorded already, or too old to keep
    window = windows[at]
    values = _distinct([*window.get("hidden", []), *(u.value for u in hidden)])
    if _landed(record, window):
        del windows[at]
        told.conflicts.append(_conflict(record, window))
        told.events.append(_event(labels, task_name, record, window, values))
    elif values != window.get("hidden", []):
        windows[at] = {**window, "hidden": values}
    else:
        return  # told already (a replay)
    record.unseen_windows = windows
    told.records[record.task_id] = record


def unseen_landed(
    record: TaskSyncRecord,
    unanswered: list[dict[str, Any]] | None = None,
    *,
    written: dict[str, dict[str, Any]] | None = None,
) -> tuple[bool, list[dict[str, Any]]]:
    """Cockpit's write of a window's field landed: mark the window (`landed`), so that a known
    event of it is recorded as it comes, and take off the record the windows whose hidden
    changes events told before. Two ways to know it landed:
    - `written`, a write Salesforce confirmed: the fields it wrote, each as {"sent": the value
      written, "cockpit": Cockpit's value}. A window of such a field lands whatever the value
      (a CSM's later change may have superseded the one the window was opened for: that write
      went over the hidden change all the same, and the window names what it wrote).
    - `unanswered`, for a merge's agreement: the writes of Cockpit's whose answer never came
      (sync/uncertain.py), as the record held them before. The window lands where the
      agreement holds the value it sent and one of those writes sent it (a Salesforce user may
      have set it herself).
    Returns whether the windows changed (the record is not saved here) and the windows taken
    off, for unseen_overwrites_record."""
    kept, overwritten = [], []
    for window in record.unseen_windows or []:
        if _landed(record, window):
            kept.append(window)
            continue
        if written is not None:
            if window["field"] not in written:
                kept.append(window)
                continue
            window = {**window, **written[window["field"]]}
        elif not _sent_agreed(record, window, unanswered):
            kept.append(window)
            continue
        if window.get("hidden"):
            overwritten.append(window)
        else:
            kept.append({**window, "landed": True})
    if kept == (record.unseen_windows or []):
        return False, []
    record.unseen_windows = kept
    return True, overwritten


def unseen_overwrites_record(
    labels: dict[str, str], overwritten: list[tuple[TaskSyncRecord, list[dict[str, Any]]]]
) -> None:
    """Record, once, the hidden changes of windows whose write landed (unseen_landed), as the
    conflicts Cockpit won. The caller holds the records' row locks."""
    overwritten = [(record, windows) for record, windows in overwritten if windows]
    if not overwritten:
        return
    task_ids = [record.task_id for record, _ in overwritten]
    names = dict(Task.objects.filter(pk__in=task_ids).values_list("pk", "name"))
    Conflict.objects.bulk_create([_conflict(r, w) for r, ws in overwritten for w in ws])
    SyncEvent.objects.bulk_create(
        [
            _event(labels, names.get(r.task_id, ""), r, w, w["hidden"])
            for r, ws in overwritten
            for w in ws
        ]
    )


def _landed(record: TaskSyncRecord, window: dict[str, Any]) -> bool:
    """Whether Cockpit's write of the window is known to have landed (unseen_landed marks it);
    a window kept before windows were marked is judged by the agreement."""
    if "landed" in window:
        return bool(window["landed"])
    return _sent_agreed(record, window, None)


def _sent_agreed(
    record: TaskSyncRecord, window: dict[str, Any], unanswered: list[dict[str, Any]] | None
) -> bool:
    """Whether the agreement holds the value the window sent (and, with `unanswered`, one of
    those writes sent it)."""
    name, sent = window["field"], window["sent"]
    if not same((record.agreed_values or {}).get(name), sent):
        return False
    return unanswered is None or any(
        name in w["values"] and same(w["values"][name], sent) for w in unanswered
    )


def _key(window: dict[str, Any]) -> tuple[str, str]:
    return window["field"], window["until"]


def _distinct(values: list[Any]) -> list[Any]:
    kept: list[Any] = []
    for value in values:
        if value not in kept:
            kept.append(value)
    return kept


def _per_window(found: list[Unseen]) -> list[list[Unseen]]:
    windows: dict[tuple[int, str, str], list[Unseen]] = {}
    for unseen in found:
        windows.setdefault((unseen.task_id, *_key(unseen.window)), []).append(unseen)
    return list(windows.values())


def _conflict(record: TaskSyncRecord, window: dict[str, Any]) -> Conflict:
    return Conflict(
        task_id=record.task_id,
        salesforce_id=str(record.salesforce_id),
        salesforce_field=window["field"],
        cockpit_value=window["cockpit"],
        salesforce_value=window["salesforce"],
        winner=COCKPIT,
        policy=UNSEEN,
    )


def _event(
    labels: dict[str, str],
    task_name: str,
    record: TaskSyncRecord,
    window: dict[str, Any],
    hidden: list[Any],
) -> SyncEvent:
    label = labels.get(window["field"], window["field"])
    values = ", ".join(f"'{v}'" for v in dict.fromkeys(str(v) for v in hidden))
    return SyncEvent(
        kind=SyncEvent.Kind.CONFLICT,
        task_id=record.task_id,
        salesforce_id=str(record.salesforce_id),
        message=f"'{task_name}': {label} changed on both sides: in Salesforce to {values} and "
        f"back to '{window['salesforce']}' before Cockpit read it, so Cockpit's "
        f"'{window['cockpit']}' was written over it; Salesforce's change events told later. "
        "Cockpit's value was kept.",
    )
