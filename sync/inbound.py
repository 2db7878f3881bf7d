"""Inbound sync: Salesforce changes and deletions → Cockpit tasks (DESIGN section 3).

One pull reads every Task changed since the watermark with SOQL, 2,000 a page (rule 10), and the
deletions of the recycle-bin window with getDeleted (rule 4). Each record is merged field by
field against the values both sides last agreed on (rule 8); a push's own echo changes nothing
(rule 7); a Salesforce picklist value with no mapping is skipped and logged (rule 5).
"""

import datetime as dt
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from adminconfig.models import SalesforceConnection, SyncSettings, UserMapping
from tasks import services as task_services
from tasks.models import Company, Priority, Status, Task, TaskSyncRecord

from . import outbound
from .client import AuthError, SalesforceClient, SalesforceError, soql_ids
from .clients import client_for_connection
from .config import mapping_spec_load
from .context import applying_inbound
from .mapping import MappingSpec, from_salesforce, sf_datetime_format, sf_datetime_parse
from .models import Conflict, PullState, SyncEvent
from .selectors import sync_settings

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=10)
PULL_TICK_SLACK = dt.timedelta(seconds=3)
BUDGET_PULL_INTERVAL = dt.timedelta(minutes=15)
# Salesforce keeps deleted records 15 days; getDeleted refuses a start further back.
RECYCLE_BIN = dt.timedelta(days=15)
BASE_FIELDS = (
    "Id",
    "IsDeleted",
    "OwnerId",
    "WhatId",
    "Status",
    "Priority",
    "SystemModstamp",
    "LastModifiedDate",
)
MERGED_LOOKUPS = ("OwnerId", "WhatId")


@dataclass
class PullResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: int = 0
    conflicts: int = 0
    api_calls: int = 0
    ran: bool = True
    errors: list[str] = field(default_factory=list)


def inbound_connection(settings: SyncSettings) -> SalesforceConnection | None:
    if not (settings.auto_sync and settings.bidirectional_sync):
        return None
    return (
        SalesforceConnection.objects.filter(is_primary=True)
        .exclude(state=SalesforceConnection.State.PAUSED)
        .first()
    )


def pull_due() -> bool:
    settings = sync_settings()
    state = PullState.objects.filter(pk=1).first()
    if inbound_connection(settings) is None:
        return False
    if state is None or state.last_pull_at is None:
        return True
    connection = inbound_connection(settings)
    if (
        connection
        and connection.push_paused_until
        and connection.push_paused_until > timezone.now()
    ):
        # Near the org's limit or past Cockpit's budget: pull, but rarely.
        return state.last_pull_at + BUDGET_PULL_INTERVAL <= timezone.now()
    # Beat ticks every 10 s and lands a little early or late; without the slack a tick just
    # short of the interval is skipped and every pull waits a whole extra tick.
    interval = dt.timedelta(seconds=settings.pull_interval_seconds) - PULL_TICK_SLACK
    return state.last_pull_at + interval <= timezone.now()


# ---- the lease: one puller across all machines, without holding a transaction -------------


def _lease_acquire() -> str | None:
    PullState.objects.get_or_create(pk=1)
    now = timezone.now()
    token = secrets.token_hex(8)
    won = (
        PullState.objects.filter(pk=1)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + LEASE, lock_token=token)
    )
    return token if won else None


def _lease_release(token: str, **changes: Any) -> None:
    PullState.objects.filter(pk=1, lock_token=token).update(locked_until=None, **changes)


# ---- the pull ------------------------------------------------------------------------------


def pull_run(*, force: bool = False) -> PullResult:
    """Pull Salesforce changes now (force) or when the configured interval has passed."""
    settings = sync_settings()
    connection = inbound_connection(settings)
    if connection is None or not (force or pull_due()):
        return PullResult(ran=False)
    token = _lease_acquire()
    if token is None:
        return PullResult(ran=False)  # another worker is pulling right now
    state = PullState.objects.get(pk=1)
    result = PullResult()
    client = client_for_connection(connection)
    calls_before = client.calls
    started = timezone.now()
    try:
        since = state.watermark or started - dt.timedelta(hours=settings.initial_import_hours)
        watermark = _pull_changes(connection, settings, client, since, result)
        deleted_until = _pull_deletions(connection, settings, client, state, started, result)
    except SalesforceError as exc:
        result.errors.append(str(exc))
        if isinstance(exc, AuthError):
            SalesforceConnection.objects.filter(pk=connection.pk).update(
                state=SalesforceConnection.State.UNAUTHORIZED, last_error=str(exc)
            )
        SyncEvent.objects.create(kind=SyncEvent.Kind.ERROR, message=f"Pull failed: {exc}")
        _lease_release(token, last_error=str(exc), last_pull_at=started)
        result.api_calls = client.calls - calls_before
        return result
    outbound.api_usage_record(connection, client.api_usage, calls=client.calls - calls_before)
    _lease_release(
        token,
        watermark=watermark or state.watermark or since,
        deleted_until=deleted_until,
        last_pull_at=started,
        last_error="",
    )
    result.api_calls = client.calls - calls_before
    return result


def _select_fields(connection: SalesforceConnection, spec: MappingSpec) -> list[str]:
    names = list(BASE_FIELDS)
    for rule in spec.fields:
        if rule.salesforce_field not in names:
            names.append(rule.salesforce_field)
    described = {f["name"] for f in (connection.task_describe or {}).get("fields", [])}
    if connection.external_id_field in described:
        names.append(connection.external_id_field)
    return names


def _pull_changes(
    connection: SalesforceConnection,
    settings: SyncSettings,
    client: SalesforceClient,
    since: dt.datetime,
    result: PullResult,
) -> dt.datetime | None:
    spec = mapping_spec_load(connection)
    owners = dict(UserMapping.objects.values_list("salesforce_user_id", "user_id"))
    if not owners:
        return None  # only tasks of mapped owners sync; nobody is mapped yet
    owner_list = soql_ids(sorted(owners))
    soql = (
        f"SELECT {', '.join(_select_fields(connection, spec))} FROM Task "  # noqa: S608 - ids validated
        f"WHERE SystemModstamp >= {sf_datetime_format(since).replace('.000+0000', 'Z')} "
        f"AND OwnerId IN ({owner_list}) ORDER BY SystemModstamp ASC"
    )
    watermark: dt.datetime | None = None
    context = _Context(connection=connection, settings=settings, spec=spec, owners=owners)
    # queryAll: deletions come with the changes (IsDeleted, from the recycle bin), so a
    # Salesforce delete reaches Cockpit at the next pull; getDeleted below covers the rest.
    for page in client.query_pages(soql, include_deleted=True):
        context.load(page, client)
        for record in page:
            if not record.get("IsDeleted"):
                _apply_record(record, context, result)
            stamp = sf_datetime_parse(record["SystemModstamp"])
            watermark = max(watermark, stamp) if watermark else stamp
        _apply_deletions([r["Id"] for r in page if r.get("IsDeleted")], result)
    return watermark


def _pull_deletions(
    connection: SalesforceConnection,
    settings: SyncSettings,
    client: SalesforceClient,
    state: PullState,
    now: dt.datetime,
    result: PullResult,
) -> dt.datetime | None:
    window = min(dt.timedelta(days=settings.deletion_window_days), RECYCLE_BIN)
    # Also after sync was off for a while: everything the window still holds.
    start = max(state.deleted_until or now - window, now - window + dt.timedelta(minutes=1))
    if now - start < dt.timedelta(minutes=1):
        return state.deleted_until  # getDeleted works in whole minutes
    answer = client.deleted("Task", start, now)
    _apply_deletions([d["id"] for d in answer.get("deletedRecords", [])], result)
    covered = answer.get("latestDateCovered")
    return sf_datetime_parse(covered) if covered else now


def _apply_deletions(ids: list[str], result: PullResult) -> None:
    linked = dict(
        TaskSyncRecord.objects.filter(salesforce_id__in=ids).values_list("task_id", "salesforce_id")
    )
    if not linked:
        return
    with applying_inbound():
        task_services.task_delete_many(task_ids=list(linked))
    SyncEvent.objects.bulk_create(
        SyncEvent(
            kind=SyncEvent.Kind.DELETED,
            task_id=task_id,
            salesforce_id=salesforce_id,
            message="Deleted in Salesforce, deleted in Cockpit",
        )
        for task_id, salesforce_id in linked.items()
    )
    result.deleted += len(linked)


# ---- one record ----------------------------------------------------------------------------


@dataclass
class _Context:
    connection: SalesforceConnection
    settings: SyncSettings
    spec: MappingSpec
    owners: dict[str, int]  # Salesforce user id → Cockpit user id
    records: dict[str, TaskSyncRecord] = field(default_factory=dict)
    by_external_id: dict[str, TaskSyncRecord] = field(default_factory=dict)
    companies: dict[str, Company] = field(default_factory=dict)
    statuses: dict[str, Status] = field(default_factory=dict)
    priorities: dict[str, Priority] = field(default_factory=dict)
    users: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.statuses = {s.value: s for s in Status.objects.all()}
        self.priorities = {p.value: p for p in Priority.objects.all()}
        user_model = Task._meta.get_field("owner").related_model
        self.users = {u.pk: u for u in user_model.objects.filter(pk__in=self.owners.values())}

    def load(self, page: list[dict[str, Any]], client: SalesforceClient) -> None:
        """Everything a page needs in three queries, not three per record."""
        ids = [r["Id"] for r in page]
        self.records = {
            r.salesforce_id: r
            for r in TaskSyncRecord.objects.select_related(
                "task__status", "task__priority", "task__owner", "task__company"
            ).filter(salesforce_id__in=ids)
        }
        ext = self.connection.external_id_field
        our_ids = {
            int(r[ext].removeprefix("cockpit-")): r["Id"]
            for r in page
            if r.get(ext, "") and str(r[ext]).startswith("cockpit-") and r["Id"] not in self.records
        }
        self.by_external_id = {}
        for task in Task.objects.select_related("status", "priority", "owner", "company").filter(
            pk__in=our_ids
        ):
            record, _ = TaskSyncRecord.objects.get_or_create(task=task)
            record.task = task
            self.by_external_id[our_ids[task.pk]] = record
        what_ids = {r["WhatId"] for r in page if r.get("WhatId")}
        self.companies = {
            c.salesforce_account_id: c
            for c in Company.objects.filter(salesforce_account_id__in=what_ids)
        }
        unknown = what_ids - set(self.companies)
        accounts = [i for i in unknown if i.startswith("001")]
        if accounts:
            soql = f"SELECT Id, Name FROM Account WHERE Id IN ({soql_ids(accounts)})"  # noqa: S608
            rows = client.call("query", soql)
            for row in rows["records"]:
                company, _ = Company.objects.get_or_create(
                    salesforce_account_id=row["Id"], defaults={"name": _company_name(row)}
                )
                self.companies[row["Id"]] = company

    def record_for(self, salesforce_id: str) -> TaskSyncRecord | None:
        return self.records.get(salesforce_id) or self.by_external_id.get(salesforce_id)


def _company_name(account: dict[str, Any]) -> str:
    name = account.get("Name") or account["Id"]
    if Company.objects.filter(name=name).exists():
        return f"{name} ({account['Id']})"
    return name


def _same(a: Any, b: Any) -> bool:
    if a in ("", None) and b in ("", None):
        return True
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b


def _salesforce_values(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {name: record.get(name) for name in fields}


def _merged_fields(spec: MappingSpec) -> list[str]:
    """Salesforce fields that flow in: mapped inbound fields, picklists and lookups."""
    names = [r.salesforce_field for r in spec.fields if r.comes_in]
    return [*names, spec.status.salesforce_field, spec.priority.salesforce_field, *MERGED_LOOKUPS]


def _apply_record(record: dict[str, Any], ctx: _Context, result: PullResult) -> None:
    fields = _merged_fields(ctx.spec)
    theirs = _salesforce_values(record, fields)
    sync_record = ctx.record_for(record["Id"])
    try:
        if sync_record is None:
            _create_task(record, theirs, ctx, result)
        else:
            _merge_task(record, theirs, sync_record, ctx, result)
    except ValidationError as exc:
        result.skipped += 1
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.ERROR,
            salesforce_id=record["Id"],
            task_id=sync_record.task_id if sync_record else None,
            message=f"Salesforce values refused by Cockpit: {exc.messages}",
        )


def _changes_from(
    sub_record: dict[str, Any], ctx: _Context, salesforce_id: str, task_id: int | None
) -> tuple[dict[str, Any], list[str]]:
    """Cockpit task changes for these Salesforce values; the fields that could not sync."""
    inbound = from_salesforce(sub_record, ctx.spec)
    changes: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in inbound.values.items():
        if name == "status":
            changes["status"] = ctx.statuses[value]
        elif name == "priority":
            changes["priority"] = ctx.priorities[value]
        elif name.startswith("custom:"):
            custom[name.removeprefix("custom:")] = value
        elif name in ("name", "details", "due_date"):
            changes[name] = value
    if custom:
        changes["custom_fields"] = custom
    skipped = []
    for skip in inbound.skipped:
        skipped.append(skip.salesforce_field)
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.SKIPPED,
            task_id=task_id,
            salesforce_id=salesforce_id,
            message=f"Salesforce {skip.salesforce_field} '{skip.salesforce_value}' has no Cockpit "
            f"value mapped: the Cockpit {skip.cockpit_field} keeps its value.",
        )
    if "OwnerId" in sub_record:
        user_id = ctx.owners.get(sub_record["OwnerId"])
        if user_id:
            changes["owner"] = ctx.users[user_id]
        else:
            skipped.append("OwnerId")
    if "WhatId" in sub_record:
        what = sub_record["WhatId"]
        changes["company"] = ctx.companies.get(what) if what else None
    return changes, skipped


def _create_task(
    record: dict[str, Any], theirs: dict[str, Any], ctx: _Context, result: PullResult
) -> None:
    changes, skipped = _changes_from(theirs, ctx, record["Id"], None)
    owner = changes.pop("owner", None)
    if owner is None:
        result.skipped += 1
        return
    name = changes.pop("name", "") or "(no subject)"
    with transaction.atomic(), applying_inbound():
        task = task_services.task_create(owner=owner, name=name[:255], **changes)
        TaskSyncRecord.objects.create(
            task=task,
            salesforce_id=record["Id"],
            state=TaskSyncRecord.State.SYNCED,
            last_synced_at=timezone.now(),
            agreed_values={k: v for k, v in theirs.items() if k not in skipped},
        )
    result.created += 1
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.PULLED,
        task_id=task.pk,
        salesforce_id=record["Id"],
        message="Created from Salesforce",
    )


def _merge_task(
    record: dict[str, Any],
    theirs: dict[str, Any],
    sync_record: TaskSyncRecord,
    ctx: _Context,
    result: PullResult,
) -> None:
    task = sync_record.task
    base = sync_record.agreed_values or {}
    owners_out = {user_id: sf_id for sf_id, user_id in ctx.owners.items()}
    ours_payload, _ = outbound.task_payload(task, ctx.spec, owners_out, ctx.connection)
    # No payload (the owner lost their Salesforce user): Cockpit's side is unknown, so it is
    # taken as unchanged rather than as a clash on every field.
    ours = ours_payload if ours_payload is not None else dict(base)
    outgoing = {r.salesforce_field for r in ctx.spec.fields if r.goes_out} | {
        ctx.spec.status.salesforce_field,
        ctx.spec.priority.salesforce_field,
        *MERGED_LOOKUPS,
    }
    apply: dict[str, Any] = {}
    agreed = dict(base)
    keep_ours = False
    for name, their_value in theirs.items():
        base_value = base.get(name)
        our_value = ours.get(name) if name in outgoing else base_value
        if not base:
            base_value = our_value  # linked without agreed values (a lost push answer)
        if _same(their_value, base_value):
            continue  # Salesforce did not change it (or this is our own push's echo)
        if _same(our_value, base_value) or _same(our_value, their_value):
            apply[name] = their_value
            continue
        winner = _conflict_winner(record, task, ctx.settings)
        Conflict.objects.create(
            task_id=task.pk,
            salesforce_id=record["Id"],
            salesforce_field=name,
            cockpit_value=our_value,
            salesforce_value=their_value,
            winner=winner,
            policy=ctx.settings.conflict_policy,
        )
        SyncEvent.objects.create(
            kind=SyncEvent.Kind.CONFLICT,
            task_id=task.pk,
            salesforce_id=record["Id"],
            message=f"{name} changed on both sides ('{our_value}' in Cockpit, '{their_value}' in "
            f"Salesforce): {winner} wins ({ctx.settings.get_conflict_policy_display()}).",
        )
        result.conflicts += 1
        if winner == "salesforce":
            apply[name] = their_value
        else:
            keep_ours = True
    if sync_record.salesforce_id != record["Id"]:
        sync_record.salesforce_id = record["Id"]
    if not apply:
        result.unchanged += 1
        if keep_ours:
            outbound.task_change_record(task=task, force=True)
        TaskSyncRecord.objects.filter(pk=sync_record.pk).update(salesforce_id=record["Id"])
        return
    changes, skipped = _changes_from(apply, ctx, record["Id"], task.pk)
    for name, value in apply.items():
        if name not in skipped:
            agreed[name] = value
    with transaction.atomic():
        with applying_inbound():
            if changes:
                task_services.task_update(task=task, **changes)
            TaskSyncRecord.objects.filter(pk=sync_record.pk).update(
                salesforce_id=record["Id"],
                state=TaskSyncRecord.State.SYNCED,
                last_synced_at=timezone.now(),
                last_error="",
                agreed_values=agreed,
            )
        if keep_ours:
            outbound.task_change_record(task=task, force=True)  # Cockpit's value goes back out
    result.updated += 1
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.PULLED,
        task_id=task.pk,
        salesforce_id=record["Id"],
        message="Updated from Salesforce: " + ", ".join(sorted(apply)),
    )


def _conflict_winner(record: dict[str, Any], task: Task, settings: SyncSettings) -> str:
    policy = settings.conflict_policy
    if policy == SyncSettings.ConflictPolicy.SALESFORCE:
        return "salesforce"
    if policy == SyncSettings.ConflictPolicy.COCKPIT:
        return "cockpit"
    changed_in_salesforce = sf_datetime_parse(
        record.get("LastModifiedDate") or record["SystemModstamp"]
    )
    return "salesforce" if changed_in_salesforce >= task.updated_at else "cockpit"
