"""The whole stack, as production runs it: web (gunicorn), Celery worker, Celery beat and the
Salesforce emulator, each a real process with its own environment; nothing is mocked.

The test drives Cockpit only over HTTP, as an integrator would (REST API under /api/v1/), and
Salesforce only through simple-salesforce against the emulator. It proves the paths between the
processes: signal → outbox → broker → worker → Salesforce for Cockpit changes, and beat's pull
tick → worker → Cockpit for Salesforce changes; and that the outbox and beat's sweep recover a
change whose worker was down and whose broker message was lost.

Latencies (seconds from a change on one side to seeing it on the other) are printed; run with
`-s` to see them. Only generous bounds are asserted, never exact timings.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.stack import PRODUCTION, Synced, wait_for

# Outbound is driven by signals "within seconds"; inbound by beat's pull tick (every 10 s) and
# the pull interval (10 s here): both well inside this bound on a loaded CI machine.
OUTBOUND_BOUND = 30.0
INBOUND_BOUND = 45.0


def _unique(label: str) -> str:
    return f"{label} {secrets.token_hex(4)}"


@pytest.fixture
def synced(start_stack: Callable[..., Synced]) -> Synced:
    """The stack with the sync configured through the API, as an admin would; the one the
    health and metrics tests use too (production's settings), kept from test to test: each
    test's tasks have names of their own. Every process's log is printed after a failed test
    (what the worker did is rarely in the assert)."""
    return start_stack(env=PRODUCTION, keep=True)


def test_changes_on_either_side_reach_the_other_through_the_real_processes(synced: Synced) -> None:
    alice, sf = synced.alice, synced.sf
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    print("\n  latencies (change on one side → seen on the other):")

    # 1. Outbound create: signal → outbox → broker → worker → Salesforce.
    renamed_name = _unique("Call Acme about renewal")
    kept_name = _unique("Send Globex the QBR deck")
    posted_at = time.monotonic()
    renamed = alice.call("POST", "tasks/", {"name": renamed_name, "due_date": tomorrow}, expect=201)
    kept = alice.call("POST", "tasks/", {"name": kept_name, "due_date": tomorrow}, expect=201)
    assert renamed["owner"] == synced.alice_id

    def pushed(task: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        now = alice.call("GET", f"tasks/{task['id']}/")
        found = synced.sf_tasks(f"Subject = '{name}'")
        if now["sync"]["state"] == "synced" and found:
            return now, found[0]
        return None

    renamed, sf_renamed = synced.measure(
        "Cockpit create → Salesforce",
        posted_at,
        lambda: pushed(renamed, renamed_name),
        bound=OUTBOUND_BOUND,
    )
    kept, sf_kept = wait_for(
        lambda: pushed(kept, kept_name), timeout=OUTBOUND_BOUND, what="the second push"
    )
    assert renamed["salesforce_id"] == sf_renamed["Id"]
    assert kept["salesforce_id"] == sf_kept["Id"]
    assert sf_renamed["OwnerId"] == synced.alice_salesforce_id
    assert sf_renamed["ActivityDate"] == tomorrow
    assert sf_renamed["Status"] == "Not Started"
    assert renamed["sync"]["error"] == ""

    # 2. Outbound completion.
    completed_at = time.monotonic()
    alice.call("PATCH", f"tasks/{renamed['id']}/", {"status": "Complete"})
    synced.measure(
        "Cockpit complete → Salesforce",
        completed_at,
        lambda: synced.sf_tasks(f"Id = '{sf_renamed['Id']}' AND Status = 'Completed'"),
        bound=OUTBOUND_BOUND,
    )

    # 3-5. Inbound, all in the same pull cycle: an edit, a new task and a deletion made in
    # Salesforce reach Cockpit through beat's pull tick and the worker.
    new_subject = _unique("Call Acme about the renewal (moved)")
    created_subject = _unique("Prepare Initech onboarding")
    edited_at = time.monotonic()
    sf.Task.update(sf_renamed["Id"], {"Subject": new_subject})
    created_at = time.monotonic()
    sf.Task.create(
        {
            "Subject": created_subject,
            "OwnerId": synced.alice_salesforce_id,
            "ActivityDate": tomorrow,
            "Status": "In Progress",
            "Priority": "High",
        }
    )
    deleted_at = time.monotonic()
    sf.Task.delete(sf_kept["Id"])

    def arrived(started: float, check: Callable[[], Any]) -> Callable[[], Any]:
        def poll() -> Any:
            result = check()
            return (result, time.monotonic() - started) if result else None

        return poll

    pending: dict[str, Callable[[], Any]] = {
        "Salesforce edit → Cockpit": arrived(
            edited_at,
            lambda: alice.call("GET", f"tasks/{renamed['id']}/")["name"] == new_subject,
        ),
        "Salesforce create → Cockpit": arrived(
            created_at,
            lambda: alice.call("GET", f"tasks/?search={created_subject.split()[-1]}")["results"],
        ),
        "Salesforce delete → Cockpit": arrived(
            deleted_at,
            lambda: alice.request("GET", f"tasks/{kept['id']}/").status_code == 404,
        ),
    }
    seen: dict[str, Any] = {}

    def all_arrived() -> bool:
        for what, poll in pending.items():
            if what not in seen and (answer := poll()):
                seen[what] = answer[0]
                synced.latencies[what] = answer[1]
                print(f"  {what}: {answer[1]:.1f} s")
        return len(seen) == len(pending)

    try:
        wait_for(all_arrived, timeout=INBOUND_BOUND, what="Salesforce changes", every=0.25)
    except AssertionError as exc:
        missing = sorted(set(pending) - set(seen))
        raise AssertionError(f"{exc}; still missing in Cockpit: {missing}") from None
    edited = alice.call("GET", f"tasks/{renamed['id']}/")
    assert edited["status"] == "Complete"  # only the Subject changed in Salesforce
    assert edited["sync"]["state"] == "synced"
    [imported] = seen["Salesforce create → Cockpit"]
    assert imported["name"] == created_subject
    assert imported["owner"] == synced.alice_id
    assert imported["status"] == "In Progress"
    assert imported["priority"] == "High"
    assert imported["due_date"] == tomorrow
    assert imported["sync"]["state"] == "synced"
    assert imported["salesforce_id"]

    # 6. Outbound delete.
    removed_at = time.monotonic()
    alice.call("DELETE", f"tasks/{renamed['id']}/", expect=204)
    synced.measure(
        "Cockpit delete → Salesforce",
        removed_at,
        lambda: synced.sf_tasks(
            f"Id = '{sf_renamed['Id']}' AND IsDeleted = true", include_deleted=True
        ),
        bound=OUTBOUND_BOUND,
    )
    assert synced.sf_tasks(f"Id = '{sf_renamed['Id']}'") == []

    # No echo: what came from Salesforce was not pushed back as a copy.
    assert len(synced.sf_tasks(f"Subject = '{created_subject}'")) == 1
    assert len(synced.sf_tasks(f"Subject = '{new_subject}'", include_deleted=True)) == 1
    # Nothing failed for good, and a Subject changed only in Salesforce is no conflict.
    errors = synced.admin.call("GET", "sync/errors/")
    assert errors["count"] == 0, errors
    conflicts = synced.admin.call("GET", "sync/conflicts/")
    assert conflicts["count"] == 0, conflicts


def test_a_change_made_while_the_worker_is_down_is_pushed_once_it_is_back(synced: Synced) -> None:
    stack, alice = synced.stack, synced.alice
    print("\n  recovery:")
    stack.stop_worker()

    name = _unique("Follow up with Umbrella")
    task = alice.call("POST", "tasks/", {"name": name}, expect=201)
    # The broker loses the doorbell (and beat's messages): the outbox row alone must be enough.
    # Messages still there to purge show that no one takes them: with the broker empty and no
    # worker, nothing can push the change until the worker is back.
    purged = stack.run("celery", "-A", "cockpit", "purge", "-f")
    assert re.search(r"Purged [1-9]\d* messages?", purged), purged
    assert alice.call("GET", f"tasks/{task['id']}/")["sync"]["state"] == "pending"
    assert synced.sf_tasks(f"Subject = '{name}'") == []

    stack.start_worker()
    synced.measure(
        "worker ready → pending change in Salesforce (beat's sweep)",
        time.monotonic(),
        lambda: (
            synced.sf_tasks(f"Subject = '{name}'")
            and alice.call("GET", f"tasks/{task['id']}/")["sync"]["state"] == "synced"
        ),
        bound=OUTBOUND_BOUND,
    )
    assert len(synced.sf_tasks(f"Subject = '{name}'")) == 1


def test_an_imported_task_edited_on_both_sides_at_real_timing_keeps_one_twin_and_both_edits(
    synced: Synced,
) -> None:
    alice, sf = synced.alice, synced.sf
    print("\n  both sides at real timing:")
    subject = _unique("Renewal call with Hooli")
    salesforce_id = sf.Task.create(
        {"Subject": subject, "OwnerId": synced.alice_salesforce_id, "Priority": "Normal"}
    )["id"]

    def cockpit_task() -> dict[str, Any] | None:
        found = alice.call("GET", f"tasks/?search={subject.split()[-1]}")["results"]
        return found[0] if found else None

    task = synced.measure(
        "Salesforce create → Cockpit", time.monotonic(), cockpit_task, bound=INBOUND_BOUND
    )
    assert task["salesforce_id"] == salesforce_id

    # An imported task edited in Cockpit: its twin is updated by Id, no second one appears.
    edited_at = time.monotonic()
    alice.call("PATCH", f"tasks/{task['id']}/", {"details": "Agenda: pricing"})
    synced.measure(
        "Cockpit edit of an imported task → Salesforce",
        edited_at,
        lambda: sf.Task.get(salesforce_id)["Description"] == "Agenda: pricing",
        bound=OUTBOUND_BOUND,
    )
    assert len(synced.sf_tasks(f"Subject = '{subject}'")) == 1

    # Then different fields on both sides within one pull interval: the push (a second after
    # the Cockpit edit) runs long before the pull, and must not overwrite Salesforce's edit.
    renamed = _unique("Renewal call with Hooli, moved")
    sf.Task.update(salesforce_id, {"Subject": renamed})
    both_at = time.monotonic()
    alice.call("PATCH", f"tasks/{task['id']}/", {"priority": "High"})

    def converged() -> bool:
        remote = sf.Task.get(salesforce_id)
        local = alice.call("GET", f"tasks/{task['id']}/")
        return (remote["Subject"], remote["Priority"], local["name"], local["priority"]) == (
            renamed,
            "High",
            renamed,
            "High",
        )

    synced.measure(
        "edits of different fields on both sides → both everywhere",
        both_at,
        converged,
        bound=INBOUND_BOUND,
    )
    assert len(synced.sf_tasks(f"Subject = '{renamed}'")) == 1
    assert len(alice.call("GET", f"tasks/?search={renamed.split()[-1]}")["results"]) == 1
    conflicts = synced.admin.call("GET", "sync/conflicts/")
    assert conflicts["count"] == 0, conflicts
