"""Beat's sweep: work a lost message or a crashed worker left behind goes out without a new
change to ring for it."""

import datetime as dt

import pytest
from django.utils import timezone

from sync.lease import ENGINE
from sync.models import Lease, OutboxEntry
from sync.tasks import sweep
from tasks import services as tasks
from tasks.models import TaskSyncRecord

pytestmark = pytest.mark.django_db


def crashed_mid_push(alice, *, lease_left: dt.timedelta):
    """A task whose push a cycle claimed before its worker died, its lease `lease_left`."""
    task = tasks.task_create(owner=alice, name="Claimed by a dead worker")
    OutboxEntry.objects.update(state=OutboxEntry.State.IN_FLIGHT, claimed_at=timezone.now())
    Lease.objects.update_or_create(
        name=ENGINE, defaults={"token": "dead", "locked_until": timezone.now() + lease_left}
    )
    return task


def test_the_sweep_takes_back_a_dead_cycles_claims_once_its_lease_ran_out(org, alice):
    task = crashed_mid_push(alice, lease_left=-dt.timedelta(seconds=1))

    sweep()

    assert TaskSyncRecord.objects.get(task=task).state == TaskSyncRecord.State.SYNCED
    assert (
        org.simple_salesforce().query(
            "SELECT COUNT() FROM Task WHERE Subject = 'Claimed by a dead worker'"
        )["totalSize"]
        == 1
    )


def test_the_sweep_leaves_a_live_cycles_claims_alone(org, alice):
    crashed_mid_push(alice, lease_left=dt.timedelta(seconds=30))
    org.reset_request_log()

    sweep()

    assert OutboxEntry.objects.get().state == OutboxEntry.State.IN_FLIGHT
    assert org.api_calls() == 0
