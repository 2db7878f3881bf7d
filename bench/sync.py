"""Sync economy: API calls and database queries per synced record, and records a second.

Outbound: 1,000 Cockpit tasks pushed through the outbox. Inbound: 1,000 Salesforce edits and
200 deletions pulled back. Then a first import of BENCH_RECONCILE_N (10,000) Salesforce tasks
and a drift repair (reconcile) of all of them. Against the emulator over HTTPS, on a throwaway
SQLite database.
"""

import os
import time

N = 1_000
RECONCILE_N = int(os.environ.get("BENCH_RECONCILE_N", "10000"))


def main() -> None:
    from bench.org import connected_org

    with connected_org() as (emulator, alice):
        _run(emulator, alice)


def _run(emulator, alice) -> None:
    from django.db import connection

    class CountQueries:
        """Counts every query (CaptureQueriesContext keeps only the last 9,000)."""

        def __enter__(self):
            self.count = 0
            self._cm = connection.execute_wrapper(self)
            self._cm.__enter__()
            return self

        def __call__(self, execute, sql, params, many, context):
            self.count += 1
            return execute(sql, params, many, context)

        def __exit__(self, *exc):
            self._cm.__exit__(*exc)

        def __len__(self):
            return self.count

    from sync import inbound
    from sync.push import outbox_push_all
    from tasks import services as tasks

    inbound.pull_run(force=True)  # the first import (nothing to import)

    for n in range(N):
        tasks.task_create(owner=alice, name=f"Bench task {n}")
    emulator.reset_request_log()
    with CountQueries() as queries:
        start = time.perf_counter()
        result = outbox_push_all()
        seconds = time.perf_counter() - start
    _report(
        "push (outbox → collections)",
        result.pushed,
        seconds,
        emulator.api_calls(),
        len(queries),
    )

    sf = emulator.simple_salesforce()
    ids = [r["Id"] for r in sf.query_all("SELECT Id FROM Task")["records"]]
    for offset in range(0, len(ids), 200):
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={
                "records": [
                    {"attributes": {"type": "Task"}, "id": i, "Subject": "Edited in Salesforce"}
                    for i in ids[offset : offset + 200]
                ]
            },
        )
    sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids[:200])})
    emulator.reset_request_log()
    with CountQueries() as queries:
        start = time.perf_counter()
        pulled = inbound.pull_run(force=True)
        seconds = time.perf_counter() - start
    _report(
        "pull (queryAll + getDeleted)",
        pulled.updated + pulled.deleted,
        seconds,
        emulator.api_calls(),
        len(queries),
    )
    print(
        f"pull detail: {pulled.updated} updated, {pulled.deleted} deleted, "
        f"{pulled.unchanged} unchanged, {pulled.conflicts} conflicts"
    )

    emulator.reset_request_log()
    start = time.perf_counter()
    echo = inbound.pull_run(force=True)
    _report(
        "pull with nothing new (echo only)",
        echo.updated,
        time.perf_counter() - start,
        emulator.api_calls(),
        0,
    )
    if RECONCILE_N:
        alice_sf_id = sf.query("SELECT Id FROM User WHERE Email = 'alice@example.com'")
        _reconcile(emulator, alice_sf_id["records"][0]["Id"], CountQueries)


def _reconcile(emulator, alice_sf_id: str, count_queries) -> None:
    from sync import inbound
    from sync.reconcile import reconcile_run

    sf = emulator.simple_salesforce()
    for offset in range(0, RECONCILE_N, 200):
        sf.restful(
            "composite/sobjects",
            method="POST",
            json={
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Task"}, "OwnerId": alice_sf_id, "Subject": f"R {n}"}
                    for n in range(offset, min(offset + 200, RECONCILE_N))
                ],
            },
        )
    emulator.reset_request_log()
    with count_queries() as queries:
        start = time.perf_counter()
        pulled = inbound.pull_run(force=True)
        seconds = time.perf_counter() - start
    _report(
        f"pull of {RECONCILE_N:,} new tasks",
        pulled.created,
        seconds,
        emulator.api_calls(),
        len(queries),
    )
    emulator.reset_request_log()
    with count_queries() as queries:
        start = time.perf_counter()
        run = reconcile_run()
        seconds = time.perf_counter() - start
    _report("reconcile (drift repair)", run.checked, seconds, emulator.api_calls(), len(queries))
    print(
        f"reconcile detail: {run.checked:,} compared, {run.repaired_in_cockpit} repaired in "
        f"Cockpit, {run.repaired_in_salesforce} queued for Salesforce, {run.twins_missing} "
        f"missing, {run.conflicts} conflicts{'; ' + run.error if run.error else ''}"
    )


def _report(label: str, records: int, seconds: float, calls: int, queries: int) -> None:
    per_record = f"{calls / records:.4f}" if records else "-"
    queries_per = f"{queries / records:.1f}" if records else "-"
    print(
        f"{label:34} {records:6,} records  {records / seconds:7,.0f} records/s  "
        f"{calls:3d} API calls ({per_record} a record)  {queries:6,} queries "
        f"({queries_per} a record)"
    )
