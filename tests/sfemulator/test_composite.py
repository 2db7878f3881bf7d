"""sObject Collections through simple-salesforce's restful() (it has no helper for them)."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _task(**fields):
    return {"attributes": {"type": "Task"}, **fields}


def _count(sf, where: str = "Id != null") -> int:
    return sf.query(f"SELECT COUNT() FROM Task WHERE {where}")["totalSize"]


def test_it_creates_200_records_in_one_call_in_request_order(sf, sfemu_clean):
    sfemu_clean.reset_request_log()
    records = [_task(Subject=f"Task {n:03d}") for n in range(200)]

    results = sf.restful("composite/sobjects", method="POST", json={"records": records})

    assert len(results) == 200
    assert all(r["success"] and r["errors"] == [] for r in results)
    subjects = sf.query("SELECT Id, Subject FROM Task ORDER BY Subject")["records"]
    assert [r["id"] for r in results] == [s["Id"] for s in subjects]
    assert sfemu_clean.request_log()["by_endpoint"]["POST composite/sobjects"] == 1


def test_it_refuses_more_than_200_records(sf):
    records = [_task(Subject="x") for _ in range(201)]

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite/sobjects", method="POST", json={"records": records})

    assert raised.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert _count(sf) == 0


def test_it_keeps_the_good_records_without_all_or_none(sf):
    records = [_task(Subject="good"), _task(Status="Nope"), _task(Subject="also good")]

    results = sf.restful("composite/sobjects", method="POST", json={"records": records})

    assert [r["success"] for r in results] == [True, False, True]
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "Status: bad value for restricted picklist field: Nope",
                "fields": ["Status"],
            }
        ],
    }
    assert _count(sf) == 2


def test_it_rolls_everything_back_with_all_or_none(sf):
    records = [_task(Subject="good"), _task(Subject="x" * 300), _task(Subject="fine")]

    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )

    assert results[0] == {"success": False, "errors": [ROLLED_BACK]}
    assert results[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert results[2] == {"success": False, "errors": [ROLLED_BACK]}
    assert _count(sf) == 0


def test_it_updates_records_by_id(sf):
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [_task(Subject="a"), _task(Subject="b")]},
    )
    ids = [r["id"] for r in created]

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                _task(Id=ids[0], Status="Completed"),
                _task(Id=ids[1], Priority="Whenever"),
                _task(Subject="no id"),
            ],
        },
    )

    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1]["id"] == ids[1]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert sf.Task.get(ids[0])["IsClosed"] is True


def test_it_deletes_records_by_ids(sf):
    ids = [
        r["id"]
        for r in sf.restful(
            "composite/sobjects", method="POST", json={"records": [_task(Subject=s) for s in "abc"]}
        )
    ]
    sf.Task.delete(ids[2])

    results = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(ids), "allOrNone": "false"}
    )

    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1] == {"id": ids[1], "success": True, "errors": []}
    assert results[2]["success"] is False
    assert results[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert (
        sf.query_all("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True)[
            "totalSize"
        ]
        == 3
    )


def test_it_rolls_back_deletes_with_all_or_none(sf):
    task_id = sf.Task.create({"Subject": "keep"})["id"]

    results = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{task_id},00TWs00000zzzzzAAA", "allOrNone": "true"},
    )

    assert results[0] == {"id": task_id, "success": False, "errors": [ROLLED_BACK]}
    assert results[1]["success"] is False
    assert _count(sf) == 1


def test_it_upserts_a_collection_by_external_id(sf):
    sf.Task.create({"Subject": "existing", "Cockpit_Task_Id__c": "ck-1"})

    results = sf.restful(
        "composite/sobjects/Task/Cockpit_Task_Id__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                _task(Cockpit_Task_Id__c="ck-1", Subject="renamed"),
                _task(Cockpit_Task_Id__c="ck-2", Subject="new"),
                _task(Subject="no external id"),
            ],
        },
    )

    assert [r.get("created") for r in results] == [False, True, None]
    assert results[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert sf.Task.get_by_custom_id("Cockpit_Task_Id__c", "ck-1")["Subject"] == "renamed"
    assert sf.Task.get_by_custom_id("Cockpit_Task_Id__c", "ck-2")["Id"] == results[1]["id"]


def test_it_is_idempotent_when_an_upsert_is_retried(sf):
    body = {"records": [_task(Cockpit_Task_Id__c="ck-9", Subject="retry me")]}

    first = sf.restful("composite/sobjects/Task/Cockpit_Task_Id__c", method="PATCH", json=body)
    second = sf.restful("composite/sobjects/Task/Cockpit_Task_Id__c", method="PATCH", json=body)

    assert first[0]["id"] == second[0]["id"]
    assert (first[0]["created"], second[0]["created"]) == (True, False)
    assert _count(sf) == 1


def test_it_retrieves_several_records_by_id(sf):
    task_id = sf.Task.create({"Subject": "fetch me"})["id"]

    records = sf.restful(
        "composite/sobjects/Task",
        params={"ids": f"{task_id},00TWs00000zzzzzAAA", "fields": "Subject"},
    )

    assert records[0]["Subject"] == "fetch me"
    assert records[1] is None


def test_it_takes_the_lower_case_id_key_of_salesforces_own_examples(sf):
    created = sf.restful(
        "composite/sobjects", method="POST", json={"records": [_task(Subject="a")]}
    )

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Task"}, "id": created[0]["id"], "Status": "Completed"}
            ]
        },
    )

    assert results == [{"id": created[0]["id"], "success": True, "errors": []}]
    assert sf.Task.get(created[0]["id"])["Status"] == "Completed"
