"""What a batch of merges leaves in the task's sync log: the conflicts (as rows and lines),
the Salesforce values Cockpit has no mapping for or refused, and what came in from Salesforce.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from tasks.custom_fields import refusal_text
from tasks.models import Task, TaskSyncRecord

from .engine_config import Engine
from .merge import Conflict as MergeConflict
from .merge import Merge
from .merge_items import MergeItem, Outcome
from .models import Conflict, SyncEvent

LATE_WRITE = "late_write"  # the "policy" of a conflict with a late write of our own
DIRECTION = "direction"  # ... and of a newly mapped one-way field's first values


@dataclass
class MergeLog:
    """The rows a batch of merges writes together."""

    now: dt.datetime
    events: list[SyncEvent] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    records: list[TaskSyncRecord] = field(default_factory=list)  # the changed sync records
    # Windows whose hidden changes Cockpit's write, now agreed, went over (sync/unseen.py).
    overwritten: list[tuple[TaskSyncRecord, list[dict[str, Any]]]] = field(default_factory=list)


def merge_settled(
    outcome: Outcome, refusal: ValidationError | None, log: MergeLog, task: Task, item: MergeItem
) -> None:
    """Whether Salesforce's values reached the task. Cockpit may refuse them (too long, say):
    it keeps its own, the refusal is logged once, and Salesforce's value counts as seen so it
    is not refused again every pull."""
    result = outcome.merged
    if refusal is None:
        outcome.changed_cockpit = bool(result.to_cockpit)
        return
    for name in result.to_cockpit:
        result.base_ck.pop(name, None)
    result.to_cockpit.clear()
    log.events.append(
        SyncEvent(
            kind=SyncEvent.Kind.ERROR,
            task_id=task.pk,
            salesforce_id=item.salesforce_id,
            message=f"Salesforce values refused by Cockpit: {refusal_text(refusal)}",
        )
    )


def merge_logged(
    engine: Engine, task: Task, salesforce_id: str, outcome: Outcome, log: MergeLog
) -> None:
    """A merge's conflicts, skipped values and what it brought in, for the task's sync log."""
    log.conflicts += _conflict_rows(engine, task, salesforce_id, outcome.merged, log.events)
    log.events += _skip_events(engine, task.pk, salesforce_id, outcome.merged)
    if outcome.changed_cockpit:
        log.events.append(_pulled_event(engine, task, salesforce_id, outcome.merged))


def _conflict_rows(
    engine: Engine, task: Task, salesforce_id: str, result: Merge, events: list[SyncEvent]
) -> list[Conflict]:
    """The merge's conflicts as rows, each with its line in the task's sync log."""
    rows = []
    for conflict in result.conflicts:
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
        events.append(
            SyncEvent(
                kind=SyncEvent.Kind.CONFLICT,
                task_id=task.pk,
                salesforce_id=salesforce_id,
                message=_conflict_message(engine, task, conflict),
            )
        )
    return rows


def _conflict_message(engine: Engine, task: Task, conflict: MergeConflict) -> str:
    label = engine.labels.get(conflict.salesforce_field, conflict.salesforce_field)
    ours, theirs = conflict.cockpit_value, conflict.salesforce_value
    if conflict.late_write:
        return (
            f"'{task.name}': a slow, older write of Cockpit's {label} ('{theirs}') reached "
            f"Salesforce after a newer one; Cockpit's '{ours}' was written again. A Salesforce "
            f"edit of the {label} made just before it would have been overwritten."
        )
    if conflict.by_direction:
        return (
            f"'{task.name}': {label}, newly mapped one way, differed ('{ours}' in Cockpit, "
            f"'{theirs}' in Salesforce): {conflict.winner}, the side it syncs from, wins."
        )
    return (
        f"'{task.name}': {label} changed on both sides ('{ours}' in Cockpit, '{theirs}' in "
        f"Salesforce): {conflict.winner} wins ({engine.settings.get_conflict_policy_display()})."
    )


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


def _pulled_event(engine: Engine, task: Task, salesforce_id: str, result: Merge) -> SyncEvent:
    return SyncEvent(
        kind=SyncEvent.Kind.PULLED,
        task_id=task.pk,
        salesforce_id=salesforce_id,
        message=f"'{task.name}' updated from Salesforce: "
        + ", ".join(sorted(engine.labels.get(n, n) for n in result.to_cockpit)),
    )
