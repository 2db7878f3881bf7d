"""A race soak on real processes: `python -m bench race`.

The whole stack (tests/e2e/stack.py) over a private PostgreSQL database and Redis: three Celery
workers (concurrency 2), beat, the change-event listener and two gunicorn workers. Concurrent
clients edit the same tasks: CSMs through the REST API (an edit reads the task and changes a
field to another value than it shows: saving the value a field holds is no edit, guarantee 4),
Salesforce users through simple-salesforce against the emulator (creates, edits of every
mapped field, deletes, on both sides); an admin saves the field mappings now and then
(Editable ticked off and on again, each save a re-sync); and workers, pool children and the
listener are SIGKILLed at random and started again. Every write a client saw acknowledged is
logged with the time of its answer.

At the end the stack is left to settle (everything running, pulls asked for, until the outbox
is empty and both sides stop moving), then both sides are compared record by record against
the log (Jepsen's shape): duplicates (two twins for one task, a task with no twin), lost edits
(a field that holds neither its last acknowledged write nor a value a conflict row names as
lost), undone deletes (an acknowledged delete whose task lives on either side), entries stuck
in the outbox, and the longest time an acknowledged edit took to be seen on the other side
(sampled every second). An edit overwritten by the other side's write acknowledged within
RACE_WINDOW seconds of it, or by Cockpit's push of the field landing within RACE_WINDOW of it
(the sync log's time: a CSM's edit may wait for the engine, and a push that read first
writes what it merged from a read a moment before), is counted apart: Salesforce's
collections have no conditional writes, so two writes that close together have no order
(README, "What no sync can promise"). For a lost edit the report prints the task's sync log.

Settings (environment): RACE_SECONDS (600) and RACE_OPERATIONS (20,000): the load runs until
both are reached, or RACE_MAX_SECONDS (3 × RACE_SECONDS); RACE_TASKS (20 a CSM at the start);
RACE_CLIENTS (2 threads per CSM and per Salesforce user); RACE_KILL_EVERY (20 s between
kills on average; 0: no kills); RACE_ADMIN_EVERY (45 s between mapping saves); RACE_SETTLE
(300 s at most); RACE_WINDOW (2 s); RACE_SEED; RACE_KEEP=1 keeps the stack's folder and logs.
DATABASE_URL (a PostgreSQL server: the stack makes its own database on it, default
postgres://postgres@127.0.0.1:5432/postgres) and CELERY_BROKER_URL (default
redis://127.0.0.1:6379/6).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUS_OUT = {"Open": "Not Started", "In Progress": "In Progress", "Complete": "Completed"}
STATUS_IN = {v: k for k, v in STATUS_OUT.items()}
PRIORITY_OUT = {"Low": "Low", "Medium": "Normal", "High": "High"}
PRIORITY_IN = {v: k for k, v in PRIORITY_OUT.items()}
SF_STATUSES = [*STATUS_OUT.values(), "Deferred", "Waiting on someone else"]
FIELDS = ("Subject", "Description", "ActivityDate", "Priority", "Status")
# The Cockpit field each names, as the sync log's "pushed to Salesforce: …" lines list them.
FIELD_LABELS = dict(zip(FIELDS, ("name", "details", "due_date", "priority", "status"), strict=True))
CSM_PASSWORD = "race-Csm-passw0rd"
SF_PASSWORD = "sfemu-Passw0rd"  # the emulator's seeded users' (sfemulator/seed.py)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Write:
    """One write a client saw acknowledged."""

    started: float
    acked: float
    side: str  # "ck" or "sf"
    key: str  # "ck:<task id>" or "sf:<Salesforce Id>": the id the writer knew it by
    field: str  # Salesforce field name; "delete" for a delete
    value: Any  # in Salesforce's terms


@dataclass
class Log:
    writes: list[Write] = field(default_factory=list)
    operations: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    # Per kind of refusal, the first answers' bodies: what the report says they were.
    refusals: dict[str, Counter] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, kind: str, answer: Any) -> None:
        """An operation the API refused: counted, and its reason kept (the answer's JSON)."""
        with self.lock:
            self.refused[kind] += 1
            try:
                reason = json.dumps(answer.json(), sort_keys=True)[:160]
            except ValueError:
                reason = answer.text[:160]
            self.refusals.setdefault(kind, Counter())[reason] += 1

    def add(self, write: Write | None, operation: str) -> None:
        with self.lock:
            if write is not None:
                self.writes.append(write)
            self.operations[operation] += 1

    @property
    def total(self) -> int:
        return sum(self.operations.values())


class Race:
    def __init__(self, workdir: Path) -> None:
        os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/6")
        from tests.e2e.stack import Stack

        self.stack = Stack(
            workdir,
            database="env",
            worker_args=("--concurrency", "2", "--hostname", "race1@%h"),
            env={"SYNC_PUSH_LINGER_MS": "200"},
            # The race judges the invariants, not the budget: at 100,000 calls a day (the
            # emulator's default org) its clients and watcher used the day up in ten minutes
            # and the settle's own read was refused (REQUEST_LIMIT_EXCEEDED).
            emulator_args=("--api-limit", "10000000"),
        )
        self.log = Log()
        self.stop = threading.Event()
        self.rng = random.Random(_env_int("RACE_SEED", random.randrange(2**32)))
        self.tasks: dict[str, dict[str, Any]] = {}  # key → {"owner", "ck", "sf"}
        self.links: dict[int, str] = {}  # every link seen: Cockpit id → Salesforce Id
        self.tasks_lock = threading.Lock()
        self.counter = 0
        self.kills: Counter = Counter()
        self.lags: list[float] = []
        self.unseen: dict[tuple[str, str], Write] = {}  # the newest write not yet seen across
        self.t0 = time.monotonic()  # the load's start, for times in the report
        self.t0_wall = time.time()

    # ---- set-up -----------------------------------------------------------------------------

    def start(self) -> None:
        from tests.e2e.stack import ALICE_PASSWORD, Api, sync_configure

        stack = self.stack
        stack.start()
        self.workers = [stack.worker] + [
            stack.add_worker(f"race{i}", concurrency=2) for i in (2, 3)
        ]
        self.synced = sync_configure(stack, pull_interval_seconds=10)
        admin = self.synced.admin
        bob = admin.call(
            "POST",
            "users/",
            {"username": "bob", "email": "bob@example.com", "password": CSM_PASSWORD},
            expect=201,
        )
        matched = admin.call("POST", f"sync/connections/{self.synced.connection_id}/match-users/")
        assert "bob" in matched["matched"], matched
        self.csms = {
            "alice": Api.login(stack.url, "alice", ALICE_PASSWORD),
            "bob": Api.login(stack.url, "bob", CSM_PASSWORD),
        }
        emulator = stack.emulator
        assert emulator is not None
        users = self.synced.sf.query("SELECT Id, Username, Email FROM User")["records"]
        self.sf_ids = {u["Email"].split("@")[0]: u["Id"] for u in users}
        self.sf_users = {
            name: emulator.simple_salesforce(
                username=f"{name}@example.com.sfemu", password=SF_PASSWORD
            )
            for name in ("alice", "bob")
        }
        stack.start_stream()
        del bob
        for owner in ("alice", "bob"):
            for _ in range(_env_int("RACE_TASKS", 20)):
                self.csm_create(owner)

    def value(self, prefix: str) -> str:
        with self.tasks_lock:
            self.counter += 1
            return f"{prefix}-{self.counter}"

    def pick(self, owner: str, *, side: str) -> tuple[str, dict[str, Any]] | None:
        with self.tasks_lock:
            keys = [
                k
                for k, t in self.tasks.items()
                if t["owner"] == owner and (t["ck"] if side == "ck" else t["sf"])
            ]
            if not keys:
                return None
            key = self.rng.choice(keys)
            return key, self.tasks[key]

    # ---- CSMs through the API ---------------------------------------------------------------

    def csm_create(self, owner: str) -> None:
        name = self.value(f"ck-{owner}")
        started = time.monotonic()
        answer = self.csms[owner].request("POST", "tasks/", {"name": name})
        if answer.status_code != 201:
            self.log.refuse(f"csm create {answer.status_code}", answer)
            return
        task = answer.json()
        key = f"ck:{task['id']}"
        with self.tasks_lock:
            self.tasks[key] = {"owner": owner, "ck": task["id"], "sf": None}
        self.log.add(Write(started, time.monotonic(), "ck", key, "Subject", name), "csm_create")

    def csm_step(self, owner: str) -> None:
        roll = self.rng.random()
        if roll < 0.04:
            self.csm_create(owner)
            return
        picked = self.pick(owner, side="ck")
        if picked is None:
            return
        key, task = picked
        path = f"tasks/{task['ck']}/"
        started = time.monotonic()
        if roll < 0.08:
            answer = self.csms[owner].request("DELETE", path)
            if answer.status_code == 204:
                with self.tasks_lock:
                    self.tasks.pop(key, None)
                self.log.add(
                    Write(started, time.monotonic(), "ck", key, "delete", None), "csm_delete"
                )
            else:
                self.log.refused[f"csm delete {answer.status_code}"] += 1
            return
        shown = self.csms[owner].request("GET", path)
        if shown.status_code == 404:
            with self.tasks_lock:  # deleted from Salesforce meanwhile
                self.tasks.pop(key, None)
            return
        if shown.status_code != 200:
            self.log.refused[f"csm read {shown.status_code}"] += 1
            return
        body, sf_field, value = self.csm_edit(shown.json())
        started = time.monotonic()
        answer = self.csms[owner].request("PATCH", path, body)
        if answer.status_code == 200:
            self.log.add(Write(started, time.monotonic(), "ck", key, sf_field, value), "csm_edit")
            if not task["sf"] and answer.json().get("salesforce_id"):
                task["sf"] = answer.json()["salesforce_id"]
        elif answer.status_code == 404:
            with self.tasks_lock:  # deleted from Salesforce meanwhile
                self.tasks.pop(key, None)
        else:
            self.log.refuse(f"csm edit {answer.status_code}", answer)

    def csm_edit(self, shown: dict[str, Any]) -> tuple[dict[str, Any], str, Any]:
        """One field of the task as the CSM sees it (`shown`, the API's answer), changed to
        another value: (the PATCH body, the Salesforce field, its value in Salesforce's terms).

        Saving the value a field already holds is no edit (README, guarantee 4: Cockpit
        writes a field again only when a CSM changes it), so it must not be logged as one: a
        CSM's save of 'Open' beside a Salesforce user's 'Waiting on someone else' (unmapped)
        leaves Salesforce's value, and was counted as a lost edit (a 240 s run: task 2586)."""
        what = self.rng.choice(["name", "details", "due_date", "priority", "status"])
        if what == "name":
            return {"name": (v := self.value("ck-name"))}, "Subject", v
        if what == "details":
            return {"details": (v := self.value("ck-details"))}, "Description", v
        if what == "due_date":
            day = shown["due_date"]
            while day == shown["due_date"]:
                day = f"2027-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
            return {"due_date": day}, "ActivityDate", day
        if what == "priority":
            p = self.rng.choice([p for p in PRIORITY_OUT if p != shown["priority"]])
            return {"priority": p}, "Priority", PRIORITY_OUT[p]
        s = self.rng.choice([s for s in STATUS_OUT if s != shown["status"]])
        return {"status": s}, "Status", STATUS_OUT[s]

    # ---- Salesforce users through simple-salesforce -----------------------------------------

    def sf_step(self, owner: str) -> None:
        from simple_salesforce import exceptions as sf_exc

        sf = self.sf_users[owner]
        roll = self.rng.random()
        started = time.monotonic()
        if roll < 0.04:
            subject = self.value(f"sf-{owner}")
            answer = sf.Task.create({"Subject": subject, "OwnerId": self.sf_ids[owner]})
            key = f"sf:{answer['id']}"
            with self.tasks_lock:
                self.tasks[key] = {"owner": owner, "ck": None, "sf": answer["id"]}
            self.log.add(
                Write(started, time.monotonic(), "sf", key, "Subject", subject), "sf_create"
            )
            return
        picked = self.pick(owner, side="sf")
        if picked is None:
            return
        key, task = picked
        try:
            if roll < 0.08:
                sf.Task.delete(task["sf"])
                with self.tasks_lock:
                    self.tasks.pop(key, None)
                self.log.add(
                    Write(started, time.monotonic(), "sf", key, "delete", None), "sf_delete"
                )
                return
            what = self.rng.choice(FIELDS)
            if what == "Subject":
                value: Any = self.value("sf-subject")
            elif what == "Description":
                value = self.value("sf-details")
            else:
                # As a CSM's (csm_edit): a save of the value the field holds is no edit, and
                # the merge rightly sends a Cockpit change pushed after it.
                shown = sf.Task.get(task["sf"])[what]
                value = shown
                while value == shown:
                    if what == "ActivityDate":
                        value = f"2037-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
                    elif what == "Priority":
                        value = self.rng.choice(list(PRIORITY_IN))
                    else:
                        value = self.rng.choice(SF_STATUSES)
                started = time.monotonic()
            sf.Task.update(task["sf"], {what: value})
            self.log.add(Write(started, time.monotonic(), "sf", key, what, value), "sf_edit")
        except (sf_exc.SalesforceResourceNotFound, sf_exc.SalesforceMalformedRequest):
            with self.tasks_lock:  # deleted in Cockpit meanwhile
                self.tasks.pop(key, None)
        except sf_exc.SalesforceExpiredSession:
            self.sf_users[owner] = self.stack.emulator.simple_salesforce(  # type: ignore[union-attr]
                username=f"{owner}@example.com.sfemu", password=SF_PASSWORD
            )

    # ---- the admin, the chaos, the watcher --------------------------------------------------

    def admin_step(self) -> None:
        """Editable ticked off and on again on the Subject mapping: two saves, two re-syncs,
        nothing changed (issue 16's first break)."""
        admin = self.synced.admin
        rows = admin.call("GET", "sync/field-mappings/")
        rows = rows["results"] if isinstance(rows, dict) else rows
        subject = next(r for r in rows if r["salesforce_field"] == "Subject")
        for editable in (False, True):
            admin.call("PATCH", f"sync/field-mappings/{subject['id']}/", {"editable": editable})
        self.log.add(None, "admin_mapping_save")

    def chaos_step(self) -> None:
        from bench.live.probes import _process_tree

        kind = self.rng.choice(["worker", "pool child", "pool child", "listener"])
        if kind == "listener":
            stream = self.stack.stream
            assert stream is not None
            stream.kill()
            time.sleep(self.rng.uniform(0.5, 3))
            stream.start()
        elif kind == "worker":
            worker = self.rng.choice(self.workers)
            worker.kill()
            time.sleep(self.rng.uniform(0.5, 3))
            worker.start()
        else:
            worker = self.rng.choice(self.workers)
            if worker.process is None:
                return
            children = _process_tree(worker.process.pid)[1:]
            if not children:
                return
            try:
                os.kill(self.rng.choice(children), signal.SIGKILL)
            except ProcessLookupError:
                return
        self.kills[kind] += 1
        self.log.add(None, f"kill {kind}")

    def read_sides(self) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
        """(Cockpit tasks by id, Salesforce tasks of the CSMs' users by Id), in Salesforce's
        terms, and the links learnt on the way."""
        rows = self.stack.sql(
            "SELECT t.id, t.name, t.details, t.due_date, s.value, p.value, r.salesforce_id "
            "FROM tasks_task t JOIN tasks_status s ON s.id = t.status_id "
            "JOIN tasks_priority p ON p.id = t.priority_id "
            "LEFT JOIN tasks_tasksyncrecord r ON r.task_id = t.id"
        )
        cockpit = {}
        for pk, name, details, due, status, priority, sf_id in rows:
            cockpit[pk] = {
                "Subject": name,
                "Description": details or None,
                "ActivityDate": due.isoformat() if due else None,
                "Status": status,  # Cockpit's value: compared through STATUS_IN
                "Priority": PRIORITY_OUT[priority],
                "sf": sf_id,
            }
            if sf_id:
                self.links[pk] = sf_id
        owners = ", ".join(f"'{self.sf_ids[n]}'" for n in ("alice", "bob"))
        records = self.synced.sf.query_all(
            f"SELECT Id, {', '.join(FIELDS)}, Cockpit_Task_Id__c FROM Task "  # noqa: S608
            f"WHERE OwnerId IN ({owners})"
        )["records"]
        return cockpit, {r["Id"]: r for r in records}

    def watch_step(self) -> None:
        """Which acknowledged writes the other side shows now: their lag."""
        cockpit, remote = self.read_sides()
        by_sf = {t["sf"]: pk for pk, t in cockpit.items() if t["sf"]}
        with self.tasks_lock:  # what each side's clients need to know a task by
            for task in self.tasks.values():
                if task["ck"] and not task["sf"]:
                    task["sf"] = self.links.get(task["ck"])
                elif task["sf"] and not task["ck"]:
                    task["ck"] = by_sf.get(task["sf"])
        with self.log.lock:
            for write in self.log.writes[self._watched :]:
                unmapped = write.field == "Status" and write.value not in STATUS_IN
                if write.field != "delete" and not unmapped:
                    self.unseen[(write.key, write.field)] = write  # a newer one replaces it
            self._watched = len(self.log.writes)
        now = time.monotonic()
        for slot, write in list(self.unseen.items()):
            kind, ident = write.key.split(":", 1)
            if kind == "ck":
                sf_id = self.links.get(int(ident))
                there = (remote.get(sf_id) or {}).get(write.field) if sf_id else None
            else:
                pk = by_sf.get(ident)
                there = cockpit[pk][write.field] if pk in cockpit else None
                if write.field == "Status" and there is not None:
                    there = STATUS_OUT[there]
            if there == write.value:
                self.lags.append(now - write.acked)
                del self.unseen[slot]

    # ---- the run ----------------------------------------------------------------------------

    def loop(self, step: Any, *args: Any, every: float = 0.0) -> None:
        while not self.stop.is_set():
            try:
                step(*args)
            except Exception as exc:  # noqa: BLE001 - a client error is counted, the run goes on
                self.log.refused[f"{step.__name__}: {type(exc).__name__}"] += 1
                time.sleep(0.5)
            if every:
                self.stop.wait(self.rng.uniform(0.5, 1.5) * every)

    def run(self) -> int:
        seconds = _env_int("RACE_SECONDS", 600)
        target = _env_int("RACE_OPERATIONS", 20_000)
        longest = _env_int("RACE_MAX_SECONDS", 3 * seconds)
        clients = _env_int("RACE_CLIENTS", 2)
        kill_every = _env_int("RACE_KILL_EVERY", 20)
        self._watched = 0
        threads = []
        for owner in ("alice", "bob"):
            for _ in range(clients):
                threads.append(threading.Thread(target=self.loop, args=(self.csm_step, owner)))
                threads.append(threading.Thread(target=self.loop, args=(self.sf_step, owner)))
        threads.append(
            threading.Thread(
                target=self.loop,
                args=(self.admin_step,),
                kwargs={"every": _env_int("RACE_ADMIN_EVERY", 45)},
            )
        )
        if kill_every:
            threads.append(
                threading.Thread(
                    target=self.loop, args=(self.chaos_step,), kwargs={"every": kill_every}
                )
            )
        threads.append(
            threading.Thread(target=self.loop, args=(self.watch_step,), kwargs={"every": 1.0})
        )
        start = self.t0 = time.monotonic()
        self.t0_wall = time.time()
        for thread in threads:
            thread.daemon = True
            thread.start()
        while True:
            time.sleep(1)
            elapsed = time.monotonic() - start
            if (elapsed >= seconds and self.log.total >= target) or elapsed >= longest:
                break
            if int(elapsed) % 30 == 0:
                print(f"  {elapsed:,.0f} s: {self.log.total:,} operations", flush=True)
        self.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        load_seconds = time.monotonic() - start
        settle_seconds = self.settle()
        return self.report(load_seconds, settle_seconds, seconds, target)

    def settle(self) -> float:
        """Everything running again, pulls asked for, until the outbox is empty and both sides
        stay the same for two readings in a row."""
        start = time.monotonic()
        for service in (*self.workers, self.stack.stream):
            if service is not None and not service.running:
                service.start()
        limit = _env_int("RACE_SETTLE", 300)
        last = None
        stable = 0
        while time.monotonic() - start < limit:
            self.synced.admin.request("POST", "sync/pull/")
            time.sleep(5)
            self.watch_step()
            waiting = self.stack.sql(
                "SELECT count(*) FROM sync_outboxentry WHERE state IN ('pending', 'in_flight')"
            )[0][0]
            now = repr(self.read_sides())
            stable = stable + 1 if now == last and not waiting else 0
            last = now
            if stable >= 2:
                break
        return time.monotonic() - start

    def report(self, load_seconds: float, settle_seconds: float, seconds: int, target: int) -> int:
        cockpit, remote = self.read_sides()
        conflicts = self.stack.sql(
            "SELECT task_id, salesforce_field, cockpit_value::text, salesforce_value::text "
            "FROM sync_conflict"
        )
        named: dict[tuple[int, str], set[str]] = {}
        for task_id, name, ours, theirs in conflicts:
            values = {v.strip('"') for v in (ours, theirs) if v}
            values |= {STATUS_OUT.get(v, v) for v in values} | {
                PRIORITY_OUT.get(v, v) for v in values
            }
            named.setdefault((task_id, name), set()).update(values)
        by_sf = {t["sf"]: pk for pk, t in cockpit.items() if t["sf"]}
        links_back = {sf: pk for pk, sf in self.links.items()}
        window = float(os.environ.get("RACE_WINDOW") or 2)

        # One-to-one.
        duplicates = []
        external = Counter(
            r["Cockpit_Task_Id__c"] for r in remote.values() if r["Cockpit_Task_Id__c"]
        )
        duplicates += [f"external id {k} on {n} twins" for k, n in external.items() if n > 1]
        duplicates += [f"Cockpit task {pk} has no twin" for pk, t in cockpit.items() if not t["sf"]]
        linked = Counter(t["sf"] for t in cockpit.values() if t["sf"])
        duplicates += [f"{sf} linked from {n} tasks" for sf, n in linked.items() if n > 1]
        duplicates += [f"Salesforce task {i} has no Cockpit task" for i in remote if i not in by_sf]

        def resolve(key: str) -> tuple[int | None, str | None]:
            kind, ident = key.split(":", 1)
            if kind == "ck":
                return int(ident), self.links.get(int(ident))
            return links_back.get(ident), ident

        # Deletes that stick.
        undone = []
        deleted = set()
        for write in self.log.writes:
            if write.field != "delete":
                continue
            pk, sf_id = resolve(write.key)
            deleted.add(write.key)
            if pk is not None and pk in cockpit:
                undone.append(f"task {pk} deleted in {write.side}, still in Cockpit")
            if sf_id is not None and sf_id in remote:
                undone.append(f"twin {sf_id} deleted in {write.side}, still in Salesforce")

        # The last acknowledged write of each field.
        last: dict[tuple[str, str], list[Write]] = {}
        for write in self.log.writes:
            if write.field != "delete":
                last.setdefault((write.key, write.field), []).append(write)
        lost, concurrent, diverged, checked = [], 0, [], 0
        pushes = self._pushes()
        for (key, name), writes in last.items():
            if key in deleted:
                continue
            pk, sf_id = resolve(key)
            if pk not in cockpit or sf_id not in remote:
                continue  # deleted by the other side (counted above if it was acknowledged)
            writes.sort(key=lambda w: w.acked)
            newest = writes[-1]
            theirs = remote[sf_id][name] or None
            ours = cockpit[pk][name]
            checked += 1
            if name == "Status":
                back = STATUS_IN.get(theirs or "")
                if back is not None and back != ours and theirs != STATUS_OUT[ours]:
                    diverged.append(f"task {pk} Status: Cockpit {ours!r}, Salesforce {theirs!r}")
            elif ours != theirs:
                diverged.append(f"task {pk} {name}: Cockpit {ours!r}, Salesforce {theirs!r}")
            # Writes whose calls overlapped have no order (an answer can arrive after a later
            # commit): any write that no other write began after the end of may be the last.
            may_be_last = [w for w in writes if all(o is w or o.started <= w.acked for o in writes)]
            if any(theirs == w.value for w in may_be_last):
                continue
            if any(str(w.value) in named.get((pk, name), set()) for w in may_be_last):
                continue
            rivals = [
                w
                for w in self.log.writes
                if w.field == name
                and w.side != newest.side
                and resolve(w.key) == (pk, sf_id)
                and abs(w.acked - newest.acked) <= window
                and w.value == theirs
            ]
            if rivals or (
                newest.side == "sf" and self._pushed_near(pushes, pk, name, newest, window)
            ):
                concurrent += 1
                continue
            history = "; ".join(
                f"{w.side} {w.value!r} {w.started - self.t0:.2f}-{w.acked - self.t0:.2f} s"
                for w in writes[-4:]
            )
            lost.append(
                f"task {pk} / {sf_id} {name}: last acknowledged {newest.value!r} "
                f"({newest.side}), Salesforce holds {theirs!r}, Cockpit {ours!r}; "
                f"the last writes: {history}"
            )
        stuck = self.stack.sql(
            "SELECT state, count(*) FROM sync_outboxentry "
            "WHERE state IN ('pending', 'in_flight', 'failed') GROUP BY state"
        )
        ops = self.log.operations
        print(f"stack: {self.stack.description}; 3 workers × 2, beat, listener, 2 gunicorn")
        print(
            f"load: {load_seconds:,.0f} s (target {seconds:,} s), then {settle_seconds:,.0f} s "
            f"to settle; operations: {self.log.total:,} (target {target:,})"
        )
        print("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(ops.items())))
        if self.log.refused:
            print(
                "  not acknowledged: "
                + ", ".join(f"{k} {v:,}" for k, v in self.log.refused.items())
            )
            for kind, reasons in self.log.refusals.items():
                for reason, count in reasons.most_common(3):
                    print(f"    {kind}: {count:,} × {reason}")
        print(f"kills: {sum(self.kills.values()):,} ({dict(self.kills)})")
        print(
            f"compared: {len(cockpit):,} Cockpit tasks, {len(remote):,} Salesforce tasks, "
            f"{checked:,} fields with acknowledged writes, {len(conflicts):,} conflicts recorded"
        )
        lags = sorted(self.lags) or [0.0]
        unseen = len(self.unseen)
        print(
            f"longest time an acknowledged edit took to reach the other side: {lags[-1]:.1f} s "
            f"(p50 {lags[len(lags) // 2]:.1f} s, p95 {lags[int(len(lags) * 0.95)]:.1f} s; "
            f"{len(self.lags):,} seen, sampled every second; {unseen:,} overwritten or never seen)"
        )
        print(
            f"overwritten by the other side's write (or Cockpit's push of it) within "
            f"{window:.0f} s: {concurrent:,}"
        )
        print(
            f"duplicates: {len(duplicates)}  lost edits: {len(lost)}  undone deletes: "
            f"{len(undone)}  entries stuck: {sum(n for _, n in stuck)} {dict(stuck)}  "
            f"diverged: {len(diverged)}"
        )
        for line in (duplicates + lost + undone + diverged)[:40]:
            print("  " + line)
        for pk in sorted({int(line.split()[1]) for line in lost})[:4]:
            self._task_log_print(pk)
        bad = duplicates or lost or undone or stuck or diverged
        return 1 if bad else 0

    def _pushes(self) -> dict[int, list[tuple[float, str]]]:
        """When Cockpit's pushes of each task landed (the sync log's, on the load's clock),
        with the fields they wrote."""
        epoch = (
            "extract(epoch FROM created_at)"
            if self.stack.postgres_database
            else "strftime('%s', created_at) + 0.0"
        )
        rows = self.stack.sql(
            f"SELECT task_id, {epoch}, message FROM sync_syncevent WHERE kind = 'pushed'"
        )
        pushes: dict[int, list[tuple[float, str]]] = {}
        for task_id, at, message in rows:
            pushes.setdefault(int(task_id), []).append((float(at) - self.t0_wall, message))
        return pushes

    def _pushed_near(
        self,
        pushes: dict[int, list[tuple[float, str]]],
        pk: int,
        name: str,
        write: Write,
        window: float,
    ) -> bool:
        """Whether Cockpit's push of this field landed within RACE_WINDOW of a Salesforce
        write it overwrote: a push that read first writes the values it merged from a read
        made a moment before (README, "What no sync can promise"), whenever the CSM's edit was
        acknowledged (it may have waited for the engine)."""
        label = FIELD_LABELS[name]
        acked = write.acked - self.t0
        for at, message in pushes.get(pk, []):
            sent = message.rpartition("pushed to Salesforce: ")[2]
            if abs(at - acked) <= window and label in sent.split(", "):
                return True
        return False

    def _task_log_print(self, pk: int) -> None:
        """What the sync logged for a task with a lost edit (its last 30 events), with times
        on the report's clock: which push sent the older value, after which pull."""
        rows = self.stack.sql(
            "SELECT extract(epoch FROM created_at), kind, message FROM sync_syncevent "
            f"WHERE task_id = {int(pk)} ORDER BY created_at DESC, id DESC LIMIT 30"
            if self.stack.postgres_database
            else "SELECT strftime('%s', created_at) + 0.0, kind, message FROM sync_syncevent "
            f"WHERE task_id = {int(pk)} ORDER BY created_at DESC, id DESC LIMIT 30"
        )
        print(f"  the sync's log of task {pk} (newest last):")
        for at, kind, message in reversed(rows):
            print(f"    {float(at) - self.t0_wall:8.2f} s {kind}: {message[:160]}")


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cockpit-race-"))
    race = Race(workdir)
    code = 1
    try:
        race.start()
        code = race.run()
    finally:
        race.stop.set()
        race.stack.stop()
        if os.environ.get("RACE_KEEP"):
            print(f"stack folder and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if code:
        sys.exit(code)
