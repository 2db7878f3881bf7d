"""Every order of events, with faults: the model-based test of the sync (see tests/sync/model.py).

A small budget runs in `make test`: a fixed set of examples (the same every run) and a few fresh
random ones, whose seed is printed; `MODEL_SEED=<seed>` runs those again. `python -m bench soak`
runs thousands of operations.
"""

import os
import random

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from adminconfig import services as config
from tests.sync.model import GRACE, TIMEOUT, SyncWorld, build_machine

pytestmark = pytest.mark.django_db

# Rule groups left out of CI's run until the fix for what they find lands (each named in the
# commit that leaves it out, with the failing example); `bench soak` runs every group.
PENDING_FIXES: frozenset[str] = frozenset()


@pytest.fixture
def world(org, alice, settings, django_capture_on_commit_callbacks):
    settings.SALESFORCE_TIMEOUT_SECONDS = TIMEOUT
    settings.SYNC_PULL_OVERLAP_SECONDS = 5
    settings.SYNC_UNCERTAIN_GRACE_SECONDS = GRACE
    settings.SYNC_STREAM_LINGER_MS = 0
    with django_capture_on_commit_callbacks(execute=True):
        config.sync_settings_update(bidirectional_sync=True)
    return SyncWorld(org, alice)


def _run(world, *, examples: int, derandomize: bool) -> None:
    run_state_machine_as_test(
        build_machine(world, skip=PENDING_FIXES),
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            derandomize=derandomize,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_both_sides_converge_with_one_twin_each_and_no_lost_edit_in_any_order(world):
    _run(world, examples=12, derandomize=True)
    assert world.stats.runs >= 10
    assert sum(world.stats.faults.values()) > 0
    assert world.stats.operations["stream"] > 0  # change events were one of the orders tried
    # Every kind of operation was tried, and the checks looked at fields, not only counts.
    done = set(world.stats.operations)
    for kind in (
        {name for name in done if name.startswith("mapping_")},
        {"desync"},
        {"reconcile"},
        {"sync_off"},
        *([] if "owners" in PENDING_FIXES else [{"csm_reassign", "sf_reassign"}]),
        *([] if "accounts" in PENDING_FIXES else [{"csm_company", "sf_account", "company_link"}]),
        {"csm_complete_many"},
    ):
        assert kind & done, f"none of {kind} in {sorted(done)}"
    assert world.stats.checked["lost edits"] > 0
    assert not world.stats.found


def test_fresh_random_orders_keep_the_promises_too(world):
    """New examples each run; the seed is printed so a failure can be run again with
    MODEL_SEED=<seed>."""
    chosen = int(os.environ.get("MODEL_SEED") or random.randrange(2**32))
    print(f"model seed: {chosen} (run again with MODEL_SEED={chosen})")
    machine = seed(chosen)(build_machine(world, skip=PENDING_FIXES))
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=4,
                stateful_step_count=30,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except AssertionError as exc:
        exc.add_note(f"Run these examples again with MODEL_SEED={chosen}")
        raise
    assert world.stats.runs >= 1


def test_a_mapping_saved_unchanged_keeps_deferred_in_salesforce_and_the_name_editable(world):
    """Issue 16's first break as one fixed order (Deferred, a pull, Editable ticked off and on
    again, its re-sync, a rename), with the model's own checks at the end."""
    machine = build_machine(world)()
    machine.start()
    machine.salesforce_user_edits(pick=1, what="Status", status="Deferred", priority="Low")
    machine.pull(roll=99)
    machine.admin_saves_mappings(move="touch", now=True)
    machine.csm_edits(pick=1, what="name", priority="Low")
    machine.push(limit=2000, roll=99)
    machine.teardown()
    assert world.stats.checked["lost edits"] > 0
    assert "csm_edit_refused" not in world.stats.operations


def test_a_task_handed_back_while_salesforce_gave_it_to_a_user_without_cockpit(world):
    """The owners rules' first find as one fixed order: a CSM hands a task to Bob, a Salesforce
    user gives it to Dave (no Cockpit account), the CSM takes it back, then a push."""
    machine = build_machine(world)()
    machine.start()
    machine.csm_reassigns(pick=1)
    machine.salesforce_user_reassigns(pick=1, to="dave")
    machine.csm_reassigns(pick=1)
    machine.push(limit=2000, roll=99)
    machine.teardown()
    assert world.stats.checked["lost edits"] > 0


def test_an_account_given_to_a_task_salesforce_handed_to_a_user_without_cockpit(world):
    """A fresh seed's find (MODEL_SEED=610180579) as one fixed order: a Salesforce user hands
    a synced task to Dave, then gives it the Globex Account; only the reconcile reads it."""
    machine = build_machine(world)()
    machine.start()
    machine.salesforce_user_reassigns(pick=0, to="dave")
    machine.salesforce_user_sets_account(pick=0, which="Globex")
    machine.teardown()
    assert world.stats.operations["sf_account"] == 1
