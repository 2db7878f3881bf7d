"""Inbound sync: Salesforce changes and deletions → Cockpit tasks (DESIGN section 3).

One pull reads every Task changed since the watermark with SOQL, 2,000 a page (rule 10), and the
deletions of the recycle-bin window with getDeleted (rule 4). Each record is merged field by
field against the values both sides last agreed on (rule 8); a push's own echo changes nothing
(rule 7); a Salesforce picklist value with no mapping is skipped and logged (rule 5).
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from adminconfig.models import SalesforceConnection, SyncSettings
from tasks import services as task_services
from tasks.models import Company, Task, TaskSyncRecord

from . import outbox, telemetry, usage
from .accounts import accounts_load
from .agreement import agreement_marked
from .client import AuthError, SalesforceClient, SalesforceError, soql_ids
from .client_cache import client_for_connection
from .context import applying_inbound
from .engine_config import Engine, engine_load
from .external_ids import task_id_of
from .lease import LeaseLostError, lease_fence, lease_hold
from .mapping import sf_datetime_format, sf_datetime_parse
from .merge import SKIP
from .models import OutboxEntry, PullState, SyncEvent
from .outages import outage_end
from .payload import COMPANY, OWNER, task_changes, task_values
from .record_fields import STAMP_FIELDS, select_fields
from .selectors import inbound_connection, stream_live, sync_settings
from .sf_types import TASK_SOBJECT
from .stamps import stamp_settled
from .tombstones import tombstones_for, twins_deleted_in_salesforce
from .twins import MergeItem, twins_merge_many
from .uncertain import first_push_base

log = logging.getLogger(__name__)

LEASE_WAIT = 30.0  # seconds a forced pull waits for a running push
PULL_TICK_SLACK = dt.timedelta(seconds=3)
BUDGET_PULL_INTERVAL = dt.timedelta(minutes=15)
# Salesforce keeps deleted records 15 days; getDeleted refuses a start further back.
RECYCLE_BIN = dt.timedelta(days=15)
# A pull interleaved with change events (the listener's catch-up) applies its pages this many
# records at a time and lets the events waiting go first between two such chunks.
INTERLEAVE_CHUNK = 200


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
    error_kinds: list[str] = field(default_factory=list)  # of the errors (sync/failures.py)


class Interleaved(Protocol):
    """What a pull lets run between its chunks: the change-event listener catching up, whose
    events keep arriving in seconds while the pull re-reads minutes (sync/stream.py)."""

    def between(self, read_at: dt.datetime | None) -> None:
        """Apply the change events that are waiting (under this pull's lease). `read_at`:
        when the pull's query began reading at the latest (Salesforce's clock), so what it
        reads holds every change committed well before (sync/stamps.py, SETTLED_AFTER)."""

    def streamed(self) -> set[str]:
        """The records (Salesforce Ids) a change event was applied to since this pull began.
        The stream brings each of them from there on: every later change of the record comes
        as a later event. What the pull read of them is that version, an older one (read
        before the event's commit), or a newer one whose event is on its way, so the pull
        leaves them alone; applied, an older copy would undo the event."""


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
        and usage.push_pause_holds(connection)
    ):
        # Near the org's limit or past Cockpit's budget: pull, but rarely. (A pause whose
        # figures no longer call for it, an admin raised the budget say, slows nothing.)
        return state.last_pull_at + BUDGET_PULL_INTERVAL <= timezone.now()
    seconds = settings.pull_interval_seconds
    if stream_live():
        # Change events bring Salesforce's changes in seconds; the pull is the safety net.
        seconds = max(seconds, django_settings.SYNC_STREAM_SAFETY_PULL_SECONDS)
    # Beat ticks every 10 s and lands a little early or late; without the slack a tick just
    # short of the interval is skipped and every pull waits a whole extra tick.
    interval = dt.timedelta(seconds=seconds) - PULL_TICK_SLACK
    return state.last_pull_at + interval <= timezone.now()


# ---- the pull ------------------------------------------------------------------------------


@telemetry.step("pull")
def pull_run(*, force: bool = False, interleaved: Interleaved | None = None) -> PullResult:
    """Pull Salesforce changes now (force) or when the configured interval has passed;
    `interleaved`: work to run between the chunks of the pages, under this pull's lease."""
    settings = sync_settings()
    connection = inbound_connection(settings)
    if connection is None or not (force or pull_due()):
        return PullResult(ran=False)
    # A forced pull (first import, the admin's button) waits for a running push to finish.
    with lease_hold(wait=LEASE_WAIT if force else 0) as held:
        if not held:
            return PullResult(ran=False)  # another worker is pulling or pushing right now
        try:
            return _pull(connection, settings, interleaved)
        except LeaseLostError as exc:
            # Stalled past the lease and another worker took over: the pages applied so far
            # stand (each applied whole, under the fence), the watermark is not moved, and
            # the pull counts as not run, so a catch-up that needed it is still owed.
            return PullResult(ran=False, errors=[f"Pull stopped: {exc}"])


def _pull(
    connection: SalesforceConnection, settings: SyncSettings, interleaved: Interleaved | None
) -> PullResult:
    state, _ = PullState.objects.get_or_create(pk=1)
    result = PullResult()
    started = timezone.now()
    calls_before = 0
    client: SalesforceClient | None = None
    try:
        client = client_for_connection(connection)
        calls_before = client.calls
        if state.watermark:
            # Salesforce stamps to the second, gives one stamp to a whole transaction and can
            # show a record after records with later stamps: read again behind the newest
            # change seen. A record read twice that nothing changed is a no-op.
            since = state.watermark - dt.timedelta(
                seconds=django_settings.SYNC_PULL_OVERLAP_SECONDS
            )
        else:
            since = started - dt.timedelta(hours=settings.initial_import_hours)
        engine = engine_load(connection, settings)
        watermark = _pull_changes(engine, client, since, result, interleaved)
        deleted_until = _pull_deletions(settings, client, state, started, result, interleaved)
    except SalesforceError as exc:
        result.errors.append(str(exc))
        result.error_kinds.append(exc.failure.kind)
        with lease_fence():
            if isinstance(exc, AuthError):
                SalesforceConnection.objects.filter(pk=connection.pk).update(
                    state=SalesforceConnection.State.UNAUTHORIZED, last_error=str(exc)
                )
            SyncEvent.objects.create(kind=SyncEvent.Kind.ERROR, message=f"Pull failed: {exc}")
            PullState.objects.filter(pk=1).update(last_error=str(exc), last_pull_at=started)
        result.api_calls = client.calls - calls_before if client else 0
        return result
    except LeaseLostError:
        raise
    except Exception as exc:
        # Shown where admins look, then raised for the worker's log; the engine lease is
        # released on the way out (lease_hold), so the next pull or push is not blocked.
        message = f"Pull failed unexpectedly ({type(exc).__name__}: {exc})"
        SyncEvent.objects.create(kind=SyncEvent.Kind.ERROR, message=message)
        PullState.objects.filter(pk=1).update(last_error=message, last_pull_at=started)
        raise
    if client.calls > calls_before:
        # Salesforce answers: pushes waiting out an outage pause go at the push booked for
        # the end of the pause, or at the next sweep, whichever comes first.
        outage_end(connection=connection)
    usage.api_usage_record(connection, client.api_usage, calls=client.calls - calls_before)
    newest = max((mark for mark in (watermark, state.watermark) if mark), default=None)
    with lease_fence():  # a pull that lost the lease moves no high-water mark
        PullState.objects.filter(pk=1).update(
            watermark=newest, deleted_until=deleted_until, last_pull_at=started, last_error=""
        )
    result.api_calls = client.calls - calls_before
    return result


def _pull_changes(
    engine: Engine,
    client: SalesforceClient,
    since: dt.datetime,
    result: PullResult,
    interleaved: Interleaved | None,
) -> dt.datetime | None:
    owners = engine.lookups.owners_in
    if not owners:
        return None  # only tasks of mapped owners sync; nobody is mapped yet
    owner_list = soql_ids(sorted(owners))
    soql = (
        f"SELECT {', '.join(select_fields(engine))} FROM {TASK_SOBJECT} "  # noqa: S608 - ids validated
        f"WHERE SystemModstamp >= {sf_datetime_format(since).replace('.000+0000', 'Z')} "
        f"AND OwnerId IN ({owner_list}) ORDER BY SystemModstamp ASC"
    )
    watermark: dt.datetime | None = None
    # queryAll: deletions come with the changes (IsDeleted, from the recycle bin), so a
    # Salesforce delete reaches Cockpit at the next pull; getDeleted below covers the rest.
    # Each page's call renews the lease first (client.call_guard), and each page is applied
    # under the fence (records_apply): a long pull keeps the lease, or stops.
    read_at: dt.datetime | None = None
    for number, page in enumerate(client.query_pages(soql, include_deleted=True)):
        if number == 0:  # the query's first call: its pages show what was there by then
            read_at = client.call_started_by
        if interleaved is None:
            records_apply(engine, page, result, client, read_at=read_at)
        else:
            accounts_load(engine, page, client)  # one call a page, not one a chunk
            for start in range(0, len(page), INTERLEAVE_CHUNK):
                interleaved.between(read_at)
                streamed = interleaved.streamed()
                chunk = page[start : start + INTERLEAVE_CHUNK]
                rest = [r for r in chunk if r["Id"] not in streamed]
                if rest:
                    records_apply(engine, rest, result, client, read_at=read_at)
        for record in page:
            stamp = sf_datetime_parse(record["SystemModstamp"])
            watermark = max(watermark, stamp) if watermark else stamp
    return watermark


def _pull_deletions(
    settings: SyncSettings,
    client: SalesforceClient,
    state: PullState,
    now: dt.datetime,
    result: PullResult,
    interleaved: Interleaved | None,
) -> dt.datetime | None:
    window = min(dt.timedelta(days=settings.deletion_window_days), RECYCLE_BIN)
    # Also after sync was off for a while: everything the window still holds.
    start = max(state.deleted_until or now - window, now - window + dt.timedelta(minutes=1))
    if now - start < dt.timedelta(minutes=1):
        return state.deleted_until  # getDeleted works in whole minutes
    answer = client.deleted(TASK_SOBJECT, start, now)
    ids = [d["id"] for d in answer.get("deletedRecords", [])]
    if interleaved is not None:
        # The stream has these from an event on: deleted by its DELETE event already, or
        # restored by a later one (an UNDELETE the pull's older list does not know of).
        streamed = interleaved.streamed()
        ids = [i for i in ids if i not in streamed]
    with lease_fence():
        outbox.tasks_lock(_tasks_of(ids))
        result.deleted += twins_deleted_in_salesforce(
            salesforce_ids=ids, reason="was deleted in Salesforce, so it was deleted in Cockpit"
        )
    covered = answer.get("latestDateCovered")
    return sf_datetime_parse(covered) if covered else now


def records_apply(
    engine: Engine,
    page: list[dict[str, Any]],
    result: PullResult,
    client: SalesforceClient,
    *,
    read_at: dt.datetime | None = None,
) -> None:
    """Apply Salesforce records (a query's page, or what change events describe), whole or
    not at all: under the lease fence, after the calls that look up their Accounts.
    `read_at`: a query's, when its read began at the latest (Salesforce's clock)."""
    accounts_load(engine, page, client)
    with lease_fence():
        _apply_page(engine, page, result, read_at)


# ---- one page ------------------------------------------------------------------------------
# A page of up to 2,000 changes is applied with a bounded number of queries: links, tombstones
# and our own unlinked first pushes read once for the page, linked tasks merged together
# (twins_merge_many), new tasks created together.


def _apply_page(
    engine: Engine, page: list[dict[str, Any]], result: PullResult, read_at: dt.datetime | None
) -> None:
    ext = engine.connection.external_id_field
    deleted = [r["Id"] for r in page if r.get("IsDeleted")]
    live = [r for r in page if not r.get("IsDeleted")]
    # The page is one transaction (records_apply): its tasks are locked first, in the order a
    # CSM's change takes them (outbox.tasks_lock), since a delete reaches the sync record
    # before the task and a link writes the record before the merge locks the task.
    linked, own = _page_links(ext, live)
    outbox.tasks_lock([*linked.values(), *own, *_tasks_of(deleted)])
    if deleted:
        result.deleted += twins_deleted_in_salesforce(
            salesforce_ids=deleted, reason="was deleted in Salesforce, so it was deleted in Cockpit"
        )
        # Read again after the deletions: a twin deleted on this page may have been the link
        # of a task whose other twin (a late first push) is also on it, and that one must now
        # meet the task's tombstone, not be linked to it.
        linked, own = _page_links(ext, live)
    unlinked = [r for r in live if r["Id"] not in linked]
    tombstones = tombstones_for([(r["Id"], str(r.get(ext) or "")) for r in unlinked])
    items: list[MergeItem] = []
    new: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for record in live:
        salesforce_id = record["Id"]
        theirs = {name: record.get(name) for name in (*engine.field_names, *STAMP_FIELDS)}
        if salesforce_id in linked:
            items.append(MergeItem(linked[salesforce_id], theirs, salesforce_id, read_at=read_at))
            continue
        tombstone = tombstones.get(salesforce_id)
        if tombstone is not None:
            # Deleted in Cockpit: the twin goes too, and never comes back as a new task.
            outbox.tombstone_delete_queue(tombstone=tombstone, salesforce_id=salesforce_id)
            result.skipped += 1
            continue
        mine = own.pop(task_id_of(str(record.get(ext) or "")) or 0, None)
        if mine is not None:
            items.append(_link(engine, mine, theirs, salesforce_id))
        else:
            new.append((record, theirs))
    _merge(engine, items, result)
    if new:
        _create_tasks(engine, new, result, read_at)


def _merge(engine: Engine, items: list[MergeItem], result: PullResult) -> None:
    outcomes = twins_merge_many(engine=engine, items=items)
    telemetry.records_pulled(items, outcomes)
    # In task order: outbox entries are locked in task order (outbox.tasks_lock).
    for _, outcome in sorted(outcomes.items()):
        result.conflicts += len(outcome.merged.conflicts)
        result.skipped += len(outcome.merged.skipped)
        if outcome.changed_cockpit:
            result.updated += 1
        else:
            result.unchanged += 1
        if outcome.merged.to_salesforce:
            # Cockpit's side goes out at the next push, which merges again before it writes.
            with transaction.atomic():
                outbox.outbox_add(task_id=outcome.task_id, operation=OutboxEntry.Operation.UPSERT)


def _page_links(
    ext: str, live: list[dict[str, Any]]
) -> tuple[dict[str | None, int], dict[int, TaskSyncRecord]]:
    """A page's records already linked to tasks (Salesforce Id → task id), and the tasks of
    ours whose lost first push made one of the others (by external id)."""
    linked = dict(
        TaskSyncRecord.objects.filter(salesforce_id__in=[r["Id"] for r in live]).values_list(
            "salesforce_id", "task_id"
        )
    )
    externals = [str(r.get(ext) or "") for r in live if r["Id"] not in linked]
    return linked, _own_unlinked(externals)


def _tasks_of(salesforce_ids: list[str]) -> list[int]:
    """The Cockpit tasks linked to these Salesforce records."""
    if not salesforce_ids:
        return []
    return list(
        TaskSyncRecord.objects.filter(salesforce_id__in=salesforce_ids).values_list(
            "task_id", flat=True
        )
    )


def _own_unlinked(external_ids: list[str]) -> dict[int, TaskSyncRecord]:
    """Tasks of ours whose first push reached Salesforce but whose answer never came back."""
    task_ids = [t for t in map(task_id_of, external_ids) if t is not None]
    if not task_ids:
        return {}
    return {
        r.task_id: r
        for r in TaskSyncRecord.objects.filter(task_id__in=task_ids, salesforce_id=None)
    }


def _link(
    engine: Engine, record: TaskSyncRecord, theirs: dict[str, Any], salesforce_id: str
) -> MergeItem:
    base = first_push_base(record) or (dict.fromkeys(engine.field_names), {})
    # The agreement is what the lost push sent, as the push that finds its twin records it
    # (push/creates.py::own_creates_find): the merge below replaces it, but it merges nothing for a
    # task its CSM desynced meanwhile, which syncs again from this base.
    TaskSyncRecord.objects.filter(pk=record.pk).update(
        salesforce_id=salesforce_id, agreed_values=base[0], agreed_cockpit=base[1]
    )
    return MergeItem(record.task_id, theirs, salesforce_id, base_override=base)


def imported_count_add(count: int) -> None:
    """Count tasks created from Salesforce where the first import's progress reads them: one
    row, not a scan of the log for "created from Salesforce" on every poll (issue 19). Pulls
    never run before sync is first switched on, so the count is the first import's."""
    PullState.objects.get_or_create(pk=1)
    PullState.objects.filter(pk=1).update(imported=F("imported") + count)


def _create_tasks(
    engine: Engine,
    new: list[tuple[dict[str, Any], dict[str, Any]]],
    result: PullResult,
    read_at: dt.datetime | None,
) -> None:
    """Salesforce tasks Cockpit does not have yet, created together."""
    planned: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[Any]]] = []
    rows = []
    owner_ids = set()
    for record, theirs in new:
        values: dict[str, Any] = {}
        skipped: list[tuple[str, Any]] = []
        for item in engine.fields:
            if not item.comes_in or item.salesforce not in theirs:
                continue
            value = item.back(theirs[item.salesforce])
            if value is SKIP:
                skipped.append((item.salesforce, theirs[item.salesforce]))
            else:
                values[item.salesforce] = value
        if values.get(OWNER) is None:
            result.skipped += 1
            continue
        owner_ids.add(values[OWNER])
        planned.append((record, theirs, values, skipped))
    if not planned:
        return
    users = {u.pk: u for u in User.objects.filter(pk__in=owner_ids)}
    companies = {
        c.pk: c
        for c in Company.objects.filter(
            pk__in={v[COMPANY] for _, _, v, _ in planned if v.get(COMPANY)}
        )
    }
    for _, _, values, _ in planned:
        owner = users[values.pop(OWNER)]
        changes = task_changes(values, engine.spec, engine.picklists, users, companies)
        name = changes.pop("name", "") or "(no subject)"
        rows.append((owner, name, changes))
    now = timezone.now()
    with transaction.atomic(), applying_inbound():
        made = task_services.tasks_create_from_salesforce(rows=rows)
        links, events = [], []
        for (record, theirs, _, skipped), task in zip(planned, made, strict=True):
            if not isinstance(task, Task):
                result.skipped += 1
                events.append(
                    SyncEvent(
                        kind=SyncEvent.Kind.ERROR,
                        salesforce_id=record["Id"],
                        message=f"Salesforce task '{theirs.get('Subject', '')}' refused by "
                        f"Cockpit: {'; '.join(task.messages)}",
                    )
                )
                continue
            ours = task_values(task, engine.spec)
            links.append(
                TaskSyncRecord(
                    task=task,
                    salesforce_id=record["Id"],
                    state=TaskSyncRecord.State.SYNCED,
                    last_synced_at=now,
                    salesforce_seen_at=sf_datetime_parse(record["SystemModstamp"])
                    if record.get("SystemModstamp")
                    else None,
                    salesforce_modified_at=stamp_settled(theirs, read_at),
                    agreed_values={n: theirs.get(n) for n in engine.field_names},
                    agreed_cockpit=agreement_marked(
                        engine,
                        {n: theirs.get(n) for n in engine.field_names},
                        {n: ours.get(n) for n in engine.field_names},
                    ),
                )
            )
            result.created += 1
            events.append(
                SyncEvent(
                    kind=SyncEvent.Kind.PULLED,
                    task_id=task.pk,
                    salesforce_id=record["Id"],
                    message=f"'{task.name}' created from Salesforce",
                )
            )
            events += [
                SyncEvent(
                    kind=SyncEvent.Kind.SKIPPED,
                    task_id=task.pk,
                    salesforce_id=record["Id"],
                    message=f"Salesforce {name} '{value}' has no Cockpit value mapped: the "
                    f"Cockpit {engine.labels.get(name, name)} keeps its value.",
                )
                for name, value in skipped
            ]
        TaskSyncRecord.objects.bulk_create(links, batch_size=500)
        SyncEvent.objects.bulk_create(events, batch_size=500)
        if links:
            imported_count_add(len(links))
    telemetry.records_created(links)
