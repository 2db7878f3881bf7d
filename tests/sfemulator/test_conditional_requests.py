"""Conditional request headers on sObject Rows, weak validation as Salesforce does it: an
HTTP date (to the second) against the record's LastModifiedDate."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

PRECONDITION_FAILED = [
    {
        "errorCode": "PRECONDITION_FAILED",
        "message": "The requested entity has been modified since the time specified in the "
        "If-Unmodified-Since header",
    }
]


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _http_date(salesforce_datetime: str) -> str:
    moment = datetime.strptime(salesforce_datetime, "%Y-%m-%dT%H:%M:%S.%f%z")
    return format_datetime(moment, usegmt=True)


def _raw(sf, method: str, path: str, **headers: str):
    """simple-salesforce raises on any status >= 300, 304 included: read those raw."""
    return sf.session.request(
        method, f"{sf.base_url}{path}", headers={**sf.headers, **headers}, timeout=10
    )


def _task(sf, subject: str = "Renewal call") -> tuple[str, str]:
    task_id = sf.Task.create({"Subject": subject})["id"]
    return task_id, sf.Task.get(task_id)["LastModifiedDate"]


def test_a_patch_unmodified_since_the_records_last_modified_date_is_applied(sf):
    task_id, stamp = _task(sf)

    status = sf.Task.update(
        task_id,
        {"Subject": "Renewal call (moved)"},
        headers={"If-Unmodified-Since": _http_date(stamp)},
    )

    assert status == 204
    assert sf.Task.get(task_id)["Subject"] == "Renewal call (moved)"


def test_a_patch_after_a_later_edit_gets_412_and_changes_nothing(sf, sfemu_clean):
    task_id, stamp = _task(sf)
    sfemu_clean.set_clock_offset(60)
    sf.Task.update(task_id, {"Subject": "Edited in Salesforce"})

    with pytest.raises(SalesforceGeneralError) as raised:
        sf.Task.update(
            task_id, {"Subject": "Stale push"}, headers={"If-Unmodified-Since": _http_date(stamp)}
        )

    assert raised.value.status == 412
    assert raised.value.content == PRECONDITION_FAILED
    assert sf.Task.get(task_id)["Subject"] == "Edited in Salesforce"


def test_an_edit_in_the_same_second_passes_the_weak_check(sf, sfemu_clean):
    # Stamps never go backwards: after a write an hour ahead, writes at the real time keep
    # that stamp, so two edits certainly share one second.
    sfemu_clean.set_clock_offset(3600)
    task_id, stamp = _task(sf)
    sfemu_clean.set_clock_offset(0)
    sf.Task.update(task_id, {"Subject": "Edited in Salesforce, same second"})
    assert sf.Task.get(task_id)["LastModifiedDate"] == stamp

    status = sf.Task.update(
        task_id, {"Subject": "Overwrites it"}, headers={"If-Unmodified-Since": _http_date(stamp)}
    )

    assert status == 204
    assert sf.Task.get(task_id)["Subject"] == "Overwrites it"


@pytest.mark.parametrize("value", ["yesterday", "2026-12-01T08:49:32Z", ""])
def test_a_patch_with_an_invalid_if_unmodified_since_gets_400(sf, value):
    task_id, _ = _task(sf)

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.update(task_id, {"Subject": "x"}, headers={"If-Unmodified-Since": value})

    assert raised.value.content[0]["errorCode"] == "INVALID_HEADER_VALUE"
    assert sf.Task.get(task_id)["Subject"] == "Renewal call"


def test_a_get_if_modified_since_answers_304_until_the_record_changes(sf, sfemu_clean):
    task_id, stamp = _task(sf)
    path = f"sobjects/Task/{task_id}"

    unchanged = _raw(sf, "GET", path, **{"If-Modified-Since": _http_date(stamp)})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["Sforce-Limit-Info"].startswith("api-usage=")

    sfemu_clean.set_clock_offset(60)
    sf.Task.update(task_id, {"Subject": "Changed"})
    changed = _raw(sf, "GET", path, **{"If-Modified-Since": _http_date(stamp)})
    assert changed.status_code == 200
    assert changed.json()["Subject"] == "Changed"


def test_a_get_with_an_unreadable_if_modified_since_ignores_it(sf):
    task_id, _ = _task(sf)

    response = _raw(sf, "GET", f"sobjects/Task/{task_id}", **{"If-Modified-Since": "soon"})

    assert response.status_code == 200


def test_a_delete_ignores_the_conditional_headers(sf, sfemu_clean):
    task_id, stamp = _task(sf)
    sfemu_clean.set_clock_offset(60)
    sf.Task.update(task_id, {"Subject": "Edited later"})
    long_ago = _http_date(stamp)
    earlier = format_datetime(datetime.now().astimezone() - timedelta(days=1), usegmt=False)

    response = _raw(
        sf,
        "DELETE",
        f"sobjects/Task/{task_id}",
        **{"If-Unmodified-Since": long_ago, "If-Modified-Since": earlier},
    )

    assert response.status_code == 204
    assert sf.query(f"SELECT COUNT() FROM Task WHERE Id = '{task_id}'")["totalSize"] == 0


def test_the_date_header_is_the_emulators_clock_as_its_stamps_are(sf, sfemu_clean):
    # Clients bound Salesforce's time with Date (Cockpit's conditional writes do): it must
    # move with the clock that stamps records, not with the machine's.
    sfemu_clean.set_clock_offset(3600)
    task_id, stamp = _task(sf)

    answer = _raw(sf, "GET", f"sobjects/Task/{task_id}")

    date = parsedate_to_datetime(answer.headers["Date"])
    modified = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert timedelta(0) <= date - modified < timedelta(seconds=30)
