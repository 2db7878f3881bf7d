"""Change events: the listener against the emulator's Streaming API, over HTTPS."""

import datetime as dt
import time

import pytest
import time_machine
from django.utils import timezone

from adminconfig.models import SalesforceConnection
from cockpit.selectors import task_timeline as selectors_timeline
from sync import inbound, outbox, selectors
from sync.lease import ENGINE
from sync.models import Conflict, Lease, OutboxEntry, PullState, StreamState, SyncEvent
from sync.push import outbox_push, outbox_push_all
from sync.stream import Listener
from tasks import services as tasks
from tasks.models import Task, TaskSyncRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(bidi):
    """A listener that has subscribed (and caught up with one pull), polling briefly."""
    bidi.set_streaming(timeout_ms=100)
    listener = Listener()
    listener.step()
    yield listener
    listener.stop()


def deliver(listener, rounds=3):
    """Long polls until the events written so far are applied."""
    return sum(listener.step() for _ in range(rounds))


def pulls():
    return PullState.objects.get().last_pull_at


def test_a_salesforce_edit_reaches_cockpit_through_the_stream_without_a_rest_call(
    stream, bidi, sf, alice_sf_id
):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "From the stream"})["id"]
    assert deliver(stream) >= 1
    task = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task
    assert task.name == "From the stream"

    sf.Task.update(salesforce_id, {"Subject": "Edited in Salesforce"})
    bidi.reset_request_log()
    before = pulls()
    deliver(stream)

    task.refresh_from_db()
    assert task.name == "Edited in Salesforce"
    assert bidi.api_calls() == 0  # long polls and events are not REST calls
    assert pulls() == before  # no pull was needed
    assert StreamState.objects.get().replay_id == bidi.latest_replay_id()


def test_a_salesforce_delete_deletes_the_task(stream, sf, alice_sf_id):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Short-lived"})["id"]
    deliver(stream)
    task_id = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task_id
    sf.Task.delete(salesforce_id)

    deliver(stream)

    assert not Task.objects.filter(pk=task_id).exists()


def test_the_echo_of_cockpits_own_push_changes_nothing(stream, bidi, alice):
    task = tasks.task_create(owner=alice, name="Made in Cockpit")
    outbox_push_all()
    tasks.task_update(task=task, details="Edited in Cockpit")
    outbox_push_all()
    SyncEvent.objects.all().delete()

    assert deliver(stream) >= 2  # the create's and the update's echoes

    task.refresh_from_db()
    assert (task.name, task.details) == ("Made in Cockpit", "Edited in Cockpit")
    assert not SyncEvent.objects.filter(kind__in=["pulled", "conflict"]).exists()


def test_an_edit_on_both_sides_is_merged_field_by_field(stream, sf, alice, alice_sf_id):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Shared"})["id"]
    deliver(stream)
    task = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task
    tasks.task_update(task=task, details="Cockpit's details")
    sf.Task.update(salesforce_id, {"Subject": "Salesforce's subject"})

    deliver(stream)
    outbox_push_all()

    task.refresh_from_db()
    assert (task.name, task.details) == ("Salesforce's subject", "Cockpit's details")
    assert sf.Task.get(salesforce_id)["Description"] == "Cockpit's details"


def test_a_gap_falls_back_to_a_pull(stream, bidi, sf, alice_sf_id):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Before the gap"})["id"]
    deliver(stream)
    bidi.set_faults(stream_gap_next=1)
    sf.Task.update(salesforce_id, {"Subject": "Only a pull knows"})
    before = pulls()

    deliver(stream)

    assert pulls() > before
    assert TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task.name == "Only a pull knows"
    assert StreamState.objects.get().fallbacks >= 2


def test_a_restarted_listener_resumes_after_its_stored_replay_id(stream, bidi, sf, alice_sf_id):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Before the restart"})["id"]
    deliver(stream)
    stream.stop()
    sf.Task.update(salesforce_id, {"Subject": "While the listener was away"})

    again = Listener()
    again.step()
    deliver(again)
    again.stop()

    task = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task
    assert task.name == "While the listener was away"
    assert StreamState.objects.get().replay_id == bidi.latest_replay_id()


def test_an_event_older_than_what_a_pull_applied_does_not_undo_the_newer_state(
    stream, bidi, sf, alice_sf_id
):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "v1"})["id"]
    deliver(stream)
    stream.stop()
    sf.Task.update(salesforce_id, {"Subject": "v2"})
    time.sleep(1.1)  # the next write gets a later second
    sf.Task.update(salesforce_id, {"Subject": "v3"})
    inbound.pull_run(force=True)  # the safety net saw v3 first
    SyncEvent.objects.all().delete()
    # The v2 event comes late, alone in its batch (a replay after a restart, say).
    replaying = Listener()
    replaying.step()
    replaying.session.subscribe(-2)
    events = [e for e in replaying.session.connect() if e.fields.get("Subject") == "v2"]
    assert len(events) == 1

    replaying._apply(SalesforceConnection.objects.get(), events)
    replaying.stop()

    assert TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task.name == "v3"
    assert not SyncEvent.objects.filter(kind="pulled").exists()


def test_a_replayed_event_of_the_second_a_settled_pull_saw_does_not_undo_its_later_change(
    stream, bidi, sf, alice_sf_id
):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "v1"})["id"]
    deliver(stream)
    for attempt in range(5):
        # Two edits in one second (Salesforce stamps to the second); again if a second
        # boundary fell between them. Read off the stream, not applied.
        sf.Task.update(salesforce_id, {"Subject": f"v2 ({attempt})"})
        sf.Task.update(salesforce_id, {"Subject": "v3"})
        older, newer = stream.session.connect(wait=False)
        if older.header["commitTimestamp"] == newer.header["commitTimestamp"]:
            break
    else:
        pytest.fail("no two edits fell in one second")
    bidi.set_clock_offset(3)  # the second is over, and settled, when the safety net reads
    inbound.pull_run(force=True)
    assert TaskSyncRecord.objects.get(salesforce_id=salesforce_id).salesforce_modified_at
    SyncEvent.objects.all().delete()

    # The listener restarted from an older replay id: the first edit's event comes again,
    # alone in its batch.
    stream._apply(SalesforceConnection.objects.get(), [older])
    bidi.set_clock_offset(0)

    assert TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task.name == "v3"
    assert not SyncEvent.objects.filter(kind="pulled").exists()


def test_a_replay_id_salesforce_no_longer_keeps_falls_back_to_a_pull(stream, sf, alice_sf_id):
    stream.stop()
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Missed"})["id"]
    StreamState.objects.update(replay_id=10**9)  # not (or no longer) retained
    fallbacks = StreamState.objects.get().fallbacks

    again = Listener()
    again.step()
    again.stop()

    assert StreamState.objects.get().fallbacks == fallbacks + 1
    assert TaskSyncRecord.objects.filter(salesforce_id=salesforce_id).exists()


def test_while_the_stream_is_live_pulls_become_the_safety_net(stream, bidi, settings):
    settings.SYNC_STREAM_SAFETY_PULL_SECONDS = 600
    PullState.objects.update(last_pull_at=inbound.timezone.now() - inbound.dt.timedelta(seconds=90))
    assert not inbound.pull_due()  # the interval (60 s) passed, the safety net's has not
    stream.stop()
    assert inbound.pull_due()


def test_a_catch_up_pull_that_cannot_run_yet_is_owed_and_the_stream_not_called_live(
    bidi, sf, alice_sf_id, monkeypatch
):
    bidi.set_streaming(timeout_ms=100)
    monkeypatch.setattr(inbound, "LEASE_WAIT", 0.2)
    # A worker died holding the engine lease; it runs out later.
    Lease.objects.update_or_create(
        name=ENGINE,
        defaults={"token": "dead", "locked_until": timezone.now() + dt.timedelta(minutes=1)},
    )
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Before the listener"})["id"]
    listener = Listener()
    listener.step()
    state = StreamState.objects.get()
    assert state.status == StreamState.Status.CATCHING_UP
    assert state.fallbacks == 0
    assert not selectors.stream_live()

    Lease.objects.filter(name=ENGINE).update(locked_until=None, token="")
    listener.step()
    listener.stop()

    assert StreamState.objects.get().fallbacks == 1
    assert TaskSyncRecord.objects.filter(salesforce_id=salesforce_id).exists()


# ---- a restart's catch-up: the events keep coming while the pull re-reads ------------------


@pytest.fixture
def restart(stream, sf, alice_sf_id, monkeypatch):
    """Six of Alice's tasks made while the listener ran, and the listener stopped: the next
    listener's catch-up pull re-reads them (the pull's overlap), two records a chunk, and
    `restart(during)` starts it with `during()` run once, right after its first records are
    applied. Answers a look at Cockpit taken as the catch-up's pull returns, and the
    listener (stop it)."""
    ids = [
        sf.Task.create({"OwnerId": alice_sf_id, "Subject": f"Made before the restart {n}"})["id"]
        for n in range(6)
    ]
    deliver(stream)
    stream.stop()
    monkeypatch.setattr(inbound, "INTERLEAVE_CHUNK", 2, raising=False)

    def start(during, look):
        applied, at_end = inbound.records_apply, []

        def apply_then(*args, **kwargs):
            applied(*args, **kwargs)
            if not start.ran:
                start.ran = True
                during()

        def pull_then_look(**kwargs):
            result = pulled(**kwargs)
            at_end.append(look())
            return result

        pulled = inbound.pull_run
        monkeypatch.setattr(inbound, "records_apply", apply_then)
        monkeypatch.setattr(inbound, "pull_run", pull_then_look)
        listener = Listener()
        listener.step()
        return at_end, listener

    start.ran = False
    start.ids = ids
    return start


def name_of(salesforce_id):
    record = TaskSyncRecord.objects.filter(salesforce_id=salesforce_id).first()
    return record.task.name if record else None


def test_a_task_made_in_salesforce_during_a_restarts_catch_up_reaches_cockpit_before_it_ends(
    restart, sf, alice_sf_id
):
    made = []

    def create():
        made.append(sf.Task.create({"OwnerId": alice_sf_id, "Subject": "During the catch-up"}))

    at_end, listener = restart(create, lambda: name_of(made[0]["id"]))
    listener.stop()

    # The catch-up re-read six tasks, two at a time; the new task's event went in between.
    assert at_end == ["During the catch-up"]


def test_an_edit_during_the_catch_up_is_not_undone_by_the_older_copy_the_catch_up_read(restart, sf):
    last = restart.ids[-1]  # read by the catch-up (SystemModstamp order), applied last

    def edit():
        sf.Task.update(last, {"Subject": "Edited during the catch-up"})

    at_end, listener = restart(edit, lambda: name_of(last))
    deliver(listener)
    listener.stop()

    assert at_end == ["Edited during the catch-up"]
    assert name_of(last) == "Edited during the catch-up"
    assert [name_of(i) for i in restart.ids[:-1]] == [
        f"Made before the restart {n}" for n in range(5)
    ]


def test_a_task_deleted_during_the_catch_up_is_not_brought_back_by_the_copy_it_read(restart, sf):
    last = restart.ids[-1]
    at_end, listener = restart(lambda: sf.Task.delete(last), lambda: name_of(last))
    deliver(listener)
    listener.stop()

    assert at_end == [None]
    assert name_of(last) is None
    assert not Task.objects.filter(name="Made before the restart 5").exists()


def test_a_gap_the_restarts_catch_up_reads_past_costs_no_second_pull(stream, bidi, sf, alice_sf_id):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Before the gap"})["id"]
    deliver(stream)
    stream.stop()
    bidi.set_faults(stream_gap_next=1)
    sf.Task.update(salesforce_id, {"Subject": "Only a pull knows"})
    fallbacks = StreamState.objects.get().fallbacks
    bidi.set_clock_offset(3)  # the catch-up reads after the gap's second is over

    again = Listener()
    again.step()  # the catch-up reads the change; the gap event is replayed meanwhile
    deliver(again)
    again.stop()
    bidi.set_clock_offset(0)

    assert TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task.name == "Only a pull knows"
    assert StreamState.objects.get().fallbacks == fallbacks + 1


def test_a_change_left_to_the_catch_up_and_a_later_event_of_the_task_both_reach_cockpit(
    restart, bidi, sf
):
    last = restart.ids[-1]
    sf.Task.update(last, {"Subject": "Renamed while the listener was away"})
    bidi.set_clock_offset(3)  # the catch-up reads after the rename's second is over

    def detail():
        sf.Task.update(last, {"Description": "Detailed during the catch-up"})

    _, listener = restart(detail, lambda: None)
    deliver(listener)
    listener.stop()
    bidi.set_clock_offset(0)

    task = TaskSyncRecord.objects.get(salesforce_id=last).task
    assert (task.name, task.details) == (
        "Renamed while the listener was away",
        "Detailed during the catch-up",
    )


def test_the_late_echo_of_cockpits_own_write_leaves_the_stamp_a_read_settled(
    stream, bidi, sf, alice_sf_id
):
    # A read 2 s past Cockpit's write (here a pull; a push cycle's verifying read alike)
    # settled the twin's stamp before the write's change event reached the listener. The
    # event tells nothing newer, and applied it would unsettle the stamp: the next write
    # would read first, two calls instead of one.
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Renewal"})["id"]
    deliver(stream)
    task = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task
    tasks.task_update(task=task, name="Renewal (Cockpit)")
    bidi.set_clock_offset(10)
    inbound.pull_run(force=True)
    outbox_push()
    bidi.set_clock_offset(20)
    inbound.pull_run(force=True)
    assert TaskSyncRecord.objects.get(task=task).salesforce_modified_at is not None

    assert deliver(stream) >= 1  # the echo of Cockpit's write

    assert TaskSyncRecord.objects.get(task=task).salesforce_modified_at is not None
    tasks.task_update(task=Task.objects.get(pk=task.pk), name="Renewal (Cockpit, again)")
    bidi.reset_request_log()
    outbox_push()
    log = bidi.request_log()
    assert (log["total"], log["subrequests"]) == (1, {"PATCH sobjects/Task/{id}": 1})
    assert sf.Task.get(salesforce_id)["Subject"] == "Renewal (Cockpit, again)"


# ---- a Salesforce change and change back, seen only in its events -----------------------------
# The merge compares Salesforce's value with the agreed one: a Salesforce user's change and
# change back leaves the value agreed, and a CSM's change made meanwhile would go out over the
# user's last edit without a conflict. Change events tell the story: each value they show is
# a Salesforce change, even where the events are applied together or left to a pull.


def test_a_change_and_change_back_in_one_batch_of_events_meets_a_csm_change_as_a_conflict(
    stream, sf, alice_sf_id
):
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Agreed"})["id"]
    deliver(stream)
    task = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task
    tasks.task_update(task=task, name="Renamed in Cockpit")
    sf.Task.update(salesforce_id, {"Subject": "Renamed in Salesforce for a moment"})
    sf.Task.update(salesforce_id, {"Subject": "Agreed"})  # the Salesforce user's last edit

    deliver(stream)  # both events, one batch
    outbox_push_all()

    conflict = Conflict.objects.get(task_id=task.pk, salesforce_field="Subject")
    assert (conflict.cockpit_value, conflict.salesforce_value) == ("Renamed in Cockpit", "Agreed")
    # Latest change wins: the Salesforce user's change back came after the CSM's rename.
    assert conflict.winner == "salesforce"
    assert Task.objects.get(pk=task.pk).name == "Agreed"
    assert sf.Task.get(salesforce_id)["Subject"] == "Agreed"


def test_the_echoes_of_cockpits_own_writes_in_one_batch_are_no_salesforce_change(stream, sf, alice):
    # Two pushes of one field, their echoes in one batch, and a CSM's third value: the value
    # the second echo replaces was Cockpit's own (the events name the user Cockpit writes
    # as), so the third value goes out as any CSM change does, with no conflict.
    task = tasks.task_create(owner=alice, name="First")
    outbox_push_all()
    deliver(stream)
    for name in ("Second", "Third"):
        tasks.task_update(task=Task.objects.get(pk=task.pk), name=name)
        outbox_push_all()
    tasks.task_update(task=Task.objects.get(pk=task.pk), name="Fourth")

    assert deliver(stream) >= 2
    outbox_push_all()

    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    assert not Conflict.objects.filter(task_id=task.pk).exists()
    assert Task.objects.get(pk=task.pk).name == "Fourth"
    assert sf.Task.get(salesforce_id)["Subject"] == "Fourth"


def test_a_change_and_change_back_left_to_a_catch_up_meets_a_csm_change_as_a_conflict(
    restart, bidi, sf
):
    last = restart.ids[-1]
    task = TaskSyncRecord.objects.get(salesforce_id=last).task
    tasks.task_update(task=task, details="Detailed in Cockpit")
    sf.Task.update(last, {"Description": "Detailed in Salesforce for a moment"})
    sf.Task.update(last, {"Description": None})  # back to what both sides agreed
    bidi.set_clock_offset(3)  # the catch-up reads after the changes' second is over

    _, listener = restart(lambda: None, lambda: None)
    deliver(listener)
    listener.stop()
    bidi.set_clock_offset(0)
    outbox_push_all()

    conflict = Conflict.objects.get(task_id=task.pk, salesforce_field="Description")
    assert conflict.cockpit_value == "Detailed in Cockpit"
    assert conflict.winner == "salesforce"
    assert Task.objects.get(pk=task.pk).details == ""
    assert not sf.Task.get(last)["Description"]


# ---- a change and change back that a read saw the end of, its events coming after -------------
# A worker killed holding the engine lease stalls the listener (up to the lease's 40 s); a
# pull that takes the lease first reads the twin at its agreed value again and sends the CSM's
# change over it. The events that tell of the Salesforce user's change and back then arrive
# as known already (the pull read their end): the overwrite must not stay silent.


@pytest.mark.parametrize("pushed", [True, False], ids=["events after the push", "before it"])
def test_a_change_and_change_back_a_pull_read_past_is_a_conflict_when_its_events_come(
    stream, bidi, sf, alice_sf_id, pushed
):
    # Before the push, the events are skipped as known (the pull read their end); after it,
    # they are applied with its echo, which leaves the twin as Cockpit wrote it.
    task, salesforce_id = read_past(stream, bidi, sf, alice_sf_id)  # before the listener hears
    assert not Conflict.objects.filter(task_id=task.pk).exists()  # the pull could not tell
    if pushed:
        outbox_push_all()
    deliver(stream)  # the events
    outbox_push_all()

    conflict = Conflict.objects.get(task_id=task.pk, salesforce_field="Subject")
    assert (conflict.cockpit_value, conflict.salesforce_value) == ("Renamed in Cockpit", "Agreed")
    assert (conflict.winner, conflict.policy) == ("cockpit", "unseen")
    logged = SyncEvent.objects.get(task_id=task.pk, kind=SyncEvent.Kind.CONFLICT).message
    assert "'Renamed in Salesforce for a moment'" in logged
    page = selectors_timeline(task)
    assert any("changed it and back" in item.detail for item in page)
    assert Task.objects.get(pk=task.pk).name == "Renamed in Cockpit"  # both sides equal
    assert sf.Task.get(salesforce_id)["Subject"] == "Renamed in Cockpit"
    # Recorded once: the same events replayed (a listener restarted) add nothing.
    StreamState.objects.update(replay_id=None)
    again = Listener()
    again.step()
    deliver(again)
    again.stop()
    assert Conflict.objects.filter(task_id=task.pk).count() == 1


def test_a_pull_read_past_no_salesforce_change_records_no_conflict_when_the_echo_comes(
    stream, bidi, sf, alice_sf_id
):
    # The same read, when what Salesforce committed meanwhile was another field's change:
    # the events name no value of the field Cockpit wrote, so nothing is recorded.
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Agreed"})["id"]
    deliver(stream)
    task = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task
    tasks.task_update(task=task, name="Renamed in Cockpit")
    bidi.set_clock_offset(2)
    sf.Task.update(salesforce_id, {"Description": "Detailed in Salesforce"})
    bidi.set_clock_offset(5)

    inbound.pull_run(force=True)
    outbox_push_all()
    deliver(stream)

    assert not Conflict.objects.filter(task_id=task.pk).exists()
    task.refresh_from_db()
    assert (task.name, task.details) == ("Renamed in Cockpit", "Detailed in Salesforce")


# ---- ... and a write of Cockpit's value that has not landed (yet, or ever) ----------------------
# The pull's merge decides to send the CSM's value over a change and back it could not see; the
# overwrite is Cockpit's write, so it is recorded only once that write is agreed: never when
# the push gives up or the CSM stops syncing the task first, and once when it lands late.


def read_past(stream, bidi, sf, alice_sf_id):
    """A twin Salesforce changed and changed back, read past by a pull (events not delivered),
    whose merge keeps the CSM's rename to send: (task, its twin's Id)."""
    salesforce_id = sf.Task.create({"OwnerId": alice_sf_id, "Subject": "Agreed"})["id"]
    deliver(stream)
    task = TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task
    tasks.task_update(task=task, name="Renamed in Cockpit")
    bidi.set_clock_offset(2)  # Salesforce's edits in a later second than the version seen
    sf.Task.update(salesforce_id, {"Subject": "Renamed in Salesforce for a moment"})
    sf.Task.update(salesforce_id, {"Subject": "Agreed"})
    bidi.set_clock_offset(5)  # the pull reads after their second is over
    inbound.pull_run(force=True)
    assert TaskSyncRecord.objects.get(task=task).unseen_windows  # the window is open
    return task, salesforce_id


def written_over(task):
    return SyncEvent.objects.filter(
        task_id=task.pk, kind=SyncEvent.Kind.CONFLICT, message__contains="was written over it"
    )


def pushes_until_given_up(bidi):
    """Push cycles, an attempt each, while Salesforce refuses every write (a locked row), until
    the push gives up for good."""
    bidi.set_faults(lock_next=outbox.MAX_ATTEMPTS)
    now = timezone.now()
    for attempt in range(outbox.MAX_ATTEMPTS):
        with time_machine.travel(now + dt.timedelta(hours=2 * attempt)):
            outbox_push_all()
    bidi.clear_faults()


@pytest.mark.parametrize("early", [False, True], ids=["events after it", "events before it"])
def test_a_read_past_change_records_no_conflict_when_the_push_of_cockpits_value_gives_up(
    stream, bidi, sf, alice_sf_id, early
):
    task, salesforce_id = read_past(stream, bidi, sf, alice_sf_id)
    if early:
        deliver(stream)  # known already: Cockpit's value is not written yet

    pushes_until_given_up(bidi)
    deliver(stream)

    assert OutboxEntry.objects.get(task_id=task.pk).state == OutboxEntry.State.FAILED
    assert sf.Task.get(salesforce_id)["Subject"] == "Agreed"  # never written over
    assert not Conflict.objects.filter(task_id=task.pk).exists()
    assert not written_over(task).exists()
    # A Salesforce user who then sets Cockpit's value herself writes over nothing either.
    sf.Task.update(salesforce_id, {"Subject": "Renamed in Cockpit"})
    deliver(stream)
    inbound.pull_run(force=True)
    assert TaskSyncRecord.objects.get(task=task).agreed_values["Subject"] == "Renamed in Cockpit"
    assert not Conflict.objects.filter(task_id=task.pk).exists()


@pytest.mark.parametrize("early", [False, True], ids=["events after it", "events before it"])
def test_a_read_past_change_records_no_conflict_when_the_csm_desyncs_before_the_push(
    stream, bidi, sf, alice_sf_id, early
):
    task, salesforce_id = read_past(stream, bidi, sf, alice_sf_id)
    if early:
        deliver(stream)

    tasks.task_desync(task=Task.objects.get(pk=task.pk))
    outbox_push_all()  # nothing goes out for a desynced task
    deliver(stream)

    assert sf.Task.get(salesforce_id)["Subject"] == "Agreed"
    assert not Conflict.objects.filter(task_id=task.pk).exists()
    assert not written_over(task).exists()
    # Synced again, the CSM's value goes out over the change after all: recorded then, once.
    tasks.task_resync(task=Task.objects.get(pk=task.pk))
    outbox_push_all()
    assert sf.Task.get(salesforce_id)["Subject"] == "Renamed in Cockpit"
    assert Conflict.objects.filter(task_id=task.pk, policy="unseen").count() == 1
    assert "'Renamed in Salesforce for a moment'" in written_over(task).get().message


def test_a_read_past_change_whose_events_come_before_cockpits_write_lands_is_recorded_once(
    stream, bidi, sf, alice_sf_id
):
    task, salesforce_id = read_past(stream, bidi, sf, alice_sf_id)
    bidi.set_faults(lock_next=1)
    assert outbox_push_all().retried == 1  # refused once: not written yet

    deliver(stream)  # the events, known already
    assert not Conflict.objects.filter(task_id=task.pk).exists()  # nothing written over yet

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert outbox_push_all().pushed == 1  # the retry lands: now it went over the change
    assert sf.Task.get(salesforce_id)["Subject"] == "Renamed in Cockpit"
    conflict = Conflict.objects.get(task_id=task.pk, salesforce_field="Subject")
    assert (conflict.cockpit_value, conflict.salesforce_value) == ("Renamed in Cockpit", "Agreed")
    assert (conflict.winner, conflict.policy) == ("cockpit", "unseen")
    assert "'Renamed in Salesforce for a moment'" in written_over(task).get().message
    # Once: the same events replayed, and the next pull, add nothing.
    StreamState.objects.update(replay_id=None)
    again = Listener()
    again.step()
    deliver(again)
    again.stop()
    inbound.pull_run(force=True)
    assert Conflict.objects.filter(task_id=task.pk).count() == 1
    assert written_over(task).count() == 1
    assert not TaskSyncRecord.objects.get(task=task).unseen_windows


@pytest.mark.parametrize("early", [False, True], ids=["events after it", "events before it"])
def test_a_read_past_change_is_recorded_when_a_csm_s_later_change_is_what_goes_out(
    stream, bidi, sf, alice_sf_id, early
):
    # The CSM renames the task again before the push: the write that lands carries the newer
    # name, and it goes over the hidden change all the same.
    task, salesforce_id = read_past(stream, bidi, sf, alice_sf_id)
    if early:
        deliver(stream)  # known already: nothing written over yet
        assert not Conflict.objects.filter(task_id=task.pk).exists()
    tasks.task_update(task=Task.objects.get(pk=task.pk), name="Renamed twice in Cockpit")

    outbox_push_all()
    deliver(stream)

    assert sf.Task.get(salesforce_id)["Subject"] == "Renamed twice in Cockpit"
    conflict = Conflict.objects.get(task_id=task.pk, salesforce_field="Subject")
    assert (conflict.cockpit_value, conflict.salesforce_value) == (
        "Renamed twice in Cockpit",
        "Agreed",
    )
    assert (conflict.winner, conflict.policy) == ("cockpit", "unseen")
    message = written_over(task).get().message
    assert "'Renamed in Salesforce for a moment'" in message
    assert "'Renamed twice in Cockpit' was written over it" in message


def test_a_read_past_change_is_recorded_when_a_read_finds_the_write_whose_answer_was_lost(
    stream, bidi, sf, alice_sf_id
):
    # Cockpit's write lands but its answer never comes: no push confirms it. The push that
    # reads the twin again finds Cockpit's value there, and that agreement records it.
    task = _read_past_written_answer_lost(stream, bidi, sf, alice_sf_id)
    deliver(stream)  # the events, and the echo of the write

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        outbox_push_all()

    assert Conflict.objects.filter(task_id=task.pk, policy="unseen").count() == 1
    assert written_over(task).count() == 1


def test_a_read_past_change_is_recorded_when_a_lost_write_is_found_after_the_ledger_forgot_it(
    stream, bidi, sf, alice_sf_id
):
    # The write whose answer was lost is found by a read only after the uncertain-writes
    # ledger stopped taking its value for a late echo (sync/uncertain.py, 15 minutes): it
    # landed all the same, and the events that come after record the change it went over.
    task = _read_past_written_answer_lost(stream, bidi, sf, alice_sf_id)
    assert not Conflict.objects.filter(task_id=task.pk).exists()

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=20)):
        outbox_push_all()  # the retry reads the twin: Cockpit's value is there
        assert not Conflict.objects.filter(task_id=task.pk).exists()
        deliver(stream)  # the events, the change and back, and the write's echo

    assert Conflict.objects.filter(task_id=task.pk, policy="unseen").count() == 1
    assert "'Renamed in Salesforce for a moment'" in written_over(task).get().message
    assert Task.objects.get(pk=task.pk).name == "Renamed in Cockpit"


def _read_past_written_answer_lost(stream, bidi, sf, alice_sf_id):
    """A read past a Salesforce change and back (read_past), then Cockpit's write of the CSM's
    rename lands in Salesforce but its answer is lost."""
    task, salesforce_id = read_past(stream, bidi, sf, alice_sf_id)
    bidi.set_faults(lose_answer_next=1)
    outbox_push_all()
    bidi.clear_faults()
    assert sf.Task.get(salesforce_id)["Subject"] == "Renamed in Cockpit"
    return task
