"""Inbound in seconds: Salesforce's change events (Change Data Capture over the Streaming API).

Salesforce publishes every Task change as a TaskChangeEvent. The listener (`manage.py
sync_stream`, the Procfile's `stream`) subscribes from the replay id it stored last, so a
restart loses nothing the org still retains (72 hours); it lingers a moment after the first
event so a burst is applied together, and applies events through the same page apply and merge
as the pull. An UPDATE event carries only the changed fields: the twin's full values are the
values both sides last agreed on with the event's changes laid over them. An event older than
what Cockpit already applied to that twin (its SystemModstamp, seen by a pull, or a version a
pull read after its second was over: `known_already`) is skipped, so a replay never undoes a
newer state. The echo of Cockpit's own push changes nothing: it only repeats values already
agreed.

Whenever the stream cannot tell the whole story (a GAP or OVERFLOW event, an update of a task
Cockpit has no values for, a lost connection, a replay id no longer retained), the listener
pulls from the watermark and carries on; the events that arrive meanwhile are applied between
the pull's chunks (`Listener._catch_up`), so a restart's catch-up, minutes of changes re-read,
does not hold up the seconds of the new ones. Polling stays on as the safety net, at
SYNC_STREAM_SAFETY_PULL_SECONDS while the stream is live.
"""

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings as django_settings
from django.db.models import F
from django.utils import timezone

from adminconfig.models import SalesforceConnection, SyncSettings
from tasks.models import TaskSyncRecord

from . import telemetry
from .client import AuthError, SalesforceError
from .client_cache import client_for_connection
from .cometd import ChangeEvent, CometdSession, ReplayUnavailableError, UnknownClientError
from .engine_config import engine_load
from .lease import LeaseLostError, lease_fence, lease_hold
from .mapping import sf_datetime_format
from .models import StreamState
from .records import ApplyResult, Passed, passed_add, records_apply
from .selectors import inbound_connection, sync_settings
from .stamps import SETTLED_AFTER
from .unseen import Unseen, unseen_conflicts_record, unseen_in
from .usage import api_usage_record

log = logging.getLogger(__name__)

LEASE_WAIT = 30.0
# Between two chunks of a catch-up, the listener takes the events waiting until none are left,
# at most this many long-poll answers (of up to 1,000 events each): a replay after a restart
# (23,500 events after bench live's backlogs) goes before the catch-up's next chunk.
DRAIN_ROUNDS = 50
# Change events write datetimes as '...000Z', the REST API as '...000+0000': one form, so an
# unchanged value never looks changed to the merge.
EVENT_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z$")


def stream_state() -> StreamState:
    state, _ = StreamState.objects.get_or_create(pk=1)
    return state


def _state_set(**changes: Any) -> None:
    StreamState.objects.get_or_create(pk=1)
    StreamState.objects.filter(pk=1).update(**changes)


@dataclass
class Batch:
    """Events turned into Salesforce records as a query would return them, and what the
    merge would not see in them: `passed` holds, per record and field, the values a change
    of the batch replaced by a later one (a Salesforce user's change and change back comes
    as two events and one record: the merge compares the last value only)."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    needs_pull: str = ""
    passed: Passed = field(default_factory=dict)
    # Changes of events known already that a read's merge wrote over unseen (sync/unseen.py).
    unseen: list[Unseen] = field(default_factory=list)


@dataclass
class Covered:
    """What a catch-up pull reads anyway, so its events need not be applied: every change
    committed well before its query's read (SETTLED_AFTER, as for a conditional write's stamp)
    to a task of a mapped owner. A replay after a restart (thousands of events the pulls have
    already applied, or that this one reads) then costs the parse, not a merge a record, and
    the new events behind it are not held up.

    A record whose change was left to the pull has none of its later events applied in this
    catch-up: an UPDATE carries only the changed fields, laid over values the pull may not have
    brought yet. Such an event makes another catch-up follow, which reads it."""

    read_at: dt.datetime
    owners: Collection[str]
    left: set[str] = field(default_factory=set)  # records whose changes were left to the pull
    # What the changes left to the pull set: the pull reads the last state only.
    passed: Passed = field(default_factory=dict)

    def before(self, committed: dt.datetime) -> bool:
        return committed.replace(microsecond=0) + SETTLED_AFTER <= self.read_at

    def takes(
        self,
        record: dict[str, Any],
        link: TaskSyncRecord | None,
        committed: dt.datetime,
        batch: Batch,
        changed: dict[str, Any],
    ) -> bool:
        """Whether the stream applies this state of the record, or leaves it to the pull
        (which is told the values the change set, `changed`, and those the batch had)."""
        salesforce_id = record["Id"]
        owner = record.get("OwnerId")
        if owner is None and link is not None:
            owner = (link.agreed_values or {}).get("OwnerId")  # a deletion names no owner
        if self.before(committed) and owner in self.owners:
            self.left.add(salesforce_id)
            batch.records.pop(salesforce_id, None)
            for name, values in batch.passed.pop(salesforce_id, {}).items():
                for value in values:
                    passed_add(self.passed, salesforce_id, {name: value})
            passed_add(self.passed, salesforce_id, changed)
            return False
        if salesforce_id in self.left:
            batch.needs_pull = "a change after the catch-up's read to a task it reads"
            batch.records.pop(salesforce_id, None)
            return False
        return True


def _rest_value(value: Any) -> Any:
    if isinstance(value, str):
        match = EVENT_DATETIME.match(value)
        if match:
            return match.group(1) + "+0000"
    return value


@dataclass
class _Event:
    """One change event, read once: what it changed, when, by whom."""

    change: str
    committed: dt.datetime
    fields: dict[str, Any]  # every field it carries, in the REST API's forms
    changed: dict[str, Any]  # the mapped fields among them
    user: str
    record_ids: list[str]

    @property
    def stamps(self) -> dict[str, Any]:
        committed = sf_datetime_format(self.committed)
        return {
            "SystemModstamp": committed,
            "LastModifiedDate": self.fields.get("LastModifiedDate") or committed,
            "LastModifiedById": self.user,
        }


def _event_read(event: ChangeEvent, field_names: list[str]) -> _Event:
    fields = {name: _rest_value(value) for name, value in event.fields.items()}
    return _Event(
        change=event.change_type,
        committed=dt.datetime.fromtimestamp(
            int(event.header.get("commitTimestamp") or 0) / 1000, tz=dt.UTC
        ),
        fields=fields,
        changed={n: v for n, v in fields.items() if n in field_names},
        user=str(event.header.get("commitUser") or ""),
        record_ids=list(event.header.get("recordIds") or []),
    )


def _links_of(events: list[ChangeEvent]) -> dict[str | None, TaskSyncRecord]:
    ids = {i for event in events for i in event.header.get("recordIds") or []}
    return {
        r.salesforce_id: r
        for r in TaskSyncRecord.objects.filter(salesforce_id__in=ids).only(
            "task_id",
            "salesforce_id",
            "salesforce_seen_at",
            "salesforce_modified_at",
            "agreed_values",
            "unseen_windows",
        )
    }


@dataclass
class _Reading:
    """What turning one batch of events into records needs at hand."""

    batch: Batch
    field_names: list[str]
    covered: Covered | None
    own_user: str
    # Who set each field's value in the batch's record so far, per record.
    setters: dict[str, dict[str, str]] = field(default_factory=dict)

    def pull_needed(self, event: _Event, why: str) -> None:
        if self.covered is None or not self.covered.before(event.committed):
            self.batch.needs_pull = why


def events_to_records(
    events: list[ChangeEvent],
    field_names: list[str],
    covered: Covered | None = None,
    *,
    own_user: str = "",
) -> Batch:
    """What the events say the twins now hold, in commit order; deletions as IsDeleted.
    `covered`: what a catch-up pull running meanwhile reads anyway (left out of the batch).
    `own_user`: the user Cockpit writes as; the values its writes set are no Salesforce
    user's (`Batch.passed` leaves them out)."""
    reading = _Reading(Batch(), field_names, covered, own_user)
    links = _links_of(events)
    for change_event in events:
        event = _event_read(change_event, field_names)
        if event.change.startswith("GAP_"):
            reading.pull_needed(
                event, f"Salesforce sent {event.change}: some changes came without values"
            )
            continue
        for salesforce_id in event.record_ids:
            _event_take(reading, event, salesforce_id, links.get(salesforce_id))
    return reading.batch


def _event_take(
    reading: _Reading, event: _Event, salesforce_id: str, link: TaskSyncRecord | None
) -> None:
    """Lay one event over the batch's state of one record (or leave it, known already)."""
    batch, own_user = reading.batch, reading.own_user
    if link is not None:
        # A pull already applied this state of the twin, or a newer one (known): the event
        # is skipped; a change the pull's read could not see (changed and back) is recorded
        # if Cockpit wrote over it (sync/unseen.py).
        already = known_already(link, event.committed)
        batch.unseen += unseen_in(
            link,
            event.changed,
            event.committed,
            set_by_salesforce=event.user != own_user,
            known=already,
        )
        if already:
            return
    record = _event_record(reading, event, salesforce_id, link)
    if record is None:
        return
    theirs = event.changed if event.user != own_user else {}  # a Salesforce user's values
    covered = reading.covered
    if covered is not None and not covered.takes(record, link, event.committed, batch, theirs):
        return
    if event.change == "DELETE":
        reading.setters.pop(salesforce_id, None)
    else:
        reading.setters.setdefault(salesforce_id, {}).update(
            dict.fromkeys(event.changed, event.user)
        )
    batch.records[salesforce_id] = record


def _event_record(
    reading: _Reading, event: _Event, salesforce_id: str, link: TaskSyncRecord | None
) -> dict[str, Any] | None:
    """The record as the event leaves it: an UPDATE laid over the batch's state of it, or
    over the values both sides last agreed on; None when Cockpit holds no values of it."""
    if event.change == "DELETE":
        return {"Id": salesforce_id, "IsDeleted": True}
    if event.change in ("CREATE", "UNDELETE"):
        return {"Id": salesforce_id, "IsDeleted": False, **event.fields, **event.stamps}
    if event.change != "UPDATE":
        return None
    batch = reading.batch
    known = batch.records.get(salesforce_id)
    if known is None or known.get("IsDeleted"):
        if link is None or not link.agreed_values:
            reading.pull_needed(event, "a change to a task Cockpit holds no values of")
            return None
        known = {
            "Id": salesforce_id,
            "IsDeleted": False,
            **{n: link.agreed_values.get(n) for n in reading.field_names},
        }
    _replaced_pass(batch, reading.setters, salesforce_id, event.changed, reading.own_user)
    return {**known, **event.fields, **event.stamps}


def _replaced_pass(
    batch: Batch,
    setters: dict[str, dict[str, str]],
    salesforce_id: str,
    changed: dict[str, Any],
    own_user: str,
) -> None:
    """A later change of a record the batch holds: the values it replaces, where a Salesforce
    user's change of the batch set them, were Salesforce's for a moment (`Batch.passed`)."""
    prior = batch.records.get(salesforce_id)
    if prior is None or prior.get("IsDeleted"):
        return
    set_by = setters.get(salesforce_id, {})
    replaced = {
        name: prior.get(name)
        for name, value in changed.items()
        if prior.get(name) != value and set_by.get(name, own_user) != own_user
    }
    passed_add(batch.passed, salesforce_id, replaced)


def known_already(link: TaskSyncRecord, committed: dt.datetime) -> bool:
    """Whether Cockpit holds the twin's state as of a change committed then, or a newer one.

    Yes when a pull saw a later SystemModstamp; and when the version Cockpit holds was read
    after its second had passed (`salesforce_modified_at`, a settled read: sync/stamps.py,
    `stamp_settled`): every change committed in that second or before had reached that read.
    Salesforce stamps to the second, so an event of the very second a pull saw is older or
    newer only by such a read; without one the event is applied (it is then that version, or
    newer, or older with the later change of the second following it as a later event).
    Without the settled read, a replay of an old event of that second (a listener restarted
    from its stored replay id) showed the older values until the next event, and a CSM's
    edit meanwhile was merged against them as if Salesforce had changed back."""
    if link.salesforce_seen_at is not None and committed < link.salesforce_seen_at:
        return True
    settled = link.salesforce_modified_at
    return settled is not None and committed < settled + dt.timedelta(seconds=1)


# The catch-up pull is a pull: it is started through the scheduler (sync/scheduler.py,
# catch_up_run), which SyncConfig.ready() hands in here, so that change events and the pull do
# not import each other (pyproject.toml, the import contracts).
class CatchUp(Protocol):
    """What the listener reads of its catch-up pull's result (the pull's PullResult)."""

    ran: bool


_catch_up_run: Callable[..., CatchUp] | None = None


def stream_catch_up_register(run: Callable[..., CatchUp]) -> None:
    """Set what a listener's catch-up calls: `run(interleaved=listener)`, a forced pull with
    the listener's events applied between its chunks."""
    global _catch_up_run
    _catch_up_run = run


def _catch_up_start(listener: "Listener") -> CatchUp:
    if _catch_up_run is None:
        raise RuntimeError("no catch-up pull registered (sync.apps.SyncConfig.ready)")
    return _catch_up_run(interleaved=listener)


class Listener:
    """One change-event listener. `step()` waits for events once and applies them."""

    def __init__(self, *, wait: bool = True) -> None:
        self.wait = wait
        self.session: CometdSession | None = None
        self.connection: SalesforceConnection | None = None
        self.connection_key: tuple[int, str] | None = None
        self.pull_owed = ""  # why a catch-up pull is due and has not run yet
        # While a catch-up pull runs: the records its events were applied to, and what
        # stopped the events meanwhile (raised once the pull is done).
        self._streamed: set[str] | None = None
        self._stream_error: Exception | None = None
        self._covered: Covered | None = None  # what the catch-up's query reads

    def stop(self) -> None:
        if self.session is not None:
            self.session.disconnect()
        self.session = None
        _state_set(status=StreamState.Status.OFF)

    def step(self) -> int:
        """Wait for events (up to the long-poll timeout) and apply them; returns how many."""
        connection = inbound_connection(sync_settings())
        if connection is None:
            if self.session is not None:
                self.stop()
            return 0
        key = (connection.pk, connection.updated_at.isoformat())
        self.connection = connection
        try:
            if self.session is None or key != self.connection_key:
                self._start(connection)
                self.connection_key = key
            assert self.session is not None
            if self.pull_owed:
                self._catch_up(self.pull_owed)
            events = self.session.connect(wait=self.wait)
            _state_set(last_seen_at=timezone.now())
            if events:
                linger = django_settings.SYNC_STREAM_LINGER_MS / 1000
                if linger:
                    time.sleep(linger)  # a burst travels together
                    events += self.session.connect(wait=False)
                self._apply(connection, events)
            return len(events)
        except UnknownClientError:
            log.info("The Streaming API forgot this listener: subscribing again")
            self.session = None
            return 0
        except AuthError as exc:
            self.session = None
            _state_set(status=StreamState.Status.ERROR, last_error=str(exc))
            raise
        except SalesforceError as exc:
            # A lost connection: resume from the stored replay id, after a pull covers it.
            self.session = None
            _state_set(status=StreamState.Status.ERROR, last_error=str(exc))
            raise

    def _start(self, connection: SalesforceConnection) -> None:
        _state_set(status=StreamState.Status.CONNECTING)
        client = client_for_connection(connection)
        calls = client.calls
        session = CometdSession(client)
        session.handshake()
        state = stream_state()
        if state.replay_id is None:
            session.subscribe(-1)
            reason = "the stream starts: a pull covers what came before"
        else:
            try:
                session.subscribe(state.replay_id)
                reason = "the stream resumes: a pull covers the time it was away"
            except ReplayUnavailableError:
                session.subscribe(-1)
                reason = "the stored replay id is no longer retained by Salesforce"
        api_usage_record(connection, client.api_usage, calls=client.calls - calls)
        self.session = session
        # Subscribed first, pulled second: nothing falls between the two. The events keep
        # coming in while the pull runs (see _catch_up).
        self._catch_up(reason)
        _state_set(last_error="", last_seen_at=timezone.now())

    def _catch_up(self, reason: str) -> None:
        """Pull from the watermark, with the change events that arrive meanwhile applied
        between the pull's chunks: a restart's catch-up re-reads minutes of changes (the pull's
        overlap), and new changes still reach Cockpit in seconds. What the pull read of a
        record an event was applied to meanwhile is left to the stream (inbound.Interleaved).
        An event that needs a pull of its own (a gap) makes another catch-up follow.

        A pull that cannot run (the engine lease held by a worker that died, until it runs
        out) stays owed: the stream is not called live, so pulls keep their interval, and each
        step tries again."""
        while reason:
            log.info("Change events: pulling from the watermark (%s)", reason)
            _state_set(status=StreamState.Status.CATCHING_UP)
            self.pull_owed = ""
            self._streamed, self._stream_error, self._covered = set(), None, None
            try:
                ran = _catch_up_start(self).ran
            finally:
                self._streamed, self._covered = None, None
            error, self._stream_error = self._stream_error, None
            if not ran:
                log.warning("Change events: the catch-up pull could not run yet (%s)", reason)
                self.pull_owed = reason
            else:
                _state_set(status=StreamState.Status.LIVE, fallbacks=F("fallbacks") + 1)
            if error is not None:
                raise error  # the events stopped during the pull: subscribe again
            if not ran:
                return
            reason = self.pull_owed

    def between(self, read_at: dt.datetime | None) -> None:
        """The events waiting, all of them, applied between two chunks of a catch-up's pull
        (under its lease); those the pull reads anyway are left to it (`Covered`). A failure
        stops the events, not the pull; it is raised once the pull is done (unacknowledged
        events are replayed to the next subscription)."""
        if self._stream_error is not None or self.session is None or self.connection is None:
            return
        if self._covered is None and read_at is not None:
            owners = engine_load(self.connection, sync_settings()).lookups.owners_in.keys()
            self._covered = Covered(read_at, set(owners))
        try:
            for _ in range(DRAIN_ROUNDS):
                events = self.session.connect(wait=False)
                _state_set(last_seen_at=timezone.now())  # a long catch-up is no silent listener
                if not events:
                    return
                self._apply(self.connection, events)
        except (SalesforceError, UnknownClientError) as exc:
            self._stream_error = exc

    def streamed(self) -> set[str]:
        return self._streamed if self._streamed is not None else set()

    def passed(self) -> Passed:
        return self._covered.passed if self._covered is not None else {}

    @telemetry.step("stream")
    def _apply(self, connection: SalesforceConnection, events: list[ChangeEvent]) -> None:
        settings = sync_settings()
        with lease_hold(wait=LEASE_WAIT) as held:
            if not held:
                # Not applied, so not acknowledged: the next subscription replays them.
                raise SalesforceError("the sync stayed busy; the events will be replayed")
            try:
                self._apply_held(connection, settings, events)
            except LeaseLostError as exc:
                # Stalled past the lease and another worker took over: not acknowledged,
                # so replayed (what was applied already is a no-op the second time).
                raise SalesforceError(f"{exc}; the events will be replayed") from exc

    def _apply_held(
        self, connection: SalesforceConnection, settings: SyncSettings, events: list[ChangeEvent]
    ) -> None:
        engine = engine_load(connection, settings)
        covered = self._covered if self._streamed is not None else None
        client = client_for_connection(connection)
        batch = events_to_records(events, engine.field_names, covered, own_user=client.user_id)
        if batch.unseen:
            with lease_fence():
                unseen_conflicts_record(engine, batch.unseen)
        if batch.records:
            result = ApplyResult()
            records = list(batch.records.values())
            records_apply(engine, records, result, client, passed=batch.passed)
            if self._streamed is not None:
                self._streamed.update(batch.records)
        if batch.needs_pull:
            # The next step pulls before it waits for more events: applied here, inside
            # this batch's lease, the pull would take in the events after it (_catch_up)
            # before this batch is acknowledged.
            self.pull_owed = self.pull_owed or batch.needs_pull
        with lease_fence():  # acknowledged only while this listener holds the lease
            _state_set(
                replay_id=max(e.replay_id for e in events),
                events_applied=F("events_applied") + len(events),
                last_event_at=timezone.now(),
            )


def stream_forever(*, stop_after: float | None = None) -> None:
    """The listener process: reconnects after errors with a growing pause (1 s to 30 s)."""
    listener = Listener()
    started, pause = time.monotonic(), 1.0
    try:
        while stop_after is None or time.monotonic() - started < stop_after:
            try:
                count = listener.step()
                pause = 1.0
                if listener.session is None and count == 0:
                    time.sleep(5)  # sync is off: look again in a while
            except SalesforceError as exc:
                log.warning("Change events: %s; reconnecting in %.0f s", exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, 30.0)
    finally:
        listener.stop()
