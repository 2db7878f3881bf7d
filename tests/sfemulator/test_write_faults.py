"""The write-call faults: late_commit, apply_late and lose_answer.

Each test waits until the emulator holds no write call back before it ends, so that a held call
never lands in the next test's data after its reset.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from sfemulator.sftime import floor_minute, format_datetime, parse_datetime


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


@pytest.fixture
def background(sfemu_clean) -> Iterator[Callable[[Callable[[], Any]], dict[str, Any]]]:
    """Run a call in a thread; its outcome lands in the returned dict once joined."""
    threads: list[threading.Thread] = []

    def start(call: Callable[[], Any]) -> dict[str, Any]:
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = call()
            except Exception as error:  # noqa: BLE001 - the test inspects it
                outcome["error"] = error

        thread = threading.Thread(target=run, daemon=True)
        outcome["thread"] = thread
        threads.append(thread)
        thread.start()
        return outcome

    yield start
    for thread in threads:
        thread.join(timeout=30)
    sfemu_clean.wait_for_waiting_writes(0)


def _task(**fields):
    return {"attributes": {"type": "Task"}, **fields}


def _ids(sf, where: str) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Task WHERE {where} ORDER BY Id")["records"]]


def _literal(stamp: str) -> str:
    return stamp[:-5] + "Z"


# late_commit --------------------------------------------------------------------------------


def test_a_late_commit_becomes_visible_after_later_stamps_with_its_older_stamp(
    sf, sfemu_clean, background
):
    sfemu_clean.set_faults(late_commit_next=1, late_commit_ms=1500)
    late_client = sfemu_clean.simple_salesforce()

    late = background(lambda: late_client.Task.create({"Subject": "late"}))
    sfemu_clean.wait_for_waiting_writes(1)
    sfemu_clean.set_clock_offset(10)  # later writes get a later second, without sleeping
    early_id = sf.Task.create({"Subject": "early"})["id"]
    early_stamp = sf.Task.get(early_id)["SystemModstamp"]
    while_in_flight = _ids(sf, "Id != null")
    late["thread"].join(timeout=10)

    late_id = late["result"]["id"]
    late_record = sf.Task.get(late_id)
    assert while_in_flight == [early_id]
    assert late_record["SystemModstamp"] < early_stamp
    assert late_record["CreatedDate"] == late_record["SystemModstamp"]
    # A reader that kept `SystemModstamp >= last seen` as its watermark misses it for good.
    assert _ids(sf, f"SystemModstamp >= {_literal(early_stamp)}") == [early_id]
    assert _ids(sf, "Id != null") == sorted([early_id, late_id])


def test_get_updated_does_not_cover_a_commit_still_in_flight(sf, sfemu_clean, background):
    sfemu_clean.set_faults(late_commit_next=1, late_commit_ms=1500)
    late_client = sfemu_clean.simple_salesforce()
    now = datetime.now(UTC)
    window = (now - timedelta(hours=1), now + timedelta(minutes=10))

    late = background(lambda: late_client.Task.create({"Subject": "late"}))
    sfemu_clean.wait_for_waiting_writes(1)
    sfemu_clean.set_clock_offset(180)  # minutes later, so the covered minute differs
    early_id = sf.Task.create({"Subject": "early"})["id"]
    during = sf.Task.updated(*window)
    deleted_during = sf.Task.deleted(*window)
    late["thread"].join(timeout=10)
    after = sf.Task.updated(*window)

    late_stamp = parse_datetime(sf.Task.get(late["result"]["id"])["SystemModstamp"])
    assert late_stamp is not None
    assert during["ids"] == [early_id]
    assert during["latestDateCovered"] == format_datetime(floor_minute(late_stamp))
    assert deleted_during["latestDateCovered"] == during["latestDateCovered"]
    assert after["latestDateCovered"] > during["latestDateCovered"]
    assert sorted(after["ids"]) == sorted([early_id, late["result"]["id"]])


@pytest.mark.parametrize("operation", ["create", "update", "upsert", "delete"])
def test_a_collection_call_stamps_all_its_records_with_the_stamp_it_took_on_arrival(
    sf, sfemu_clean, background, operation
):
    ids = [sf.Task.create({"Subject": f"Old {n}", "Cockpit_Task_Id__c": f"ck-{n}"})["id"]
           for n in range(3)]  # fmt: skip
    calls = {
        "create": ("POST", "composite/sobjects", {"records": [_task(Subject="New")] * 3}),
        "update": (
            "PATCH",
            "composite/sobjects",
            {"records": [_task(Id=i, Subject="Edited") for i in ids]},
        ),
        "upsert": (
            "PATCH",
            "composite/sobjects/Task/Cockpit_Task_Id__c",
            {"records": [_task(Cockpit_Task_Id__c=f"ck-{n}", Subject="Up") for n in range(4)]},
        ),
        "delete": ("DELETE", f"composite/sobjects?ids={','.join(ids)}", None),
    }
    method, path, body = calls[operation]
    client = sfemu_clean.simple_salesforce()
    sfemu_clean.set_faults(late_commit_next=1, late_commit_ms=500)
    arrived = format_datetime(datetime.now(UTC))

    call = background(lambda: client.restful(path, method=method, json=body))
    sfemu_clean.wait_for_waiting_writes(1)
    sfemu_clean.set_clock_offset(30)
    call["thread"].join(timeout=10)

    results = call["result"]
    assert all(r["success"] for r in results)
    written = "', '".join(r["id"] for r in results)
    rows = sf.query_all(
        f"SELECT LastModifiedDate, SystemModstamp, IsDeleted FROM Task WHERE Id IN ('{written}')",
        include_deleted=True,
    )["records"]
    stamps = {row["SystemModstamp"] for row in rows}
    assert len(rows) == len(results)
    assert len(stamps) == 1
    # Taken on arrival, not 30 seconds later when the records were written.
    assert stamps.pop() <= format_datetime(datetime.now(UTC) + timedelta(seconds=1))
    assert arrived <= rows[0]["SystemModstamp"]
    if operation == "delete":
        now = datetime.now(UTC)
        deleted = sf.Task.deleted(now - timedelta(hours=1), now + timedelta(minutes=2))
        assert {d["deletedDate"] for d in deleted["deletedRecords"]} == {rows[0]["SystemModstamp"]}


# apply_late ---------------------------------------------------------------------------------


def test_a_late_apply_lands_after_the_retry_of_a_client_that_timed_out(sf, sfemu_clean):
    task_id = sf.Task.create({"Subject": "v0"})["id"]
    session = sfemu_clean.requests_session()
    headers = {"Authorization": f"Bearer {sfemu_clean.token()['access_token']}"}
    url = sfemu_clean.data_url(f"sobjects/Task/{task_id}")
    sfemu_clean.set_faults(apply_late_next=1, apply_late_ms=1000)

    with pytest.raises(requests.exceptions.ReadTimeout):
        session.patch(url, json={"Subject": "first try"}, headers=headers, timeout=0.3)
    retry = session.patch(url, json={"Subject": "retry"}, headers=headers, timeout=10)
    after_retry = sf.Task.get(task_id)
    sfemu_clean.wait_for_waiting_writes(0)
    at_last = sf.Task.get(task_id)

    assert retry.status_code == 204
    assert after_retry["Subject"] == "retry"
    # The first try, which the client gave up on, is applied afterwards and stamped then.
    assert at_last["Subject"] == "first try"
    assert at_last["SystemModstamp"] >= after_retry["SystemModstamp"]


def test_a_late_apply_is_stamped_when_it_is_applied(sf, sfemu_clean, background):
    client = sfemu_clean.simple_salesforce()
    sfemu_clean.set_faults(apply_late_next=1, apply_late_ms=500)

    call = background(lambda: client.Task.create({"Subject": "slow"}))
    sfemu_clean.wait_for_waiting_writes(1)
    sfemu_clean.set_clock_offset(3600)
    call["thread"].join(timeout=10)

    stamp = sf.Task.get(call["result"]["id"])["SystemModstamp"]
    assert stamp >= format_datetime(datetime.now(UTC) + timedelta(minutes=59))


# lose_answer --------------------------------------------------------------------------------


def test_a_lost_answer_leaves_the_write_applied(sf, sfemu_clean):
    sfemu_clean.set_faults(lose_answer_next=1)

    sf.query("SELECT Id FROM Task")  # reads do not count down the write faults
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Task.create({"Subject": "answer lost"})
    answered = sf.Task.create({"Subject": "answered"})

    assert answered["success"] is True
    assert len(_ids(sf, "Subject = 'answer lost'")) == 1
    assert sfemu_clean.request_log()["by_endpoint"]["POST sobjects/Task"] == 2


def test_a_lost_answer_of_a_collection_call_leaves_every_record_written(sf, sfemu_clean):
    sfemu_clean.set_faults(lose_answer_next=1)
    records = [_task(Subject=f"Lost {n}") for n in range(5)]

    with pytest.raises(requests.exceptions.ConnectionError):
        sf.restful("composite/sobjects", method="POST", json={"records": records})

    assert len(_ids(sf, "Subject LIKE 'Lost %'")) == 5


# The plan -----------------------------------------------------------------------------------


def test_the_write_faults_count_down_one_write_call_at_a_time(sf, sfemu_clean):
    sfemu_clean.set_faults(lose_answer_next=2)
    outcomes = []
    for n in range(3):
        try:
            sf.Task.create({"Subject": f"Try {n}"})
            outcomes.append("answered")
        except requests.exceptions.ConnectionError:
            outcomes.append("lost")

    assert outcomes == ["lost", "lost", "answered"]
    assert sfemu_clean.admin("GET", "faults")["lose_answer_next"] == 0


def test_the_admin_endpoint_reads_and_checks_the_write_faults(sfemu_clean):
    plan = sfemu_clean.set_faults(late_commit_next=2, apply_late_next=1, apply_late_ms=250)
    session = sfemu_clean.requests_session()
    url = f"{sfemu_clean.base_url}/__emulator/faults"
    secret = {"X-Emulator-Secret": sfemu_clean.fault_secret}

    assert plan["late_commit_next"] == 2
    assert plan["late_commit_ms"] == 3000
    assert (plan["apply_late_next"], plan["apply_late_ms"]) == (1, 250)
    assert plan["lose_answer_next"] == 0
    assert session.get(url, headers=secret).json()["late_commit_next"] == 2
    for bad in ({"late_commit_ms": -1}, {"lose_answer_next": 1.5}, {"apply_late_next": True}):
        refused = session.put(url, json=bad, headers=secret)
        assert refused.status_code == 400, bad
        assert next(iter(bad)) in refused.json()["error"]
