"""Salesforce's inconvenient timing: datetimes to the second, one stamp per call, ties, and a
clock moved back that never dates a write before the records already there."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

WHOLE_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _task(**fields):
    return {"attributes": {"type": "Task"}, **fields}


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=2)


def test_it_keeps_every_datetime_to_the_second(sf):
    task_id = sf.Task.create({"Subject": "Stamped"})["id"]
    sf.Task.update(task_id, {"Status": "Completed"})
    task = sf.Task.get(task_id)
    sf.Task.delete(task_id)
    updated = sf.Task.updated(*_window())
    deleted = sf.Task.deleted(*_window())

    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp", "CompletedDateTime"):
        assert WHOLE_SECOND.match(task[name]), name
    assert WHOLE_SECOND.match(deleted["deletedRecords"][0]["deletedDate"])
    assert WHOLE_SECOND.match(deleted["latestDateCovered"])
    assert WHOLE_SECOND.match(updated["latestDateCovered"])
    soql = f"SELECT SystemModstamp FROM Task WHERE Id = '{task_id}'"
    [row] = sf.query_all(soql, include_deleted=True)["records"]
    assert WHOLE_SECOND.match(row["SystemModstamp"])


def test_it_gives_calls_within_one_second_the_same_stamp(sf):
    started = time.monotonic()
    ids = [sf.Task.create({"Subject": f"Tie {n}"})["id"] for n in range(3)]
    assert time.monotonic() - started < 1  # so at most one second boundary fell in between

    stamps = [sf.Task.get(task_id)["SystemModstamp"] for task_id in ids]

    assert stamps == sorted(stamps)
    assert len(set(stamps)) < len(stamps)


def test_it_never_dates_a_write_before_the_last_stamp_when_the_clock_moves_back(sf, sfemu_clean):
    first = sf.Task.create({"Subject": "Before"})["id"]
    before = sf.Task.get(first)["SystemModstamp"]

    sfemu_clean.set_clock_offset(-3600)
    second = sf.Task.create({"Subject": "After"})["id"]
    sf.Task.update(first, {"Subject": "Before, edited"})

    assert sf.Task.get(second)["CreatedDate"] == before
    assert sf.Task.get(second)["SystemModstamp"] == before
    assert sf.Task.get(first)["SystemModstamp"] == before


def test_it_stamps_every_record_of_one_collection_call_alike(sf):
    records = [_task(Subject=f"Batch {n:03d}", Status="Completed") for n in range(200)]

    results = sf.restful("composite/sobjects", method="POST", json={"records": records})

    ids = "', '".join(r["id"] for r in results)
    rows = sf.query(
        "SELECT CreatedDate, LastModifiedDate, SystemModstamp, CompletedDateTime FROM Task "
        f"WHERE Id IN ('{ids}')"
    )["records"]
    stamps = {
        (r["CreatedDate"], r["LastModifiedDate"], r["SystemModstamp"], r["CompletedDateTime"])
        for r in rows
    }
    assert len(rows) == 200
    assert len(stamps) == 1
    assert len(set(next(iter(stamps)))) == 1
