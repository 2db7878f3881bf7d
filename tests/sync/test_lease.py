"""The engine lease is a fence: a holder that stalled past its lease while another worker took
it over writes nothing when it resumes, and every write that finishes a claim is conditional
on that claim (issue 16, item 3). Against the real emulator over HTTPS: the stall is a
response hook on the client's requests session (requests' own extension point) in which time
moves on and another worker takes over; nothing in the request path is replaced."""

import contextvars
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from sync import inbound, lease, outbox, reconcile
from sync.client import SalesforceError
from sync.client_cache import client_for_connection
from sync.failures import Failure
from sync.models import Lease, OutboxEntry, PullState, StreamState, SyncEvent
from sync.push import outbox_push
from sync.stream import Listener
from tasks import services as tasks
from tasks.models import Task, TaskSyncRecord
from tests.factories import OutboxEntryFactory, SyncRecordFactory

pytestmark = pytest.mark.django_db

PAST_THE_LEASE = dt.timedelta(seconds=1)


class OtherWorker:
    """Another worker's engine cycle, in a context of its own (a lease is held per context,
    as per process): it takes the lease once the first holder's has run out."""

    def __init__(self) -> None:
        self.context = contextvars.Context()
        self._hold = lease.lease_hold()

    def take_over(self) -> None:
        assert self.context.run(self._hold.__enter__) is True
        # What its push cycle does first: takes back the claims of the cycle that stopped.
        self.context.run(outbox.outbox_release_orphans)

    def run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return self.context.run(fn, **kwargs)

    def let_go(self) -> None:
        self.context.run(self._hold.__exit__, None, None, None)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Time that runs, and can jump forward, for the whole test."""
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        yield traveller


@contextmanager
def stalls_after(
    clock: time_machine.Traveller, path: str, meanwhile: Callable[[], None]
) -> Iterator[None]:
    """The engine's first Salesforce answer on `path` arrives after the lease has run out,
    and `meanwhile` happens before the engine sees it."""
    client = client_for_connection(SalesforceConnection.objects.get(is_primary=True))
    stalled: list[bool] = []

    def hook(response: Any, *args: Any, **kwargs: Any) -> None:
        if path in response.url and not stalled:
            stalled.append(True)
            clock.shift(lease.lease_ttl() + PAST_THE_LEASE)
            meanwhile()

    client.session.hooks["response"].append(hook)
    try:
        yield
    finally:
        client.session.hooks["response"].remove(hook)
    assert stalled, f"no call to {path} was made"


def test_renewing_says_whether_the_lease_is_still_held(clock):
    other = OtherWorker()
    with lease.lease_hold() as held:
        assert held
        assert lease.lease_renew() is True
        clock.shift(lease.lease_ttl() + PAST_THE_LEASE)
        # Run out, even before anyone takes it: a taker may be on its way.
        assert lease.lease_renew() is False
        other.take_over()
        assert lease.lease_renew() is False
        with pytest.raises(lease.LeaseLostError):
            lease.lease_keep()
    # Leaving the hold released nothing of the other worker's.
    assert Lease.objects.get(name=lease.ENGINE).locked_until > timezone.now()
    other.let_go()
    assert lease.lease_renew() is False  # held by nobody here


def test_a_push_cycle_whose_lease_was_taken_over_writes_nothing_when_it_resumes(
    org, alice, committed, clock
):
    with committed(worker_runs=False):
        task = tasks.task_create(owner=alice, name="Draft")
    other = OtherWorker()

    def meanwhile() -> None:
        # The first cycle's create is on its way when its lease runs out: another worker
        # takes over and takes back its claim, and the CSM edits the task again.
        other.take_over()
        with committed(worker_runs=False):
            tasks.task_update(task=Task.objects.get(pk=task.pk), name="Final")

    with stalls_after(clock, "composite/sobjects", meanwhile):
        stopped = outbox_push()

    assert stopped.pushed == 0
    assert "lease was lost" in stopped.errors[0]
    # Nothing of the first cycle's was written: the edit's entry is still pending, the task
    # not linked, no push logged.
    assert OutboxEntry.objects.get(task_id=task.pk).state == OutboxEntry.State.PENDING
    assert TaskSyncRecord.objects.get(task=task).salesforce_id is None
    assert not SyncEvent.objects.filter(kind=SyncEvent.Kind.PUSHED).exists()

    pushed = other.run(outbox_push)
    other.let_go()

    assert pushed.pushed == 1
    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    twins = org.simple_salesforce().query(
        f"SELECT Id, Subject FROM Task WHERE Cockpit_Task_Id__c = 'cockpit-{task.pk}'"
    )["records"]
    assert [(t["Id"], t["Subject"]) for t in twins] == [(salesforce_id, "Final")]


def test_a_pull_whose_lease_was_taken_over_imports_nothing_and_keeps_the_watermark(
    bidi, sf, alice_sf_id, clock
):
    inbound.pull_run(force=True)  # the first import, with nothing to import
    watermark = PullState.objects.get(pk=1).watermark
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Made in Salesforce"})["id"]
    other = OtherWorker()

    with stalls_after(clock, "/query", other.take_over):
        stopped = inbound.pull_run(force=True)

    assert stopped.ran is False
    assert not TaskSyncRecord.objects.filter(salesforce_id=salesforce_id).exists()
    assert PullState.objects.get(pk=1).watermark == watermark

    pulled = other.run(inbound.pull_run, force=True)
    other.let_go()

    assert pulled.created == 1
    assert TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task.name == (
        "Made in Salesforce"
    )


def _done(entry: OutboxEntry) -> None:
    outbox.entry_done(entry)


def _failed(entry: OutboxEntry) -> None:
    outbox.entry_fail(entry, Failure("REQUIRED_FIELD_MISSING: Subject", "REQUIRED_FIELD_MISSING"))


def _retried(entry: OutboxEntry) -> None:
    outbox.entry_retry_later(entry, Failure("UNABLE_TO_LOCK_ROW: busy", "UNABLE_TO_LOCK_ROW"))


def _released(entry: OutboxEntry) -> None:
    outbox.entry_to_pending(entry, failure=None, delay=dt.timedelta(0))


def _all_done(entry: OutboxEntry) -> None:
    outbox.entries_done([entry])


@pytest.mark.parametrize(
    "finish",
    [_done, _failed, _retried, _released, _all_done],
    ids=["done", "failed", "retry_later", "back_to_pending", "done_in_a_batch"],
)
def test_a_finishing_write_for_a_claim_that_was_claimed_again_changes_nothing(finish):
    record = SyncRecordFactory(linked=True, state=TaskSyncRecord.State.PENDING)
    OutboxEntryFactory(task_id=record.task_id)
    [stale] = outbox.outbox_claim()
    with time_machine.travel(timezone.now() + lease.lease_ttl() + PAST_THE_LEASE):
        # The cycle that claimed it stopped; the next one took it back and claimed it again.
        outbox.outbox_release_orphans()
        [again] = outbox.outbox_claim()

        finish(stale)

    entry = OutboxEntry.objects.get(pk=stale.pk)
    assert (entry.state, entry.claimed_at) == (OutboxEntry.State.IN_FLIGHT, again.claimed_at)
    assert (entry.attempts, entry.last_error) == (0, "")
    assert TaskSyncRecord.objects.get(pk=record.pk).state == TaskSyncRecord.State.PENDING
    assert not SyncEvent.objects.exists()


def test_a_reconcile_whose_lease_was_taken_over_repairs_nothing_and_says_why(
    bidi, sf, alice_sf_id, clock
):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Imported"})["id"]
    inbound.pull_run(force=True)
    task_id = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task_id
    Task.objects.filter(pk=task_id).update(name="Renamed around the services")  # drift
    other = OtherWorker()

    with stalls_after(clock, "/query", other.take_over):
        run = reconcile.reconcile_run()
    other.let_go()

    assert "took the sync engine over" in run.error
    assert run.checked == 0
    assert not OutboxEntry.objects.filter(task_id=task_id).exists()


def test_change_events_applied_under_a_lease_taken_over_are_not_acknowledged(
    bidi, sf, alice_sf_id, clock
):
    bidi.set_streaming(timeout_ms=300)
    listener = Listener()
    listener.step()  # subscribed, caught up
    replay_id = StreamState.objects.get().replay_id
    # An Account Cockpit has not seen: applying the event looks it up (a REST call).
    account = bidi.simple_salesforce().Account.create({"Name": "Globex"})["id"]
    salesforce_id = sf.Task.create(
        {"OwnerId": alice_sf_id, "Subject": "From the stream", "WhatId": account}
    )["id"]
    other = OtherWorker()

    with stalls_after(clock, "/query", other.take_over), pytest.raises(SalesforceError):
        for _ in range(3):
            listener.step()
    other.let_go()

    assert StreamState.objects.get().replay_id == replay_id  # replayed on the next subscribe
    assert not TaskSyncRecord.objects.filter(salesforce_id=salesforce_id).exists()
    for _ in range(3):
        listener.step()
    listener.stop()
    assert TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task.company.name == "Globex"
