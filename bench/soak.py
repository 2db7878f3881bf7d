"""The model-based sync test (tests/sync/model.py) at length: random orders of CSM, Salesforce
user, admin, push, pull, change-event, drift-repair and fault steps against the emulator, the
invariants checked after every run.

`python -m bench soak`. Runs fresh random examples, a new seed each round, until at least
`SOAK_OPERATIONS` (5,000) operations are done (Hypothesis ends a round early when it thinks it
has seen enough, so one round is not enough). `SOAK_SEED` starts from a given seed (each round
uses the next one), `SOAK_SKIP` leaves rule groups out (comma-separated; see model.GROUPS),
`SOAK_SHRINK=1` minimises a failing example before reporting it (minutes each). A broken
invariant is counted and the soak goes on with the next seed.
Prints what was done and what the final checks counted; for each broken invariant, the seed
and the failing steps, and exits 1.
"""

import os
import random
import sys
import time

STEPS = 50


def main() -> None:
    operations = int(os.environ.get("SOAK_OPERATIONS", "5000"))
    first_seed = int(os.environ.get("SOAK_SEED") or random.randrange(2**32))
    skip = frozenset(s for s in os.environ.get("SOAK_SKIP", "").split(",") if s)
    from bench.org import connected_org

    with connected_org() as (emulator, alice):
        from django.conf import settings
        from hypothesis import HealthCheck, Phase, seed
        from hypothesis import settings as hypothesis_settings
        from hypothesis.errors import FlakyFailure  # a failure that a replay did not repeat
        from hypothesis.stateful import run_state_machine_as_test

        from tests.sync.model import GRACE, TIMEOUT, Stats, SyncWorld, build_machine

        settings.SALESFORCE_TIMEOUT_SECONDS = TIMEOUT
        settings.SYNC_PULL_OVERLAP_SECONDS = 5
        settings.SYNC_UNCERTAIN_GRACE_SECONDS = GRACE
        settings.SYNC_STREAM_LINGER_MS = 0
        stats = Stats()
        phases = list(Phase)
        if os.environ.get("SOAK_SHRINK") != "1":
            phases.remove(Phase.shrink)  # the failing steps as found: longer, but at once
        world = SyncWorld(emulator, alice, stats, fault_percent=12)
        start = time.perf_counter()
        failures: list[tuple[int, Exception]] = []
        seeds = []
        current = first_seed
        while sum(stats.operations.values()) < operations:
            seeds.append(current)
            left = operations - sum(stats.operations.values())
            machine = seed(current)(build_machine(world, skip=skip))
            try:
                run_state_machine_as_test(
                    machine,
                    settings=hypothesis_settings(
                        max_examples=max(1, left // STEPS),
                        stateful_step_count=STEPS,
                        database=None,
                        deadline=None,
                        suppress_health_check=list(HealthCheck),
                        print_blob=True,
                        phases=phases,
                    ),
                )
            except (AssertionError, FlakyFailure) as exc:
                # Counted, and the soak goes on with the next seed: one broken promise must
                # not hide the others.
                failures.append((current, exc))
            current = (current + 1) % 2**32
        seconds = time.perf_counter() - start
        done = sum(stats.operations.values())
        faults = sum(stats.faults.values())
        print(f"seeds: {', '.join(map(str, seeds))}  (SOAK_SEED={first_seed} runs them again)")
        if skip:
            print(f"rule groups left out: {', '.join(sorted(skip))}")
        print(f"runs: {stats.runs}  operations: {done:,}  in {seconds:,.0f} s")
        print("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.operations.items())))
        print(
            f"faults: {faults:,} ({faults / max(done, 1):.1%} of operations): "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.faults.items()))
        )
        print(f"conflicts recorded: {stats.conflicts:,}")
        per_operation = stats.api_calls / max(done, 1)
        print(f"Salesforce API calls: {stats.api_calls:,} ({per_operation:.2f} an operation)")
        print(
            "checked: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.checked.items()))
            + " (each a check made after a settled run)"
        )
        kinds = ("duplicates", "lost edits", "undone deletes", "diverged", "failed pushes")
        print("found: " + "  ".join(f"{k}: {stats.found[k]:,}" for k in kinds))
        for failed_seed, failure in failures:
            print(f"\nINVARIANT BROKEN (seed {failed_seed}): {failure}")
            # Hypothesis attaches the failing steps to the exception as notes.
            print("\n".join(getattr(failure, "__notes__", [])))
        if failures:
            sys.exit(1)
