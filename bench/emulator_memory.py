"""The emulator's memory and query speed at 100,000 Tasks (issue 20), over real HTTPS.

Figures: the time of the queries a sync makes (an IN list of 200 external ids, one external
id, a Subject prefix, COUNT(), one owner's tasks), then the emulator process's resident memory
over 1,000 `query_all` calls of 2,400 rows (two pages each), sampled every 100 calls, with
the query cursors still open at the end. Memory is flat when the last samples match the first.

The 100,000 Tasks are written straight into a state file through the emulator's own store (a
few seconds a 10,000) before the process starts on it: loading them over the REST API would
take minutes. `BENCH_EMU_TASKS` and `BENCH_EMU_CALLS` shrink the run (e.g. 10000 and 100).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from sfemulator.records import Records, WriteContext
from sfemulator.schema import TASK, USER
from sfemulator.seed import seed
from sfemulator.sftime import Clock
from sfemulator.store import Store
from tests.sfemu import EmulatorProcess, SalesforceEmulator

TASKS = int(os.environ.get("BENCH_EMU_TASKS", "100000"))
CALLS = int(os.environ.get("BENCH_EMU_CALLS", "1000"))
OWNER_TASKS = 2_400  # one owner's tasks: query_all reads them in two pages
SAMPLE_EVERY = 100
ALICE = "alice@example.com.sfemu"


def build_state(path: Path) -> None:
    store = Store(path)
    records = Records(store, Clock())
    seed("users", store, records)
    users = {user["Username"]: user["Id"] for user in store.scan(USER.name, False)}
    alice = users[ALICE]
    others = [user_id for name, user_id in users.items() if name != ALICE]
    ctx = WriteContext(user_id=alice)
    with store.transaction():
        for n in range(TASKS):
            owner = alice if n < OWNER_TASKS else others[n % len(others)]
            kind = "Renewal call" if n % 50 == 0 else "Check-in"
            records.create(
                TASK,
                {
                    "Subject": f"{kind} {n:06d}",
                    "OwnerId": owner,
                    "ActivityDate": "2026-12-01",
                    "Cockpit_Task_Id__c": f"bench-{n}",
                },
                ctx,
            )
    store.close()


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="sfemu-memory-"))
    state = workdir / "state.sqlite3"
    start = time.perf_counter()
    build_state(state)
    print(f"state: {TASKS:,} Tasks written in {time.perf_counter() - start:.1f} s")

    process = EmulatorProcess(workdir, state_path=state)
    process.start(timeout=120)
    try:
        emulator = SalesforceEmulator(process)
        sf = emulator.simple_salesforce()
        alice = sf.query(f"SELECT Id FROM User WHERE Username = '{ALICE}'")["records"][0]["Id"]
        _query_times(sf, alice)
        _memory(sf, emulator, alice)
    finally:
        process.stop()


def _query_times(sf, alice: str) -> None:
    external_ids = ",".join(f"'bench-{n}'" for n in range(0, TASKS, max(1, TASKS // 200)))
    queries = {
        "IN list of 200 external ids": (
            f"SELECT Id, Cockpit_Task_Id__c FROM Task WHERE Cockpit_Task_Id__c IN ({external_ids})"
        ),
        "one external id": "SELECT Id FROM Task WHERE Cockpit_Task_Id__c = 'bench-777'",
        "Subject LIKE 'Renewal call 0001%'": (
            "SELECT Id, Subject FROM Task WHERE Subject LIKE 'Renewal call 0001%'"
        ),
        "COUNT()": "SELECT COUNT() FROM Task",
        "COUNT() of a Subject prefix": (
            "SELECT COUNT() FROM Task WHERE Subject LIKE 'Renewal call%'"
        ),
        f"one owner's {OWNER_TASKS:,} tasks (first page)": (
            f"SELECT Id FROM Task WHERE OwnerId = '{alice}'"
        ),
    }
    print(f"query times over HTTPS at {TASKS:,} Tasks (median of 5):")
    for label, soql in queries.items():
        times = []
        for _ in range(5):
            started = time.perf_counter()
            answer = sf.query(soql)
            times.append((time.perf_counter() - started) * 1000)
        print(f"  {label:42} {statistics.median(times):8.1f} ms  totalSize={answer['totalSize']:,}")


def _memory(sf, emulator: SalesforceEmulator, alice: str) -> None:
    soql = f"SELECT Id, Subject, Status, ActivityDate FROM Task WHERE OwnerId = '{alice}'"
    info = emulator.admin("GET", "info")
    samples: list[int] = [info["rss_kb"]]
    print(f"resident memory over {CALLS:,} query_all calls of {OWNER_TASKS:,} rows:")
    print(
        f"  before: {samples[0] / 1024:7.1f} MB  open cursors {info['open_cursors']} "
        "(the first pages read above)"
    )
    started = time.perf_counter()
    for call in range(1, CALLS + 1):
        rows = sf.query_all(soql)["records"]
        assert len(rows) == OWNER_TASKS, len(rows)
        if call % SAMPLE_EVERY == 0:
            info = emulator.admin("GET", "info")
            samples.append(info["rss_kb"])
            print(
                f"  after {call:5,}: {info['rss_kb'] / 1024:7.1f} MB  "
                f"open cursors {info['open_cursors']}"
            )
    seconds = time.perf_counter() - started
    growth = (samples[-1] - samples[1]) / 1024 if len(samples) > 2 else 0.0
    print(
        f"  {CALLS:,} calls in {seconds:.0f} s ({seconds * 1000 / CALLS:.0f} ms a query_all); "
        f"growth from the first sample to the last: {growth:+.1f} MB"
    )
