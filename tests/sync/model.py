"""The sync's invariants under every order of events: a Hypothesis state machine.

Actors: a CSM through Cockpit's services; a Salesforce user through simple-salesforce (her own
login, so Salesforce records her as the editor); the engine's push (sometimes only part of the
outbox) and pull; and the emulator's faults, armed for exactly one push or pull (503, locked row,
expired sessions, an answer lost after Salesforce applied the write, a write committed late, a
slow write applied after the retry). Nothing is mocked: everything goes over HTTPS to the
emulator.

The model remembers, per task, the last value each field was given and by whom. After a run
the machine settles (push and pull until nothing moves) and checks:
- one-to-one: every live task has exactly one live twin; nothing else exists on either side;
- convergence: every mapped field is equal on both sides (a Salesforce value with no Cockpit
  mapping stays in Salesforce);
- no lost edit: each field holds its last edit, or a Conflict row names that task and field;
- deletes stick: nothing deleted on one side exists on the other.

Used by tests/sync/test_sync_model.py (a small fixed budget in `make test`) and by
`python -m bench soak` (thousands of operations).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from simple_salesforce import exceptions as sf_exc

from adminconfig.models import SalesforceConnection
from sync import inbound, outbound
from sync.client import SalesforceError
from sync.client_cache import clients_reset
from sync.models import Conflict, OutboxEntry, PullState, SyncEvent, Tombstone
from sync.stream import Listener
from tasks import services as tasks
from tasks.models import Priority, Status, Task, TaskSyncRecord

SF_USER_PASSWORD = "sfemu-Passw0rd"  # every seeded user's (sfemulator/seed.py)
STATUS_OUT = {"Open": "Not Started", "In Progress": "In Progress", "Complete": "Completed"}
PRIORITY_OUT = {"Low": "Low", "Medium": "Normal", "High": "High"}
SF_STATUSES = [*STATUS_OUT.values(), "Waiting on someone else", "Deferred"]
UNMAPPED = {"Waiting on someone else", "Deferred"}
FIELDS = ("Subject", "Description", "ActivityDate", "Priority", "Status")
LATE_MS = 900  # apply_late / late_commit delays; the client gives up after TIMEOUT
TIMEOUT = 0.5
GRACE = 1.5  # SYNC_UNCERTAIN_GRACE_SECONDS: longer than a held write takes to land
RACY = object()  # a Salesforce edit made while a write of ours was still on its way
PUSH_FAULTS = ("error", "lock", "expire", "lose_answer", "late_commit", "apply_late")
PULL_FAULTS = ("error", "expire")
MAX_LIVE = 3


@dataclass
class Logical:
    """One task as the model knows it, whichever side it was born on."""

    ck_id: int | None = None
    sf_id: str | None = None
    deleted: bool = False
    edits: dict[str, Any] = field(default_factory=dict)  # Salesforce field → last value


@dataclass
class Stats:
    runs: int = 0
    operations: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    conflicts: int = 0
    api_calls: int = 0


class SyncWorld:
    """The live org and Cockpit, shared by every run of the machine."""

    def __init__(
        self, emulator: Any, alice: Any, stats: Stats | None = None, fault_percent: int = 30
    ) -> None:
        self.emulator = emulator
        self.alice = alice
        self.stats = stats or Stats()
        # The share of pushes and pulls that run under a fault.
        self.fault_percent = fault_percent
        self.integration = emulator.simple_salesforce()
        self.alice_sf_id = self.integration.query(
            "SELECT Id, Username FROM User WHERE Email = 'alice@example.com'"
        )["records"][0]
        self.alice_username = self.alice_sf_id["Username"]
        self.alice_sf_id = self.alice_sf_id["Id"]
        self._user_sf = None
        self.counter = 0  # values are unique across runs, so none can pass for another

    def user_sf(self) -> Any:
        if self._user_sf is None:
            self._user_sf = self.emulator.simple_salesforce(
                username=self.alice_username, password=SF_USER_PASSWORD
            )
        return self._user_sf

    def as_user(self, call: str, *args: Any) -> Any:
        """A Salesforce user's call, logging in again when a fault expired her session."""
        for attempt in (1, 2):
            target: Any = self.user_sf()
            for part in call.split("."):
                target = getattr(target, part)
            try:
                return target(*args)
            except sf_exc.SalesforceExpiredSession:
                if attempt == 2:
                    raise
                self._user_sf = None
        return None

    def live_salesforce_tasks(self) -> dict[str, dict[str, Any]]:
        self.integration = self.emulator.simple_salesforce()
        rows = self.integration.query_all(
            f"SELECT Id, {', '.join(FIELDS)}, Cockpit_Task_Id__c FROM Task "  # noqa: S608
            f"WHERE OwnerId = '{self.alice_sf_id}'"
        )["records"]
        return {r["Id"]: r for r in rows}

    def wipe(self) -> None:
        """A fresh start for the next run: no tasks on either side, nothing pending."""
        self.emulator.clear_faults()
        # A slow write of the last run must not land in this one.
        self.emulator.wait_for_waiting_writes(0)
        ids = list(self.live_salesforce_tasks())
        for start in range(0, len(ids), 200):
            self.integration.restful(
                "composite/sobjects",
                method="DELETE",
                params={"ids": ",".join(ids[start : start + 200]), "allOrNone": "false"},
            )
        Task.objects.all().delete()
        for model in (OutboxEntry, Conflict, SyncEvent, Tombstone, TaskSyncRecord):
            model.objects.all().delete()
        PullState.objects.update_or_create(
            pk=1, defaults={"watermark": timezone.now(), "last_pull_at": None}
        )
        clients_reset()


def build_machine(world: SyncWorld) -> type[RuleBasedStateMachine]:
    class SyncMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tasks: list[Logical] = []
            self.listener: Listener | None = None
            world.wipe()
            world.stats.runs += 1
            self.calls_before = world.emulator.api_calls()

        # ---- helpers ----------------------------------------------------------------------

        def _next(self, prefix: str) -> str:
            world.counter += 1
            return f"{prefix}{world.counter}"

        def _pick(self, pick: int) -> Logical | None:
            """Mostly a live task; now and then one deleted on the other side but not yet
            synced (a delete racing an edit)."""
            candidates = [t for t in self.tasks if not t.deleted]
            if pick % 6 == 0 or not candidates:
                candidates = self.tasks
            return candidates[pick % len(candidates)] if candidates else None

        def _cockpit_task(self, item: Logical) -> Task | None:
            if item.ck_id is None and item.sf_id:
                item.ck_id = (
                    TaskSyncRecord.objects.filter(salesforce_id=item.sf_id)
                    .values_list("task_id", flat=True)
                    .first()
                )
            if item.ck_id is None:
                return None
            return Task.objects.select_related("status", "priority").filter(pk=item.ck_id).first()

        def _salesforce_id(self, item: Logical) -> str | None:
            if item.sf_id is None and item.ck_id is not None:
                item.sf_id = (
                    TaskSyncRecord.objects.filter(task_id=item.ck_id)
                    .values_list("salesforce_id", flat=True)
                    .first()
                )
            return item.sf_id

        def _count(self, name: str) -> None:
            world.stats.operations[name] += 1

        # ---- a CSM in Cockpit --------------------------------------------------------------

        @initialize()
        def start(self) -> None:
            """Two synced tasks, one born on each side, for the steps to work on."""
            self.csm_creates()
            self.salesforce_user_creates()
            outbound.outbox_push_all()
            inbound.pull_run(force=True)

        def _few(self) -> bool:
            # A handful of tasks at a time: the steps pile up on the same tasks, where the
            # interesting orders are.
            return len([t for t in self.tasks if not t.deleted]) < MAX_LIVE

        @precondition(lambda self: self._few())
        @rule()
        def csm_creates(self) -> None:
            name = self._next("ck-name-")
            task = tasks.task_create(owner=world.alice, name=name)
            self.tasks.append(
                Logical(
                    ck_id=task.pk,
                    edits={"Subject": name},
                )
            )
            self._count("csm_create")

        @rule(
            pick=st.integers(0, 99),
            what=st.sampled_from(
                ["name", "details", "due_date", "priority", "complete", "reopen", "progress"]
            ),
            priority=st.sampled_from(list(PRIORITY_OUT)),
        )
        def csm_edits(self, pick: int, what: str, priority: str) -> None:
            item = self._pick(pick)
            task = self._cockpit_task(item) if item else None
            if item is None or task is None:
                return
            before = self._as_salesforce(task)
            if what == "name":
                value = self._next("ck-name-")
                tasks.task_update(task=task, name=value)
                edit = ("Subject", value)
            elif what == "details":
                value = self._next("ck-details-")
                tasks.task_update(task=task, details=value)
                edit = ("Description", value)
            elif what == "due_date":
                world.counter += 1
                day = dt.date(2027, 1, 1) + dt.timedelta(days=world.counter % 3000)
                tasks.task_update(task=task, due_date=day)
                edit = ("ActivityDate", day.isoformat())
            elif what == "priority":
                tasks.task_update(task=task, priority=Priority.objects.get(value=priority))
                edit = ("Priority", PRIORITY_OUT[priority])
            elif what == "complete":
                tasks.task_complete(task=task)
                edit = ("Status", "Completed")
            elif what == "reopen":
                tasks.task_reopen(task=task)
                edit = ("Status", STATUS_OUT[task.status.value])
            else:
                tasks.task_update(task=task, status=Status.objects.get(value="In Progress"))
                edit = ("Status", "In Progress")
            task.refresh_from_db()
            # Saving the value a field already has is no edit: Salesforce keeps its own then.
            changed = before[edit[0]] != self._as_salesforce(task)[edit[0]]
            if changed and not item.deleted:
                item.edits[edit[0]] = edit[1]
            self._count("csm_edit")

        def _as_salesforce(self, task: Task) -> dict[str, Any]:
            """A Cockpit task's values as the default mapping writes them to Salesforce."""
            return {
                "Subject": task.name,
                "Description": task.details or None,
                "ActivityDate": task.due_date.isoformat() if task.due_date else None,
                "Priority": PRIORITY_OUT[task.priority.value],
                "Status": STATUS_OUT[task.status.value],
            }

        @rule(pick=st.integers(0, 99))
        def csm_deletes(self, pick: int) -> None:
            item = self._pick(pick)
            task = self._cockpit_task(item) if item else None
            if item is None or task is None:
                return
            self._salesforce_id(item)
            tasks.task_delete(task=task)
            item.deleted = True
            self._count("csm_delete")

        # ---- a Salesforce user -------------------------------------------------------------

        @precondition(lambda self: self._few())
        @rule()
        def salesforce_user_creates(self) -> None:
            subject = self._next("sf-subject-")
            answer = world.as_user(
                "Task.create", {"Subject": subject, "OwnerId": world.alice_sf_id}
            )
            self.tasks.append(
                Logical(
                    sf_id=answer["id"],
                    edits={"Subject": subject},
                )
            )
            self._count("sf_create")

        @rule(
            pick=st.integers(0, 99),
            what=st.sampled_from(FIELDS),
            status=st.sampled_from(SF_STATUSES),
            priority=st.sampled_from(list(PRIORITY_OUT.values())),
        )
        def salesforce_user_edits(self, pick: int, what: str, status: str, priority: str) -> None:
            item = self._pick(pick)
            salesforce_id = self._salesforce_id(item) if item else None
            if item is None or not salesforce_id:
                return
            if what == "Subject":
                value: Any = self._next("sf-subject-")
            elif what == "Description":
                value = self._next("sf-details-")
            elif what == "ActivityDate":
                world.counter += 1
                value = (dt.date(2037, 1, 1) + dt.timedelta(days=world.counter % 3000)).isoformat()
            elif what == "Priority":
                value = priority
            else:
                value = status
            # Salesforce has no conditional writes in sObject Collections: a write of Cockpit's
            # that is still on its way when she saves lands over her value, and nobody can
            # tell. The README names this limit; the model checks only that both sides agree.
            racing = world.emulator.waiting_writes() > 0
            try:
                before = world.as_user("Task.get", salesforce_id)[what]
                world.as_user("Task.update", salesforce_id, {what: value})
            except sf_exc.SalesforceResourceNotFound:
                return  # already deleted in Salesforce
            if not item.deleted and (before or None) != value:  # saving the same value: no edit
                item.edits[what] = RACY if racing else value
            self._count("sf_edit")

        @rule(pick=st.integers(0, 99))
        def salesforce_user_deletes(self, pick: int) -> None:
            item = self._pick(pick)
            salesforce_id = self._salesforce_id(item) if item else None
            if item is None or not salesforce_id:
                return
            try:
                world.as_user("Task.delete", salesforce_id)
            except sf_exc.SalesforceResourceNotFound:
                return
            item.deleted = True
            self._count("sf_delete")

        # ---- the engine --------------------------------------------------------------------

        @rule(limit=st.sampled_from([1, 2, 2000]), roll=st.integers(0, 99))
        def push(self, limit: int, roll: int) -> None:
            """A push cycle (sometimes of only part of the outbox), now and then under a fault
            armed for exactly this cycle."""
            fault = self._fault(roll, PUSH_FAULTS)
            try:
                outbound.outbox_push(limit=limit)
            finally:
                if fault:
                    world.emulator.clear_faults()
            self._count("push")

        @rule(roll=st.integers(0, 99))
        def pull(self, roll: int) -> None:
            fault = self._fault(roll, PULL_FAULTS)
            try:
                inbound.pull_run(force=True)
            finally:
                if fault:
                    world.emulator.clear_faults()
            self._count("pull")

        @rule(roll=st.integers(0, 99))
        def stream_delivers(self, roll: int) -> None:
            """The change-event listener applies what Salesforce published so far (echoes of
            Cockpit's own pushes included); now and then the next change is published as a
            gap, which only a pull can fill."""
            if roll < 10:
                world.emulator.set_faults(stream_gap_next=1)
                world.stats.faults["stream_gap"] += 1
            if self.listener is None:
                self.listener = Listener(wait=False)
            try:
                self.listener.step()
            except SalesforceError:
                self.listener = None  # a lost connection: the next delivery starts over
            self._count("stream")

        def _fault(self, roll: int, kinds: tuple[str, ...]) -> str | None:
            if roll >= world.fault_percent:
                return None
            fault = kinds[roll % len(kinds)]
            self._arm(fault)
            return fault

        def _arm(self, fault: str) -> None:
            world.stats.faults[fault] += 1
            if fault == "error":
                world.emulator.set_faults(fail_next=1)
            elif fault == "lock":
                world.emulator.set_faults(lock_next=1)
            elif fault == "expire":
                world.emulator.expire_tokens()
            elif fault == "lose_answer":
                world.emulator.set_faults(lose_answer_next=1)
            elif fault == "late_commit":
                world.emulator.set_faults(late_commit_next=1, late_commit_ms=LATE_MS // 2)
            else:
                world.emulator.set_faults(apply_late_next=1, apply_late_ms=LATE_MS)

        # ---- the end of a run: settle, then check -----------------------------------------

        def teardown(self) -> None:
            if self.listener is not None:
                self.listener.stop()
            try:
                self.settle()
                self.check()
            finally:
                world.emulator.clear_faults()
                world.stats.api_calls += world.emulator.api_calls() - self.calls_before

        @rule(pick=st.integers(0, 99))
        def slow_answer_applied_after_the_retry(self, pick: int) -> None:
            """The fault as it hurts: a push times out while Salesforce is slow, the CSM edits
            again, the retry goes out and lands first, then the slow write lands."""
            self.csm_edits(pick, "name", "Low")
            self._arm("apply_late")
            try:
                outbound.outbox_push()
            finally:
                world.emulator.clear_faults()
            self.csm_edits(pick, "name", "Low")
            self.time_passes()
            outbound.outbox_push()
            self._count("push")

        @rule()
        def time_passes(self) -> None:
            """Backoffs run out: what waits to be retried is due again, and the connection's
            pause after an outage is over."""
            OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING).update(
                next_attempt_at=timezone.now()
            )
            SalesforceConnection.objects.update(retry_at=None)
            self._count("time_passes")

        def settle(self) -> None:
            quiet = 0
            for round_ in range(16):
                if round_ == 1:
                    # Writes Salesforce is still applying land after the first round's retries,
                    # the order in which a late write does harm.
                    world.emulator.wait_for_waiting_writes(0)
                OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING).update(
                    next_attempt_at=timezone.now()
                )
                SalesforceConnection.objects.update(retry_at=None)
                pushed = outbound.outbox_push_all()
                pulled = inbound.pull_run(force=True)
                moved = pushed.pushed + pushed.deleted + pulled.created + pulled.updated
                moved += pulled.deleted
                pending = OutboxEntry.objects.filter(
                    state__in=[OutboxEntry.State.PENDING, OutboxEntry.State.IN_FLIGHT]
                ).exists()
                quiet = quiet + 1 if not moved and not pending else 0
                if quiet >= 2 and round_ >= 1:
                    return
                if pending and not moved:
                    time.sleep(GRACE / 4)  # a retry waits out the grace after a lost answer
            raise AssertionError("the sync did not settle in 16 rounds of push and pull")

        def check(self) -> None:
            failed = list(
                OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED).values_list(
                    "task_id", "last_error"
                )
            )
            assert not failed, f"pushes failed for good: {failed}"
            remote = world.live_salesforce_tasks()
            links = dict(TaskSyncRecord.objects.values_list("task_id", "salesforce_id"))
            cockpit = {t.pk: t for t in Task.objects.select_related("status", "priority")}
            live = [t for t in self.tasks if not t.deleted]
            # One-to-one, and nothing deleted came back.
            for item in live:
                self._cockpit_task(item)  # learns the Cockpit id of tasks born in Salesforce
            known = {t.ck_id for t in live}
            assert len(cockpit) == len(live), (
                f"{len(cockpit)} Cockpit tasks for {len(live)} live tasks: duplicates or "
                "deletes that did not stick; the unexpected ones: "
                + "; ".join(self._story(pk) for pk in cockpit if pk not in known)
            )
            assert len(remote) == len(live), (
                f"{len(remote)} Salesforce tasks for {len(live)} live tasks: duplicates or "
                "deletes that did not stick"
            )
            linked_ids = [links.get(pk) for pk in cockpit]
            assert None not in linked_ids, "a live Cockpit task has no Salesforce twin"
            assert len(set(linked_ids)) == len(linked_ids)
            assert set(linked_ids) == set(remote), "a twin is missing or an extra task exists"
            for item in self.tasks:
                if item.deleted:
                    if item.ck_id is not None:
                        assert item.ck_id not in cockpit, "a deleted task lives on in Cockpit"
                    if item.sf_id is not None:
                        assert item.sf_id not in remote, "a deleted twin lives on in Salesforce"
                    continue
                task = self._cockpit_task(item)
                assert task is not None, f"{item} has no Cockpit task"
                salesforce_id = links[task.pk]
                if item.sf_id is not None:
                    assert salesforce_id == item.sf_id, "re-linked to another Salesforce task"
                self._check_fields(item, task, remote[salesforce_id])
            world.stats.conflicts += Conflict.objects.count()

        def _story(self, task_id: int) -> str:
            """What the sync did to a task, for a failure message."""
            events = SyncEvent.objects.filter(task_id=task_id).order_by("id")
            link = TaskSyncRecord.objects.filter(task_id=task_id).first()
            return f"task {task_id} ({link}): " + " | ".join(
                f"{e.kind} {e.salesforce_id} {e.message}" for e in events
            )

        def _check_fields(self, item: Logical, task: Task, record: dict[str, Any]) -> None:
            ours = self._as_salesforce(task)
            for name in FIELDS:
                theirs = record[name] or None
                conflicted = Conflict.objects.filter(
                    task_id=task.pk, salesforce_field=name
                ).exists()
                if theirs not in UNMAPPED:
                    assert ours[name] == theirs, (
                        f"task {task.pk} {name}: Cockpit {ours[name]!r} != Salesforce {theirs!r}"
                    )
                expected = item.edits.get(name)
                if expected is not None and expected is not RACY and not conflicted:
                    assert theirs == expected, (
                        f"task {task.pk} {name}: the last edit {expected!r} was lost "
                        f"(Salesforce {theirs!r}, Cockpit {ours[name]!r}) and no conflict names it"
                    )

    return SyncMachine
