"""Inbound sync: Salesforce changes and deletions → Cockpit tasks (DESIGN section 3).

One pull reads every Task changed since the watermark with SOQL, 2,000 a page (rule 10), and the
deletions of the recycle-bin window with getDeleted (rule 4). Each record is merged field by
field against the values both sides last agreed on (rule 8); a push's own echo changes nothing
(rule 7); a Salesforce picklist value with no mapping is skipped and logged (rule 5).
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings as django_settings
from django.utils import timezone

from adminconfig.models import SalesforceConnection, SyncSettings

from . import telemetry, usage
from .accounts import accounts_load
from .client import AuthError, SalesforceClient, SalesforceError, soql_ids
from .client_cache import client_for_connection
from .deletions import twins_deleted_in_salesforce
from .engine_config import Engine, engine_load
from .lease import LeaseLostError, lease_fence, lease_hold
from .locks import twins_lock
from .mapping import sf_datetime_format, sf_datetime_parse
from .models import PullState, SyncEvent
from .outages import outage_end
from .record_fields import select_fields
from .records import ApplyResult, Passed, records_apply
from .selectors import inbound_connection, stream_live, sync_settings
from .sf_types import TASK_SOBJECT, SalesforceRecord

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
class PullResult(ApplyResult):
    """What a pull did: what it applied, and whether it ran, the calls it made, its errors."""

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

    def passed(self) -> Passed:
        """Values the records held before the state this pull reads, from the change events
        left to it (a Salesforce user's change and change back: the merge sees the end only)."""


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
    """One pull under the lease: the changes since the watermark, then the deletions; a
    failure is recorded where admins look, and only a pull that finished moves the marks."""
    state, _ = PullState.objects.get_or_create(pk=1)
    result = PullResult()
    started = timezone.now()
    calls_before = 0
    client: SalesforceClient | None = None
    try:
        client = client_for_connection(connection)
        calls_before = client.calls
        since = _pull_since(state, settings, started)
        engine = engine_load(connection, settings)
        watermark = _pull_changes(engine, client, since, result, interleaved)
        deleted_until = _pull_deletions(settings, client, state, started, result, interleaved)
    except SalesforceError as exc:
        _pull_failed(connection, exc, started, result)
        result.api_calls = client.calls - calls_before if client else 0
        return result
    except LeaseLostError:
        raise
    except Exception as exc:
        _pull_crashed(exc, started)
        raise
    _pull_done(connection, client, calls_before, state, started, watermark, deleted_until)
    result.api_calls = client.calls - calls_before
    return result


def _pull_since(state: PullState, settings: SyncSettings, started: dt.datetime) -> dt.datetime:
    """Where this pull's read of changes begins."""
    if not state.watermark:
        return started - dt.timedelta(hours=settings.initial_import_hours)
    # Salesforce stamps to the second, gives one stamp to a whole transaction and can show a
    # record after records with later stamps: read again behind the newest change seen. A
    # record read twice that nothing changed is a no-op.
    return state.watermark - dt.timedelta(seconds=django_settings.SYNC_PULL_OVERLAP_SECONDS)


def _pull_failed(
    connection: SalesforceConnection, exc: SalesforceError, started: dt.datetime, result: PullResult
) -> None:
    """A pull Salesforce failed: recorded on the result, the event log and the pull state
    (a refused login also on the connection), the marks left where they were."""
    result.errors.append(str(exc))
    result.error_kinds.append(exc.failure.kind)
    with lease_fence():
        if isinstance(exc, AuthError):
            SalesforceConnection.objects.filter(pk=connection.pk).update(
                state=SalesforceConnection.State.UNAUTHORIZED, last_error=str(exc)
            )
        SyncEvent.objects.create(kind=SyncEvent.Kind.ERROR, message=f"Pull failed: {exc}")
        PullState.objects.filter(pk=1).update(last_error=str(exc), last_pull_at=started)


def _pull_crashed(exc: Exception, started: dt.datetime) -> None:
    """A pull that failed unexpectedly: shown where admins look; the caller raises it again
    for the worker's log, and the engine lease is released on the way out (lease_hold), so
    the next pull or push is not blocked."""
    message = f"Pull failed unexpectedly ({type(exc).__name__}: {exc})"
    SyncEvent.objects.create(kind=SyncEvent.Kind.ERROR, message=message)
    PullState.objects.filter(pk=1).update(last_error=message, last_pull_at=started)


def _pull_done(
    connection: SalesforceConnection,
    client: SalesforceClient,
    calls_before: int,
    state: PullState,
    started: dt.datetime,
    watermark: dt.datetime | None,
    deleted_until: dt.datetime | None,
) -> None:
    """A pull that finished: the API calls it made counted, and its marks moved."""
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
            _page_interleaved(engine, client, page, result, read_at, interleaved)
        for record in page:
            stamp = sf_datetime_parse(record["SystemModstamp"])
            watermark = max(watermark, stamp) if watermark else stamp
    return watermark


def _page_interleaved(
    engine: Engine,
    client: SalesforceClient,
    page: list[SalesforceRecord],
    result: PullResult,
    read_at: dt.datetime | None,
    interleaved: Interleaved,
) -> None:
    """A page applied in chunks, the interleaved work run before each; records a change
    event applied meanwhile are left to it."""
    accounts_load(engine, page, client)  # one call a page, not one a chunk
    for start in range(0, len(page), INTERLEAVE_CHUNK):
        interleaved.between(read_at)
        streamed = interleaved.streamed()
        chunk = page[start : start + INTERLEAVE_CHUNK]
        rest = [r for r in chunk if r["Id"] not in streamed]
        if rest:
            records_apply(
                engine, rest, result, client, read_at=read_at, passed=interleaved.passed()
            )


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
        twins_lock(salesforce_ids=ids)
        result.deleted += twins_deleted_in_salesforce(
            salesforce_ids=ids, reason="was deleted in Salesforce, so it was deleted in Cockpit"
        )
    covered = answer.get("latestDateCovered")
    return sf_datetime_parse(covered) if covered else now
