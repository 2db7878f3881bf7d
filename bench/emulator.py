"""Salesforce emulator throughput over real HTTPS with simple-salesforce, and API calls spent.

Figures: records a second for sObject Collections writes (200 a call) and SOQL reads (pages of
2,000), and the API calls each costs per 1,000 records, as the emulator's request log counts.
"""

import tempfile
import time
from pathlib import Path

from tests.sfemu import EmulatorProcess, SalesforceEmulator

RECORDS = 4_000


def main() -> None:
    process = EmulatorProcess(Path(tempfile.mkdtemp(prefix="sfemu-bench-")))
    process.start()
    try:
        emulator = SalesforceEmulator(process)
        emulator.reset()
        sf = emulator.simple_salesforce()
        owner = emulator.integration_user_id
        emulator.reset_request_log()

        start = time.perf_counter()
        ids = []
        for offset in range(0, RECORDS, 200):
            batch = [
                {
                    "attributes": {"type": "Task"},
                    "Subject": f"Bench task {n}",
                    "OwnerId": owner,
                    "ActivityDate": "2026-12-01",
                    "Cockpit_Task_Id__c": f"bench-{n}",
                }
                for n in range(offset, offset + 200)
            ]
            result = sf.restful(
                "composite/sobjects", method="POST", json={"allOrNone": False, "records": batch}
            )
            ids.extend(r["id"] for r in result if r["success"])
        write_seconds = time.perf_counter() - start
        write_calls = emulator.api_calls()
        _report("create via composite/sobjects", len(ids), write_seconds, write_calls)

        emulator.reset_request_log()
        start = time.perf_counter()
        rows = sf.query_all("SELECT Id, Subject, Status, ActivityDate FROM Task")["records"]
        read_seconds = time.perf_counter() - start
        _report("read via query_all (2,000 a page)", len(rows), read_seconds, emulator.api_calls())

        emulator.reset_request_log()
        start = time.perf_counter()
        updated = 0
        for offset in range(0, len(ids), 200):
            chunk = ids[offset : offset + 200]
            result = sf.restful(
                "composite/sobjects",
                method="PATCH",
                json={
                    "allOrNone": False,
                    "records": [
                        {"attributes": {"type": "Task"}, "id": i, "Status": "Completed"}
                        for i in chunk
                    ],
                },
            )
            updated += sum(1 for r in result if r["success"])
        _report(
            "update via composite/sobjects",
            updated,
            time.perf_counter() - start,
            emulator.api_calls(),
        )
        usage = sf.api_usage.get("api-usage")
        print(f"Sforce-Limit-Info as parsed by simple-salesforce: {usage}")
    finally:
        process.stop()


def _report(label: str, records: int, seconds: float, calls: int) -> None:
    print(
        f"{label:36} {records:6,} records  {records / seconds:8,.0f} records/s  "
        f"{calls:4d} API calls  {calls * 1000 / max(records, 1):5.1f} calls per 1,000 records"
    )
