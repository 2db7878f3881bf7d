"""The sync's invariants under every order of events: a Hypothesis state machine.

Actors: CSMs through Cockpit's services (edits, completing and reopening, reassigning a task to
another CSM, a company, desyncing and syncing again); a Salesforce user through simple-salesforce
(her own login, so Salesforce records her as the editor: edits, reassigning to another user,
mapped or not, setting the Account); an admin (saving field and picklist mappings, defaults,
linking a company to an Account, switching sync off and on); the engine's push (sometimes only
part of the outbox), pull, change events, mapping re-syncs (their message arriving late) and
drift repair; and the emulator's faults, armed for exactly one push or pull (503, locked row,
expired sessions, an answer lost after Salesforce applied the write, a write committed late, a
slow write applied after the retry). Nothing is mocked: everything goes over HTTPS to the
emulator.

The model remembers, per task, the last value each field was given and by whom, in Salesforce's
terms. After a run the admin puts the default mappings back, the CSMs sync their desynced tasks
again, the machine settles (push and pull until nothing moves, a drift repair when a twin moved
to a Salesforce user no pull sees) and checks:
- one-to-one: every live task has exactly one live twin; nothing else exists on either side;
- convergence: every mapped field means the same on both sides (a Salesforce value with no
  Cockpit mapping stays in Salesforce);
- no lost edit: each field holds its last edit, or a Conflict row of that task and field names
  the lost value (as Salesforce's value or as Cockpit's);
- deletes stick: nothing deleted on one side exists on the other.
Violations are counted by kind (Stats.found) before the run fails, so a soak prints figures.

Rule groups (GROUPS) can be left out of a run: `build_machine(world, skip={...})`. CI leaves
out a group only while the fix for what it finds has not landed (see the test module).

Used by tests/sync/test_sync_model.py (a small fixed budget in `make test`) and by
`python -m bench soak` (thousands of operations).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from simple_salesforce import exceptions as sf_exc

from adminconfig import services as config
from adminconfig.models import (
    FieldMapping,
    PicklistMapping,
    ResyncRun,
    SalesforceConnection,
    UserMapping,
)
from sync import inbound, reconcile, resyncs
from sync.client import SalesforceError
from sync.client_cache import clients_reset
from sync.models import (
    Conflict,
    OutboxEntry,
    PullState,
    ReconcileRun,
    ResyncWatch,
    SalesforceAccount,
    SyncEvent,
    Tombstone,
)
from sync.push import outbox_push, outbox_push_all
from sync.stream import Listener
from tasks import services as tasks
from tasks.models import Company, Priority, Status, Task, TaskSyncRecord

SF_USER_PASSWORD = "sfemu-Passw0rd"  # every seeded user's (sfemulator/seed.py)
STATUS_ROWS = {"Open": ["Not Started"], "In Progress": ["In Progress"], "Complete": ["Completed"]}
PRIORITY_ROWS = {"Low": ["Low"], "Medium": ["Normal"], "High": ["High"]}
PRIORITY_OUT = {c: v[0] for c, v in PRIORITY_ROWS.items()}
SF_STATUSES = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
FIELDS = ("Subject", "Description", "ActivityDate", "Priority", "Status", "OwnerId", "WhatId")
LATE_MS = 900  # apply_late / late_commit delays; the client gives up after TIMEOUT
TIMEOUT = 0.5
GRACE = 1.5  # SYNC_UNCERTAIN_GRACE_SECONDS: longer than a held write takes to land
PUSH_FAULTS = ("error", "lock", "expire", "lose_answer", "late_commit", "apply_late")
PULL_FAULTS = ("error", "expire")
MAX_LIVE = 3
MAPPING_MOVES = (
    "touch",  # Editable ticked off and on again: two saves that change nothing (issue 16 #1)
    "lock_subject",
    "unlock_subject",
    "description_remove",
    "description_add",
    "description_to_salesforce",
    "description_from_salesforce",
    "description_both",
    "deferred_mapped",  # Open ← Not Started, Deferred
    "deferred_unmapped",
    "in_progress_unmapped",  # In Progress goes out as the default Status
    "in_progress_mapped",
    "default_status",  # Not Started ↔ Waiting on someone else
    "default_priority",  # Normal ↔ High (every priority is mapped: changes nothing)
)
# Salesforce's clock moves on by CLOCK_STEP seconds a rule, up to CLOCK_AHEAD_MAX ahead of
# Cockpit's (the pull's getDeleted window allows a minute of skew).
CLOCK_STEP = 5
CLOCK_AHEAD_MAX = 55
# Rule groups, by what they exercise; a run can leave some out (build_machine's `skip`).
GROUPS = ("mappings", "desync", "owners", "accounts", "switches", "repair")


class _Racy:
    def __repr__(self) -> str:
        return "RACY"


# A Salesforce edit made while a write of ours was still on its way, or a field whose meaning
# an admin changed since: only convergence is checked for it.
RACY: Any = _Racy()


@dataclass(frozen=True)
class Either:
    """Both sides changed a field while they were not syncing it (a desync): the result is one
    of the two, and a conflict names the other."""

    values: tuple[Any, ...]


@dataclass
class Logical:
    """One task as the model knows it, whichever side it was born on."""

    ck_id: int | None = None
    sf_id: str | None = None
    deleted: bool = False
    edits: dict[str, Any] = field(default_factory=dict)  # Salesforce field → last value
    desynced: bool = False
    # Edits made on each side while desynced: merged into `edits` when it syncs again.
    ck_side: dict[str, Any] = field(default_factory=dict)
    sf_side: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mappings:
    """The admin's mapping as the model knows it."""

    status: dict[str, list[str]] = field(default_factory=lambda: _copy(STATUS_ROWS))
    default_status: str = "Not Started"
    default_priority: str = "Normal"
    description: str | None = FieldMapping.Direction.BOTH  # None: not mapped
    subject_editable: bool = True

    def status_out(self, value: str) -> str:
        rows = self.status.get(value)
        return rows[0] if rows else self.default_status

    def status_in(self, value: str | None) -> str | None:
        for cockpit, rows in self.status.items():
            if value in rows:
                return cockpit
        return None

    def is_default(self) -> bool:
        return self == Mappings()


def _copy(rows: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: list(v) for k, v in rows.items()}


@dataclass
class Stats:
    runs: int = 0
    operations: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    conflicts: int = 0
    api_calls: int = 0
    # What the final checks looked at, and what they found wrong, by kind.
    checked: Counter = field(default_factory=Counter)
    found: Counter = field(default_factory=Counter)


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
        users = {
            r["Email"]: r
            for r in self.integration.query("SELECT Id, Username, Email FROM User")["records"]
        }
        self.alice_username = users["alice@example.com"]["Username"]
        self.alice_sf_id = users["alice@example.com"]["Id"]
        self.bob_sf_id = users["bob@example.com"]["Id"]
        # A Salesforce user with no Cockpit user: no pull sees the tasks she owns.
        self.dave_sf_id = users["dave@example.com"]["Id"]
        self.bob = User.objects.filter(username="bob").first() or config.user_create(
            username="bob", email="bob@example.com", password="model-password-1"
        )
        config.user_mapping_set(user=self.bob, salesforce_user_id=self.bob_sf_id)
        self.owners_out = {self.alice.pk: self.alice_sf_id, self.bob.pk: self.bob_sf_id}
        self.csms = {self.alice_sf_id: self.alice, self.bob_sf_id: self.bob}
        self.accounts = {
            name: self.integration.Account.create({"Name": name})["id"]
            for name in ("Acme Corp", "Globex")
        }
        self._user_sf = None
        self.counter = 0  # values are unique across runs, so none can pass for another
        self.clock_ahead = 0  # seconds the emulator's clock was moved on (never back)

    @property
    def connection(self) -> SalesforceConnection:
        return SalesforceConnection.objects.get(is_primary=True)

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
        owners = ", ".join(f"'{i}'" for i in (self.alice_sf_id, self.bob_sf_id, self.dave_sf_id))
        rows = self.integration.query_all(
            f"SELECT Id, {', '.join(FIELDS)}, Cockpit_Task_Id__c, LastModifiedById FROM Task "  # noqa: S608
            f"WHERE OwnerId IN ({owners})"
        )["records"]
        return {r["Id"]: r for r in rows}

    def wipe(self) -> None:
        """A fresh start for the next run: no tasks on either side, nothing pending, the
        default mappings, sync on, Acme Corp linked to its Account and Globex not."""
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
        Company.objects.all().delete()
        for model in (
            OutboxEntry,
            Conflict,
            SyncEvent,
            Tombstone,
            TaskSyncRecord,
            ResyncRun,
            ResyncWatch,
            ReconcileRun,
            SalesforceAccount,
        ):
            model.objects.all().delete()
        connection = self.connection
        FieldMapping.objects.filter(connection=connection).delete()
        PicklistMapping.objects.filter(connection=connection).delete()
        config.mappings_create_defaults(connection=connection)
        config.connection_update(
            connection=connection, default_status="Not Started", default_priority="Normal"
        )
        config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
        UserMapping.objects.exclude(user__in=[self.alice, self.bob]).delete()
        tasks.company_create(name="Acme Corp", salesforce_account_id=self.accounts["Acme Corp"])
        tasks.company_create(name="Globex")
        PullState.objects.update_or_create(
            pk=1, defaults={"watermark": timezone.now(), "last_pull_at": None}
        )
        clients_reset()


def build_machine(world: SyncWorld, skip: frozenset[str] = frozenset()) -> type[Any]:
    unknown = set(skip) - set(GROUPS)
    assert not unknown, f"unknown rule groups {unknown}; known: {GROUPS}"

    def enabled(group: str) -> Any:
        return precondition(lambda self: group not in skip)

    class SyncMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tasks: list[Logical] = []
            self.listener: Listener | None = None
            self.mappings = Mappings()
            self.pending_resyncs: list[int] = []
            self.hidden = False  # a twin went to a Salesforce user no pull sees
            world.wipe()
            world.stats.runs += 1
            self.calls_before = world.emulator.api_calls()
            self.links = self._company_links()

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
            return (
                Task.objects.select_related("status", "priority", "company")
                .filter(pk=item.ck_id)
                .first()
            )

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

        def _record(self, item: Logical, side: str, name: str, value: Any) -> None:
            """An edit the model expects to stick (side: "ck" or "sf")."""
            if item.deleted:
                return
            if name == "Description" and self.mappings.description != "both":
                value = RACY  # not synced both ways now: the sides may differ meanwhile
            if item.desynced:
                (item.ck_side if side == "ck" else item.sf_side)[name] = value
            else:
                item.edits[name] = value

        def _loosen(self, name: str) -> None:
            """An admin changed what the field's values mean: earlier edits are checked for
            convergence only."""
            for item in self.tasks:
                for edits in (item.edits, item.ck_side, item.sf_side):
                    if name in edits:
                        edits[name] = RACY

        def _as_salesforce(self, task: Task) -> dict[str, Any]:
            """A Cockpit task's values as the admin's mapping writes them to Salesforce."""
            company = task.company
            return {
                "Subject": task.name,
                "Description": task.details or None,
                "ActivityDate": task.due_date.isoformat() if task.due_date else None,
                "Priority": PRIORITY_OUT[task.priority.value],
                "Status": self.mappings.status_out(task.status.value),
                "OwnerId": world.owners_out.get(task.owner_id),
                "WhatId": company.salesforce_account_id if company else None,
            }

        # ---- a CSM in Cockpit --------------------------------------------------------------

        @initialize()
        def start(self) -> None:
            """Two synced tasks, one born on each side, for the steps to work on."""
            self.csm_creates()
            self.salesforce_user_creates()
            outbox_push_all()
            inbound.pull_run(force=True)
            self._links_followed()

        def _few(self) -> bool:
            # A handful of tasks at a time: the steps pile up on the same tasks, where the
            # interesting orders are.
            return len([t for t in self.tasks if not t.deleted]) < MAX_LIVE

        @precondition(lambda self: self._few())
        @rule()
        def csm_creates(self) -> None:
            name = self._next("ck-name-")
            task = tasks.task_create(owner=world.alice, name=name)
            self.tasks.append(Logical(ck_id=task.pk, edits={"Subject": name}))
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
            try:
                if what == "name":
                    tasks.task_update(task=task, name=self._next("ck-name-"))
                elif what == "details":
                    tasks.task_update(task=task, details=self._next("ck-details-"))
                elif what == "due_date":
                    world.counter += 1
                    day = dt.date(2027, 1, 1) + dt.timedelta(days=world.counter % 3000)
                    tasks.task_update(task=task, due_date=day)
                elif what == "priority":
                    tasks.task_update(task=task, priority=Priority.objects.get(value=priority))
                elif what == "complete":
                    tasks.task_complete(task=task)
                elif what == "reopen":
                    tasks.task_reopen(task=task)
                else:
                    tasks.task_update(task=task, status=Status.objects.get(value="In Progress"))
            except ValidationError:
                # Only a field the admin locked refuses a CSM's edit.
                assert what == "name" and not self.mappings.subject_editable, (
                    f"a CSM's {what} edit was refused"
                )
                self._count("csm_edit_refused")
                return
            self._csm_changed(item, task, before)
            self._count("csm_edit")

        def _csm_changed(self, item: Logical, task: Task, before: dict[str, Any]) -> None:
            task.refresh_from_db()
            after = self._as_salesforce(task)
            for name in FIELDS:
                # Saving the value a field already has is no edit: Salesforce keeps its own.
                if before[name] != after[name]:
                    self._record(item, "ck", name, after[name])

        @enabled("owners")
        @rule(pick=st.integers(0, 99))
        def csm_reassigns(self, pick: int) -> None:
            """The task goes to the other CSM (each is mapped to a Salesforce user)."""
            item = self._pick(pick)
            task = self._cockpit_task(item) if item else None
            if item is None or task is None:
                return
            before = self._as_salesforce(task)
            owner = world.bob if task.owner_id == world.alice.pk else world.alice
            tasks.task_update(task=task, owner=owner)
            self._csm_changed(item, task, before)
            self._count("csm_reassign")

        @enabled("accounts")
        @rule(pick=st.integers(0, 99), which=st.sampled_from([None, "Acme Corp", "Globex"]))
        def csm_sets_company(self, pick: int, which: str | None) -> None:
            item = self._pick(pick)
            task = self._cockpit_task(item) if item else None
            if item is None or task is None:
                return
            company = Company.objects.filter(name=which).first() if which else None
            if which and company is None:
                return  # the admin deleted it
            before = self._as_salesforce(task)
            tasks.task_update(task=task, company=company)
            self._csm_changed(item, task, before)
            self._count("csm_company")

        @rule(pick=st.integers(0, 99))
        def csm_completes_several(self, pick: int) -> None:
            """The cockpit's bulk action: complete the CSM's open tasks among those ticked."""
            item = self._pick(pick)
            task = self._cockpit_task(item) if item else None
            if task is None:
                return
            owned = [
                (t, self._cockpit_task(t))
                for t in self.tasks
                if not t.deleted and t.ck_id is not None
            ]
            owned = [(t, ck) for t, ck in owned if ck is not None and ck.owner_id == task.owner_id]
            befores = {t.ck_id: self._as_salesforce(ck) for t, ck in owned}
            tasks.task_complete_many(owner=task.owner, task_ids=[ck.pk for _, ck in owned])
            for t, ck in owned:
                self._csm_changed(t, ck, befores[t.ck_id])
            self._count("csm_complete_many")

        @rule(pick=st.integers(0, 99))
        def csm_deletes(self, pick: int) -> None:
            item = self._pick(pick)
            task = self._cockpit_task(item) if item else None
            if item is None or task is None or item.desynced:
                return
            self._salesforce_id(item)
            tasks.task_delete(task=task)
            item.deleted = True
            self._count("csm_delete")

        @enabled("desync")
        @rule(pick=st.integers(0, 99))
        def csm_desyncs_or_syncs_again(self, pick: int) -> None:
            """A CSM stops syncing a task, or syncs a stopped one again."""
            item = self._pick(pick)
            task = self._cockpit_task(item) if item else None
            if item is None or task is None or item.deleted:
                return
            if item.desynced:
                self._resync(item, task)
                return
            try:
                tasks.task_desync(task=task)
            except ValidationError:
                return  # not linked yet: nothing to stop
            item.desynced = True
            self._count("desync")

        def _resync(self, item: Logical, task: Task) -> None:
            tasks.task_resync(task=task)
            item.desynced = False
            # What changed on one side only goes over; both sides changed: one wins, and a
            # conflict names the other.
            for name in set(item.ck_side) | set(item.sf_side):
                ours, theirs = item.ck_side.get(name, RACY), item.sf_side.get(name, RACY)
                if name not in item.sf_side or ours == theirs:
                    item.edits[name] = ours
                elif name not in item.ck_side:
                    item.edits[name] = theirs
                elif RACY in (ours, theirs):
                    item.edits[name] = RACY
                else:
                    item.edits[name] = Either((ours, theirs))
            item.ck_side.clear()
            item.sf_side.clear()
            self._count("resync_task")

        # ---- a Salesforce user -------------------------------------------------------------

        @precondition(lambda self: self._few())
        @rule()
        def salesforce_user_creates(self) -> None:
            subject = self._next("sf-subject-")
            answer = world.as_user(
                "Task.create", {"Subject": subject, "OwnerId": world.alice_sf_id}
            )
            self.tasks.append(Logical(sf_id=answer["id"], edits={"Subject": subject}))
            self._count("sf_create")

        @rule(
            pick=st.integers(0, 99),
            what=st.sampled_from(FIELDS[:5]),
            status=st.sampled_from(SF_STATUSES),
            priority=st.sampled_from(list(PRIORITY_OUT.values())),
        )
        def salesforce_user_edits(self, pick: int, what: str, status: str, priority: str) -> None:
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
            self._salesforce_write(pick, what, value, "sf_edit")

        @rule(
            pick=st.integers(0, 99),
            what=st.sampled_from(["Subject", "Priority", "Status"]),
            status=st.sampled_from(SF_STATUSES),
            priority=st.sampled_from(list(PRIORITY_OUT.values())),
        )
        def salesforce_user_changes_and_back(
            self, pick: int, what: str, status: str, priority: str
        ) -> None:
            """A Salesforce user changes a field and sets it back at once: a read sees the
            end only, the change events tell the story (a CSM's change meanwhile, overwriting
            it, is then recorded as a conflict when they come)."""
            item = self._pick(pick)
            salesforce_id = self._salesforce_id(item) if item else None
            if item is None or not salesforce_id:
                return
            try:
                before = world.as_user("Task.get", salesforce_id)[what]
            except sf_exc.SalesforceResourceNotFound:
                return
            value = {"Subject": self._next("sf-moment-"), "Priority": priority}.get(what, status)
            self._salesforce_write(pick, what, value, "sf_change_back")
            self._salesforce_write(pick, what, before, "sf_change_back")

        def _salesforce_write(self, pick: int, what: str, value: Any, operation: str) -> None:
            item = self._pick(pick)
            salesforce_id = self._salesforce_id(item) if item else None
            if item is None or not salesforce_id:
                return
            # Salesforce has no conditional writes in sObject Collections: a write of Cockpit's
            # that is still on its way when she saves lands over her value, and nobody can
            # tell. The README names this limit; the model checks only that both sides agree.
            racing = world.emulator.waiting_writes() > 0
            agreed = (
                TaskSyncRecord.objects.filter(salesforce_id=salesforce_id)
                .values_list("agreed_values", flat=True)
                .first()
            )
            try:
                before = world.as_user("Task.get", salesforce_id)[what]
                world.as_user("Task.update", salesforce_id, {what: value})
            except sf_exc.SalesforceResourceNotFound:
                return  # already deleted in Salesforce
            if (before or None) != value:  # saving the same value: no edit
                # Set back to the value both sides last agreed on, the change in between read
                # by nothing (a task handed to Dave and back: no pull reads Dave's tasks):
                # Salesforce shows no change, so a CSM's change made meanwhile wins. README,
                # "What no sync can promise"; only convergence is checked for it.
                unseen = bool(agreed) and what in agreed and (agreed[what] or None) == value
                self._record(item, "sf", what, RACY if racing or unseen else value)
                if what == "OwnerId" and value == world.dave_sf_id:
                    self.hidden = True
            self._count(operation)

        @enabled("owners")
        @rule(pick=st.integers(0, 99), to=st.sampled_from(["alice", "bob", "dave"]))
        def salesforce_user_reassigns(self, pick: int, to: str) -> None:
            """To a user a CSM is mapped to, or to one with no Cockpit user."""
            owner = {"alice": world.alice_sf_id, "bob": world.bob_sf_id, "dave": world.dave_sf_id}
            self._salesforce_write(pick, "OwnerId", owner[to], "sf_reassign")

        @enabled("accounts")
        @rule(pick=st.integers(0, 99), which=st.sampled_from([None, "Acme Corp", "Globex"]))
        def salesforce_user_sets_account(self, pick: int, which: str | None) -> None:
            account = world.accounts[which] if which else None
            self._salesforce_write(pick, "WhatId", account, "sf_account")

        @rule(pick=st.integers(0, 99))
        def salesforce_user_deletes(self, pick: int) -> None:
            item = self._pick(pick)
            salesforce_id = self._salesforce_id(item) if item else None
            if item is None or not salesforce_id or item.desynced:
                return
            try:
                world.as_user("Task.delete", salesforce_id)
            except sf_exc.SalesforceResourceNotFound:
                return
            item.deleted = True
            self._count("sf_delete")

        # ---- an admin ----------------------------------------------------------------------

        @enabled("mappings")
        @rule(move=st.sampled_from(MAPPING_MOVES), now=st.booleans())
        def admin_saves_mappings(self, move: str, now: bool) -> None:
            """A mapping save, through the admin's services; its re-sync starts now or when its
            message arrives later (other steps in between)."""
            before = ResyncRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            if not self._mapping_move(move):
                return
            runs = ResyncRun.objects.filter(pk__gt=before, finished_at=None).order_by("pk")
            self.pending_resyncs += list(runs.values_list("pk", flat=True))
            if now:
                self._resyncs_begin()
            self._count(f"mapping_{move}")

        def _mapping_move(self, move: str) -> bool:
            """Apply one move; False when it does not apply to the mapping as it is."""
            connection = world.connection
            m = self.mappings
            fields = {
                f.cockpit_field: f for f in FieldMapping.objects.filter(connection=connection)
            }
            subject, description = fields["name"], fields.get("details")

            def save_field(mapping: FieldMapping, **changes: Any) -> None:
                values = {
                    "cockpit_field": mapping.cockpit_field,
                    "salesforce_field": mapping.salesforce_field,
                    "direction": mapping.direction,
                    "editable": mapping.editable,
                    **changes,
                }
                config.field_mapping_save(connection=connection, mapping=mapping, **values)

            def save_status(value: str, rows: list[str] | None) -> None:
                found = PicklistMapping.objects.filter(
                    connection=connection, picklist="status", cockpit_value=value
                ).first()
                if rows is None:
                    assert found is not None
                    config.picklist_mapping_delete(mapping=found)
                else:
                    config.picklist_mapping_save(
                        connection=connection,
                        picklist="status",
                        cockpit_value=value,
                        salesforce_values=rows,
                        mapping=found,
                    )
                if rows is None:
                    m.status.pop(value, None)
                else:
                    m.status[value] = rows
                self._loosen("Status")

            if move == "touch":
                editable = subject.editable  # the save changes the instance it is given
                save_field(subject, editable=not editable)
                save_field(subject, editable=editable)
            elif move in ("lock_subject", "unlock_subject"):
                save_field(subject, editable=move == "unlock_subject")
                m.subject_editable = move == "unlock_subject"
            elif move.startswith("description_"):
                if move == "description_add":
                    if description is not None:
                        return False
                    config.field_mapping_save(
                        connection=connection,
                        cockpit_field="details",
                        salesforce_field="Description",
                    )
                    m.description = FieldMapping.Direction.BOTH
                elif description is None:
                    return False
                elif move == "description_remove":
                    config.field_mapping_delete(mapping=description)
                    m.description = None
                else:
                    direction = move.removeprefix("description_")
                    save_field(description, direction=direction)
                    m.description = direction
                self._loosen("Description")
            elif move == "deferred_mapped":
                save_status("Open", ["Not Started", "Deferred"])
            elif move == "deferred_unmapped":
                save_status("Open", ["Not Started"])
            elif move == "in_progress_unmapped":
                if "In Progress" not in m.status:
                    return False
                save_status("In Progress", None)
            elif move == "in_progress_mapped":
                save_status("In Progress", ["In Progress"])
            elif move == "default_status":
                m.default_status = (
                    "Waiting on someone else"
                    if m.default_status == "Not Started"
                    else "Not Started"
                )
                config.connection_update(connection=connection, default_status=m.default_status)
                self._loosen("Status")
            else:
                m.default_priority = "High" if m.default_priority == "Normal" else "Normal"
                config.connection_update(connection=connection, default_priority=m.default_priority)
            return True

        @enabled("mappings")
        @rule()
        def resync_messages_arrive(self) -> None:
            """The worker starts the mapping re-syncs whose messages were waiting (in order)."""
            self._resyncs_begin()
            self._count("resync_begin")

        def _resyncs_begin(self) -> None:
            for run_id in self.pending_resyncs:
                resyncs.resync_run_begin(run_id=run_id)
            self.pending_resyncs = []

        @enabled("accounts")
        @rule(link=st.booleans())
        def admin_links_company(self, link: bool) -> None:
            """Globex linked to its Salesforce Account, or unlinked: its tasks' WhatId follows."""
            globex = Company.objects.filter(name="Globex").first()
            if globex is None:
                return
            account = world.accounts["Globex"] if link else None
            if globex.salesforce_account_id == account:
                return
            befores = {}
            for item in self.tasks:
                task = self._cockpit_task(item) if not item.deleted else None
                if task is not None and task.company_id == globex.pk:
                    befores[item.ck_id] = (item, task, self._as_salesforce(task))
            try:
                tasks.company_update(company=globex, salesforce_account_id=account)
            except ValidationError:
                return  # another company holds that Account
            for item, task, before in befores.values():
                self._csm_changed(item, task, before)
            self.links = self._company_links()
            self._count("company_link")

        def _company_links(self) -> dict[int, str | None]:
            return dict(Company.objects.values_list("pk", "salesforce_account_id"))

        def _links_followed(self) -> None:
            """A pull (or change event) that met an Account no company had linked the company of
            that name: in Cockpit each of its tasks now means that Account, an edit of its WhatId
            as an admin's link is (the sync sends it to every synced task of the company)."""
            links = self._company_links()
            changed = {pk for pk, to in links.items() if self.links.get(pk, to) != to}
            self.links = links
            if not changed:
                return
            for item in self.tasks:
                task = self._cockpit_task(item) if not item.deleted else None
                if task is not None and task.company_id in changed:
                    account = links[task.company_id]
                    # Linked again to the Account the twins agreed on (unlinked and linked back
                    # before a push): no change of the WhatId to the sync, and a Salesforce
                    # user's change of it meanwhile wins without a conflict. Only convergence
                    # is checked for it.
                    agreed = (
                        TaskSyncRecord.objects.filter(task_id=task.pk)
                        .values_list("agreed_values", flat=True)
                        .first()
                    )
                    back = account is not None and (agreed or {}).get("WhatId") == account
                    self._record(item, "ck", "WhatId", RACY if back else account)

        @enabled("switches")
        @rule(on=st.booleans())
        def admin_switches_sync(self, on: bool) -> None:
            """Auto Sync and Bi-directional Sync off together, or on again."""
            config.sync_settings_update(auto_sync=on, bidirectional_sync=on)
            self._count("sync_on" if on else "sync_off")

        # ---- the engine --------------------------------------------------------------------

        @rule(limit=st.sampled_from([1, 2, 2000]), roll=st.integers(0, 99))
        def push(self, limit: int, roll: int) -> None:
            """A push cycle (sometimes of only part of the outbox), now and then under a fault
            armed for exactly this cycle."""
            fault = self._fault(roll, PUSH_FAULTS)
            try:
                outbox_push(limit=limit)
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
                self._links_followed()
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
            finally:
                self._links_followed()
            self._count("stream")

        @enabled("repair")
        @rule(roll=st.integers(0, 99))
        def drift_repair(self, roll: int) -> None:
            """The daily reconcile (or an admin's "Reconcile now"), now and then under a fault."""
            fault = self._fault(roll, PULL_FAULTS)
            try:
                reconcile.reconcile_run(trigger="hand")
            finally:
                if fault:
                    world.emulator.clear_faults()
            self._count("reconcile")

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

        @rule(pick=st.integers(0, 99))
        def slow_answer_applied_after_the_retry(self, pick: int) -> None:
            """The fault as it hurts: a push times out while Salesforce is slow, the CSM edits
            again, the retry goes out and lands first, then the slow write lands."""
            self.csm_edits(pick, "details", "Low")
            self._arm("apply_late")
            try:
                outbox_push()
            finally:
                world.emulator.clear_faults()
            self.csm_edits(pick, "details", "Low")
            self.time_passes()
            outbox_push()
            self._count("push")

        @rule()
        def salesforce_clock_moves_on(self) -> None:
            """Seconds pass on Salesforce's clock (forward only, as a clock does): the next
            pull or push reads versions past their second, so their stamps settle and Cockpit's
            next writes of them go conditionally (README guarantee 13); a Salesforce edit made
            since is refused (412), read and merged. Edits made within a version's second stay
            in play: the rules run milliseconds apart."""
            # Not a precondition: the clock is the world's, kept across runs, and a rule
            # enabled by state outside the run makes Hypothesis's replays draw differently
            # (FlakyStrategyDefinition, which stopped a bench soak).
            if world.clock_ahead >= CLOCK_AHEAD_MAX:
                return
            world.clock_ahead += CLOCK_STEP
            world.emulator.set_clock_offset(world.clock_ahead)
            self._count("clock")

        @rule()
        def time_passes(self) -> None:
            """Backoffs run out: what waits to be retried is due again, and the connection's
            pause after an outage is over."""
            OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING).update(
                next_attempt_at=timezone.now()
            )
            SalesforceConnection.objects.update(retry_at=None)
            self._count("time_passes")

        # ---- the end of a run: settle, then check -----------------------------------------

        def teardown(self) -> None:
            if self.listener is not None:
                self.listener.stop()
            try:
                self.wind_down()
                self.settle()
                if self.hidden:
                    # Pulls see only the mapped owners' tasks: a twin handed to a Salesforce
                    # user with no Cockpit user is met again by the daily drift repair.
                    reconcile.reconcile_run(trigger="hand")
                    self.settle()
                self.check()
            finally:
                world.emulator.clear_faults()
                world.stats.api_calls += world.emulator.api_calls() - self.calls_before

        def wind_down(self) -> None:
            """What people do before the day ends: sync on, the default mappings back, every
            desynced task synced again."""
            config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
            m = self.mappings
            if m.description is None:
                self._mapping_move("description_add")
            elif m.description != "both":
                self._mapping_move("description_both")
            if not m.subject_editable:
                self._mapping_move("unlock_subject")
            if m.status != STATUS_ROWS:
                if "Deferred" in m.status.get("Open", []):
                    self._mapping_move("deferred_unmapped")
                if "In Progress" not in m.status:
                    self._mapping_move("in_progress_mapped")
            if m.default_status != "Not Started":
                self._mapping_move("default_status")
            if m.default_priority != "Normal":
                self._mapping_move("default_priority")
            assert m.is_default(), m
            self.pending_resyncs += list(
                ResyncRun.objects.filter(finished_at=None).values_list("pk", flat=True)
            )
            self._resyncs_begin()
            for item in self.tasks:
                task = self._cockpit_task(item) if item.desynced else None
                if task is not None:
                    self._resync(item, task)

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
                pushed = outbox_push_all()
                pulled = inbound.pull_run(force=True)
                self._links_followed()
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
            """Every invariant over the settled state; what breaks is counted by kind
            (world.stats.found) and then fails the run with every finding."""
            problems: list[str] = []

            def expect(ok: bool, kind: str, message: str) -> None:
                world.stats.checked[kind] += 1
                if not ok:
                    world.stats.found[kind] += 1
                    problems.append(f"{kind}: {message}")

            failed = list(
                OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED).values_list(
                    "task_id", "last_error"
                )
            )
            expect(not failed, "failed pushes", f"pushes failed for good: {failed}")
            remote = world.live_salesforce_tasks()
            links = dict(TaskSyncRecord.objects.values_list("task_id", "salesforce_id"))
            cockpit = {t.pk: t for t in Task.objects.select_related("status", "priority")}
            live = [t for t in self.tasks if not t.deleted]
            for item in live:
                self._cockpit_task(item)  # learns the Cockpit id of tasks born in Salesforce
            # A task born in Salesforce and handed to a user with no Cockpit user before any
            # pull met it is not Cockpit's: it stays in Salesforce only.
            outside = [
                t
                for t in live
                if t.ck_id is None
                and t.sf_id in remote
                and remote[t.sf_id]["OwnerId"] == world.dave_sf_id
            ]
            live = [t for t in live if t not in outside]
            for item in outside:
                remote.pop(item.sf_id or "")
            known = {t.ck_id for t in live}
            # One-to-one, and nothing deleted came back.
            expect(
                len(cockpit) == len(live),
                "duplicates",
                f"{len(cockpit)} Cockpit tasks for {len(live)} live tasks: duplicates or "
                "deletes that did not stick; the unexpected ones: "
                + "; ".join(self._story(pk) for pk in cockpit if pk not in known),
            )
            expect(
                len(remote) == len(live),
                "duplicates",
                f"{len(remote)} Salesforce tasks for {len(live)} live tasks: duplicates or "
                "deletes that did not stick",
            )
            linked_ids = [links.get(pk) for pk in cockpit]
            expect(None not in linked_ids, "duplicates", "a live Cockpit task has no twin")
            expect(
                len(set(linked_ids)) == len(linked_ids) and set(linked_ids) == set(remote),
                "duplicates",
                "a twin is missing or an extra task exists",
            )
            for item in self.tasks:
                if item in outside:
                    continue
                if item.deleted:
                    if item.ck_id is not None:
                        expect(
                            item.ck_id not in cockpit,
                            "undone deletes",
                            f"deleted task {item.ck_id} lives on in Cockpit",
                        )
                    if item.sf_id is not None:
                        expect(
                            item.sf_id not in remote,
                            "undone deletes",
                            f"deleted twin {item.sf_id} lives on in Salesforce",
                        )
                    continue
                task = self._cockpit_task(item)
                expect(task is not None, "undone deletes", f"{item} has no Cockpit task")
                if task is None or links.get(task.pk) not in remote:
                    continue
                salesforce_id = links[task.pk]
                if item.sf_id is not None:
                    expect(
                        salesforce_id == item.sf_id,
                        "duplicates",
                        f"task {task.pk} re-linked from {item.sf_id} to {salesforce_id}",
                    )
                self._check_fields(item, task, remote[salesforce_id], expect)
            world.stats.conflicts += Conflict.objects.count()
            assert not problems, "\n".join(problems)

        def _story(self, task_id: int) -> str:
            """What the sync did to a task, for a failure message."""
            events = SyncEvent.objects.filter(task_id=task_id).order_by("id")
            link = TaskSyncRecord.objects.filter(task_id=task_id).first()
            return f"task {task_id} ({link}): " + " | ".join(
                f"{e.kind} {e.salesforce_id} {e.message}" for e in events
            )

        def _same_meaning(self, name: str, ours: Any, theirs: Any, task: Task) -> bool:
            """Both sides hold values that mean the same under the admin's mapping (a
            Salesforce value Cockpit cannot express stays, whatever Cockpit holds)."""
            if ours == theirs:
                return True
            if name == "Status":
                back = self.mappings.status_in(theirs)
                return back is None or back == task.status.value
            if name == "OwnerId":
                return theirs not in world.csms  # a user with no Cockpit user
            return False

        def _names(self, conflict: Conflict, value: Any) -> bool:
            """The conflict names `value` (Salesforce's terms), as either side's value."""
            if conflict.salesforce_value == value or conflict.cockpit_value == value:
                return True
            ours = conflict.cockpit_value
            translated = {
                "Status": lambda: self.mappings.status_out(ours),
                "Priority": lambda: PRIORITY_OUT.get(ours),
                "OwnerId": lambda: world.owners_out.get(ours),
                "WhatId": lambda: (
                    Company.objects.filter(pk=ours)
                    .values_list("salesforce_account_id", flat=True)
                    .first()
                ),
            }.get(conflict.salesforce_field)
            return translated is not None and ours is not None and translated() == value

        def _check_fields(
            self, item: Logical, task: Task, record: dict[str, Any], expect: Any
        ) -> None:
            ours = self._as_salesforce(task)
            conflicts = list(Conflict.objects.filter(task_id=task.pk))
            for name in FIELDS:
                theirs = record[name] or None
                expect(
                    self._same_meaning(name, ours[name], theirs, task),
                    "diverged",
                    f"task {task.pk} {name}: Cockpit {ours[name]!r} != Salesforce {theirs!r}",
                )
                if name not in item.edits or item.edits[name] is RACY:
                    continue
                expected = item.edits[name]
                named = [c for c in conflicts if c.salesforce_field == name]
                if isinstance(expected, Either):
                    lost = [v for v in expected.values if v != theirs]
                    expect(
                        len(lost) < len(expected.values)
                        and all(any(self._names(c, v) for c in named) for v in lost),
                        "lost edits",
                        f"task {task.pk} {name}: desynced edits {expected.values} on both "
                        f"sides, Salesforce holds {theirs!r}, and no conflict names the lost one "
                        f"(conflicts: {[(c.cockpit_value, c.salesforce_value) for c in named]})",
                    )
                    continue
                expect(
                    theirs == expected or any(self._names(c, expected) for c in named),
                    "lost edits",
                    f"task {task.pk} {name}: the last edit {expected!r} was lost "
                    f"(Salesforce {theirs!r} last written by {record['LastModifiedById']}, "
                    f"Cockpit {ours[name]!r}) and no conflict names it "
                    f"(conflicts: {[(c.cockpit_value, c.salesforce_value) for c in named]}); "
                    f"the sync's log of it: {self._story(task.pk)}",
                )

    return SyncMachine
