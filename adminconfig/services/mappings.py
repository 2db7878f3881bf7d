"""Field and picklist mappings: defaults, validation shared by admin and API, and re-sync."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction

from tasks.models import Priority, Status, TaskSyncRecord, TaskType

from .. import hooks
from ..fields import (
    cockpit_fields,
    describe_field,
    field_mapping_problem,
    picklist_problems,
    picklist_values,
)
from ..models import FieldMapping, PicklistMapping, ResyncRun, SalesforceConnection

T = TypeVar("T")

# DESIGN section 2: the mapping a new connection starts with.
DEFAULT_FIELDS = [
    ("name", "Subject"),
    ("due_date", "ActivityDate"),
    ("details", "Description"),
]
DEFAULT_PICKLISTS = {
    PicklistMapping.Picklist.STATUS: [
        ("Open", ["Not Started"]),
        ("In Progress", ["In Progress"]),
        ("Complete", ["Completed"]),
    ],
    PicklistMapping.Picklist.PRIORITY: [
        ("Low", ["Low"]),
        ("Medium", ["Normal"]),
        ("High", ["High"]),
    ],
    # A type with no row (Follow-up) is sent as no Type: Salesforce's Type may be empty.
    PicklistMapping.Picklist.TYPE: [
        ("Call", ["Call"]),
        ("Email", ["Email"]),
        ("Meeting", ["Meeting"]),
    ],
}


def mappings_create_defaults(*, connection: SalesforceConnection) -> None:
    if not connection.field_mappings.exists():
        FieldMapping.objects.bulk_create(
            FieldMapping(connection=connection, cockpit_field=c, salesforce_field=s, order=i)
            for i, (c, s) in enumerate(DEFAULT_FIELDS)
        )
    if not connection.picklist_mappings.exists():
        existing = {
            picklist: set(picklist_cockpit_values(picklist)) for picklist in DEFAULT_PICKLISTS
        }
        PicklistMapping.objects.bulk_create(
            PicklistMapping(
                connection=connection, picklist=picklist, cockpit_value=c, salesforce_values=s
            )
            for picklist, rows in DEFAULT_PICKLISTS.items()
            for c, s in rows
            if c in existing[picklist]
        )


def field_mapping_check(
    *,
    connection: SalesforceConnection,
    cockpit_field: str,
    salesforce_field: str,
    direction: str,
) -> None:
    """Raise ValidationError keyed by form field when the mapping is not allowed (rule 6)."""
    describe = connection.task_describe or {}
    if not describe:
        raise ValidationError(
            {
                "salesforce_field": "The Salesforce Task fields are not known yet: use "
                "'Test connection' to read them from the org first."
            }
        )
    problem = field_mapping_problem(
        cockpit=cockpit_fields().get(cockpit_field),
        cockpit_name=cockpit_field,
        salesforce=describe_field(describe, salesforce_field),
        salesforce_name=salesforce_field,
        goes_out=direction in (FieldMapping.Direction.BOTH, FieldMapping.Direction.TO_SALESFORCE),
        comes_in=direction in (FieldMapping.Direction.BOTH, FieldMapping.Direction.FROM_SALESFORCE),
        external_id_field=connection.external_id_field,
    )
    if problem:
        raise ValidationError({problem[0]: problem[1]})


def field_mappings_check_unique(rows: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """(row index, form field, message) for a Cockpit or Salesforce field mapped twice."""
    problems = []
    known = cockpit_fields()
    seen_sf: dict[str, int] = {}
    seen_cockpit: dict[str, int] = {}
    for index, (cockpit_field, salesforce_field) in enumerate(rows):
        if salesforce_field in seen_sf:
            problems.append(
                (index, "salesforce_field", f"Salesforce field {salesforce_field} is mapped twice.")
            )
        if cockpit_field in seen_cockpit:
            label = known[cockpit_field].label if cockpit_field in known else cockpit_field
            problems.append(
                (
                    index,
                    "cockpit_field",
                    f"Cockpit field {label} ({cockpit_field}) is mapped twice.",
                )
            )
        seen_sf.setdefault(salesforce_field, index)
        seen_cockpit.setdefault(cockpit_field, index)
    return problems


def _check_against_others(mapping: FieldMapping) -> None:
    others = FieldMapping.objects.filter(connection=mapping.connection).exclude(pk=mapping.pk)
    rows = [(o.cockpit_field, o.salesforce_field) for o in others]
    rows.append((mapping.cockpit_field, mapping.salesforce_field))
    for index, field, message in field_mappings_check_unique(rows):
        if index == len(rows) - 1:
            raise ValidationError({field: message})


@transaction.atomic
def field_mapping_save(
    *,
    connection: SalesforceConnection,
    cockpit_field: str,
    salesforce_field: str,
    direction: str = FieldMapping.Direction.BOTH,
    editable: bool = True,
    mapping: FieldMapping | None = None,
    resync: bool = True,
) -> FieldMapping:
    """Create (mapping=None) or change a field mapping, then re-sync the synced tasks."""
    field_mapping_check(
        connection=connection,
        cockpit_field=cockpit_field,
        salesforce_field=salesforce_field,
        direction=direction,
    )
    mapping = mapping or FieldMapping(connection=connection)
    mapping.connection = connection
    mapping.cockpit_field = cockpit_field
    mapping.salesforce_field = salesforce_field
    mapping.direction = direction
    mapping.editable = editable
    _check_against_others(mapping)
    mapping.save()
    if resync:
        resync_start(connection=connection, reason=f"Field mapping {mapping} saved")
    return mapping


@transaction.atomic
def field_mapping_delete(*, mapping: FieldMapping, resync: bool = True) -> None:
    connection = mapping.connection
    label = str(mapping)
    mapping.delete()
    if resync:
        resync_start(connection=connection, reason=f"Field mapping {label} removed")


def picklist_cockpit_values(picklist: str) -> list[str]:
    """The Cockpit values a picklist mapping maps: statuses, priorities, or task types."""
    if picklist == PicklistMapping.Picklist.STATUS:
        return list(Status.objects.values_list("value", flat=True))
    if picklist == PicklistMapping.Picklist.PRIORITY:
        return list(Priority.objects.values_list("value", flat=True))
    return list(TaskType.objects.values_list("name", flat=True))


def _picklist_context(connection: SalesforceConnection, picklist: str) -> dict[str, Any]:
    cockpit_values = picklist_cockpit_values(picklist)
    sf_field = PicklistMapping.Picklist(picklist).label
    describe = connection.task_describe or {}
    return {
        "cockpit_values": cockpit_values,
        "salesforce_values": picklist_values(describe, sf_field) if describe else None,
        "picklist_label": sf_field.lower(),
    }


def picklist_rows_check(
    *, connection: SalesforceConnection, picklist: str, rows: list[tuple[str, list[str]]]
) -> list[tuple[int, str, str]]:
    """Problems of the whole proposed mapping of one picklist, as (row index, form field,
    message)."""
    return picklist_problems(rows=rows, **_picklist_context(connection, picklist))


@transaction.atomic
def picklist_mapping_save(
    *,
    connection: SalesforceConnection,
    picklist: str,
    cockpit_value: str,
    salesforce_values: list[str],
    mapping: PicklistMapping | None = None,
    resync: bool = True,
) -> PicklistMapping:
    others = PicklistMapping.objects.filter(connection=connection, picklist=picklist)
    if mapping is not None:
        others = others.exclude(pk=mapping.pk)
    rows = [(o.cockpit_value, list(o.salesforce_values)) for o in others]
    rows.append((cockpit_value, list(salesforce_values)))
    messages: dict[str, list[str]] = {}
    for i, field, message in picklist_rows_check(
        connection=connection, picklist=picklist, rows=rows
    ):
        if i == len(rows) - 1:
            messages.setdefault(field, []).append(message)
    if messages:
        raise ValidationError(messages)
    mapping = mapping or PicklistMapping()
    mapping.connection = connection
    mapping.picklist = picklist
    mapping.cockpit_value = cockpit_value
    mapping.salesforce_values = list(salesforce_values)
    mapping.save()
    if resync:
        resync_start(
            connection=connection, reason=f"{mapping.get_picklist_display()} mapping saved"
        )
    return mapping


@transaction.atomic
def picklist_mapping_delete(*, mapping: PicklistMapping, resync: bool = True) -> None:
    connection = mapping.connection
    mapping.delete()
    if resync:
        resync_start(
            connection=connection, reason=f"{mapping.get_picklist_display()} mapping removed"
        )


def resync_preview(*, connection: SalesforceConnection) -> hooks.ResyncPreview:
    """What re-syncing under the mapping now stored would write to Salesforce (counted by
    the engine's merge). To preview an unsaved change, save it in a transaction, call this,
    and roll the transaction back."""
    return hooks.engine().resync_preview(connection)


class _Previewed(Exception):
    def __init__(self, result: Any, preview: hooks.ResyncPreview):
        super().__init__("preview only")
        self.result, self.preview = result, preview


def mapping_change_preview(*, change: Callable[[], T]) -> tuple[T, hooks.ResyncPreview]:
    """Make a mapping change (`change` calls the mapping services with resync=False), count
    what re-syncing the primary connection's tasks under it would write, exactly as the
    admin's save preview counts, and roll it all back: nothing of the change stays. Returns
    what `change` returned and the count; the change's refusals raise as a save's would."""
    try:
        with transaction.atomic():
            result = change()
            primary = SalesforceConnection.objects.filter(is_primary=True).first()
            preview = (
                resync_preview(connection=primary)
                if primary is not None
                else hooks.ResyncPreview(total=0, written=0)
            )
            raise _Previewed(result, preview)
    except _Previewed as previewed:
        return previewed.result, previewed.preview


def resync_start(*, connection: SalesforceConnection, reason: str) -> ResyncRun:
    """Start re-syncing every synced task with the new mapping (only the primary syncs).

    The run is created now; the engine starts after commit and counts progress on it. With no
    synced task the run is finished at once.
    """
    from django.utils import timezone

    total = (
        TaskSyncRecord.objects.exclude(salesforce_id=None).count() if connection.is_primary else 0
    )
    run = ResyncRun.objects.create(connection=connection, reason=reason[:200], total=total)
    if total == 0:
        ResyncRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
        run.finished_at = timezone.now()
    else:
        hooks.engine().resync_start(run.pk)
    return run
