"""Sync economy: API calls and database queries per synced record, and records a second.

Outbound: 1,000 Cockpit tasks pushed through the outbox. Inbound: 1,000 Salesforce edits and
200 deletions pulled back. Against the emulator over HTTPS, on a throwaway SQLite database.
"""

import time

N = 1_000


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

    from sync import inbound, outbound
    from tasks import services as tasks

    inbound.pull_run(force=True)  # the first import (nothing to import)

    for n in range(N):
        tasks.task_create(owner=alice, name=f"Bench task {n}")
    emulator.reset_request_log()
    with CountQueries() as queries:
        start = time.perf_counter()
        result = outbound.outbox_push_all()
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


def _report(label: str, records: int, seconds: float, calls: int, queries: int) -> None:
    per_record = f"{calls / records:.4f}" if records else "-"
    queries_per = f"{queries / records:.1f}" if records else "-"
    print(
        f"{label:34} {records:5,} records  {records / seconds:7,.0f} records/s  "
        f"{calls:3d} API calls ({per_record} a record)  {queries:6,} queries "
        f"({queries_per} a record)"
    )
