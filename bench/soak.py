"""The model-based sync test (tests/sync/model.py) at length: random orders of CSM, Salesforce
user, push, pull and fault steps against the emulator, the invariants checked after every run.

`python -m bench soak` (SOAK_OPERATIONS, default 5,000). Prints operations, faults, conflicts,
duplicates, lost edits and API calls; stops with the failing sequence if an invariant breaks.
"""

import os
import sys
import time

STEPS = 50


def main() -> None:
    operations = int(os.environ.get("SOAK_OPERATIONS", "5000"))
    from bench.org import connected_org

    with connected_org() as (emulator, alice):
        from django.conf import settings
        from hypothesis import HealthCheck
        from hypothesis import settings as hypothesis_settings
        from hypothesis.stateful import run_state_machine_as_test

        from tests.sync.model import GRACE, TIMEOUT, Stats, SyncWorld, build_machine

        settings.SALESFORCE_TIMEOUT_SECONDS = TIMEOUT
        settings.SYNC_PULL_OVERLAP_SECONDS = 5
        settings.SYNC_UNCERTAIN_GRACE_SECONDS = GRACE
        settings.SYNC_STREAM_LINGER_MS = 0
        stats = Stats()
        world = SyncWorld(emulator, alice, stats, fault_percent=12)
        start = time.perf_counter()
        failure = None
        try:
            run_state_machine_as_test(
                build_machine(world),
                settings=hypothesis_settings(
                    max_examples=max(1, operations // STEPS),
                    stateful_step_count=STEPS,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                    print_blob=True,
                ),
            )
        except AssertionError as exc:
            failure = exc
        seconds = time.perf_counter() - start
        done = sum(stats.operations.values())
        faults = sum(stats.faults.values())
        print(f"runs: {stats.runs}  operations: {done:,}  in {seconds:,.0f} s")
        print("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.operations.items())))
        print(
            f"faults: {faults:,} ({faults / max(done, 1):.1%} of operations): "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.faults.items()))
        )
        print(f"conflicts recorded: {stats.conflicts:,}")
        per_operation = stats.api_calls / max(done, 1)
        print(f"Salesforce API calls: {stats.api_calls:,} ({per_operation:.2f} an operation)")
        if failure is None:
            print(
                "duplicates: 0  lost edits: 0  deletes undone: 0  (every run settled and checked)"
            )
        else:
            print(f"INVARIANT BROKEN: {failure}")
            sys.exit(1)
