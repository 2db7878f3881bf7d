"""Every order of events, with faults: the model-based test of the sync (see tests/sync/model.py).

A small, fixed budget runs in `make test`; `python -m bench soak` runs thousands of operations.
"""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from adminconfig import services as config
from tests.sync.model import GRACE, TIMEOUT, SyncWorld, build_machine

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(org, alice, settings, django_capture_on_commit_callbacks):
    settings.SALESFORCE_TIMEOUT_SECONDS = TIMEOUT
    settings.SYNC_PULL_OVERLAP_SECONDS = 5
    settings.SYNC_UNCERTAIN_GRACE_SECONDS = GRACE
    settings.SYNC_STREAM_LINGER_MS = 0
    with django_capture_on_commit_callbacks(execute=True):
        config.sync_settings_update(bidirectional_sync=True)
    return SyncWorld(org, alice)


def test_both_sides_converge_with_one_twin_each_and_no_lost_edit_in_any_order(world):
    machine = build_machine(world)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=30,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert world.stats.runs >= 15
    assert sum(world.stats.faults.values()) > 0
    assert world.stats.operations["stream"] > 0  # change events were one of the orders tried
