"""getUpdated and getDeleted through simple-salesforce's updated() and deleted()."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

SF_MINUTE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000\+0000$")


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _window(hours_back: float = 1) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=hours_back), now + timedelta(minutes=2)


def test_it_lists_created_and_updated_ids_with_the_latest_date_covered(sf):
    first = sf.Task.create({"Subject": "One"})["id"]
    second = sf.Task.create({"Subject": "Two"})["id"]
    sf.Task.update(first, {"Subject": "One, edited"})

    result = sf.Task.updated(*_window())

    assert set(result) == {"ids", "latestDateCovered"}
    assert sorted(result["ids"]) == sorted([first, second])
    assert SF_MINUTE.match(result["latestDateCovered"])


def test_it_leaves_deleted_records_out_of_updated(sf):
    task_id = sf.Task.create({"Subject": "Short-lived"})["id"]
    sf.Task.delete(task_id)

    assert sf.Task.updated(*_window())["ids"] == []


def test_it_lists_deleted_records_with_their_deleted_date(sf):
    task_id = sf.Task.create({"Subject": "Bin me"})["id"]
    sf.Task.delete(task_id)

    result = sf.Task.deleted(*_window())

    assert set(result) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    [deleted] = result["deletedRecords"]
    assert deleted["id"] == task_id
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$", deleted["deletedDate"])
    assert SF_MINUTE.match(result["earliestDateAvailable"])


def test_it_refuses_updated_windows_starting_more_than_30_days_ago(sf):
    start, end = _window(hours_back=31 * 24)

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.updated(start, end)

    assert raised.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_it_refuses_deleted_windows_starting_more_than_15_days_ago(sf):
    start, end = _window(hours_back=16 * 24)

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.deleted(start, end)

    assert raised.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    # 20 days back is fine for updated().
    assert sf.Task.updated(datetime.now(UTC) - timedelta(days=20), datetime.now(UTC))["ids"] == []


def test_it_refuses_a_window_shorter_than_a_minute(sf):
    now = datetime.now(UTC).replace(second=10)

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.updated(now, now + timedelta(seconds=30))

    assert raised.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_it_refuses_the_broken_url_simple_salesforce_builds_from_a_naive_datetime(sf):
    naive = datetime.now(UTC).replace(tzinfo=None)

    with pytest.raises(SalesforceMalformedRequest):
        sf.Task.updated(naive - timedelta(hours=1), naive)


def test_it_purges_the_recycle_bin_after_15_days(sf, sfemu_clean):
    task_id = sf.Task.create({"Subject": "Old"})["id"]
    sf.Task.delete(task_id)

    sfemu_clean.set_clock_offset(16 * 24 * 3600)
    sf = sfemu_clean.simple_salesforce()

    gone = sf.query_all("SELECT Id FROM Task", include_deleted=True)
    assert gone["totalSize"] == 0
    now = datetime.now(UTC) + timedelta(days=16)
    result = sf.Task.deleted(now - timedelta(days=14), now)
    assert result["deletedRecords"] == []
    assert result["earliestDateAvailable"] > "2000"
