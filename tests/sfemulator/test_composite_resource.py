"""The Composite resource (`POST composite`) through simple-salesforce's restful(): a series of
subrequests in one API call, with references, allOrNone and Salesforce's limits."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

V = "/services/data/v59.0"
HALTED = {
    "errorCode": "PROCESSING_HALTED",
    "message": "The transaction was rolled back since another operation in the same "
    "transaction failed.",
}


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _composite(sf, subrequests: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    body = {"compositeRequest": subrequests, **options}
    return sf.restful("composite", method="POST", json=body)["compositeResponse"]


def _create_task(ref: str, **fields: Any) -> dict[str, Any]:
    return {"method": "POST", "url": f"{V}/sobjects/Task", "referenceId": ref, "body": fields}


def _query(ref: str, soql: str) -> dict[str, Any]:
    return {"method": "GET", "url": f"{V}/query/?q={soql.replace(' ', '+')}", "referenceId": ref}


def _http_date(salesforce_datetime: str) -> str:
    return format_datetime(
        datetime.strptime(salesforce_datetime, "%Y-%m-%dT%H:%M:%S.%f%z"), usegmt=True
    )


def _subjects(sf) -> list[str]:
    rows = sf.query("SELECT Subject FROM Task ORDER BY Subject")["records"]
    return [row["Subject"] for row in rows]


def test_a_later_subrequest_uses_an_earlier_answer_and_the_series_is_one_api_call(sf, sfemu_clean):
    remaining_before = sf.limits()["DailyApiRequests"]["Remaining"]
    used_before = sfemu_clean.admin("GET", "api-usage")["used"]
    sfemu_clean.reset_request_log()

    results = _composite(
        sf,
        [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "refAccount",
                "body": {"Name": "Acme Corp"},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Contact",
                "referenceId": "refContact",
                "body": {"LastName": "Adams", "AccountId": "@{refAccount.id}"},
            },
            _create_task("refTask", Subject="Call Acme", WhatId="@{refAccount.id}"),
        ],
    )

    limit_info = sf.api_usage["api-usage"]
    log = sfemu_clean.request_log()
    used = sfemu_clean.admin("GET", "api-usage")["used"]
    # /limits counts the series and this limits call itself.
    remaining = sf.limits()["DailyApiRequests"]["Remaining"]
    account_id = results[0]["body"]["id"]
    assert [r["httpStatusCode"] for r in results] == [201, 201, 201]
    assert [r["referenceId"] for r in results] == ["refAccount", "refContact", "refTask"]
    assert results[0]["body"] == {"id": account_id, "success": True, "errors": []}
    assert results[0]["httpHeaders"] == {"Location": f"{V}/sobjects/Account/{account_id}"}
    contact = sf.Contact.get(results[1]["body"]["id"])
    assert contact["AccountId"] == account_id
    assert sf.Task.get(results[2]["body"]["id"])["WhatId"] == account_id
    # One call in the request log, in the daily usage and in Sforce-Limit-Info.
    assert log["total"] == 1
    assert log["by_endpoint"] == {"POST composite": 1}
    assert log["subrequests"] == {
        "POST sobjects/Account": 1,
        "POST sobjects/Contact": 1,
        "POST sobjects/Task": 1,
    }
    assert used == used_before + 1
    assert (limit_info.used, limit_info.total) == (used_before + 1, 100000)
    assert remaining == remaining_before - 2


def test_a_reference_reaches_into_a_query_answers_records(sf):
    first = sf.Task.create({"Subject": "Renewal call"})["id"]

    results = _composite(
        sf,
        [
            _query("refTasks", "SELECT Id, Subject FROM Task WHERE Subject = 'Renewal call'"),
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Task/@{{refTasks.records[0].Id}}",
                "referenceId": "refUpdate",
                "body": {"Description": "Found @{refTasks.totalSize} by query"},
            },
        ],
    )

    assert results[0]["httpStatusCode"] == 200
    assert results[0]["body"]["records"][0]["Id"] == first
    assert results[1] == {
        "body": None,
        "httpHeaders": {},
        "httpStatusCode": 204,
        "referenceId": "refUpdate",
    }
    assert sf.Task.get(first)["Description"] == "Found 1 by query"


def test_all_or_none_rolls_everything_back_and_halts_the_rest(sf, sfemu_clean):
    replay_before = sfemu_clean.latest_replay_id()

    results = _composite(
        sf,
        [
            _create_task("refFirst", Subject="First"),
            _create_task("refBad", Subject="Bad", Status="Bogus"),
            _create_task("refThird", Subject="Third"),
        ],
        allOrNone=True,
    )

    assert results[0] == {
        "body": [HALTED],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": "refFirst",
    }
    assert results[1]["httpStatusCode"] == 400
    assert results[1]["body"][0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[2]["body"] == [HALTED]
    assert _subjects(sf) == []
    assert sfemu_clean.latest_replay_id() == replay_before  # no change event either


def test_without_all_or_none_only_the_subrequests_that_depend_on_a_failure_are_halted(sf):
    results = _composite(
        sf,
        [
            _create_task("refBad", Subject="Bad", Status="Bogus"),
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Task/@{{refBad.id}}",
                "referenceId": "refDependent",
                "body": {"Subject": "Never"},
            },
            _create_task("refIndependent", Subject="Independent"),
        ],
        allOrNone=False,
    )

    assert [r["httpStatusCode"] for r in results] == [400, 400, 201]
    assert results[1]["body"] == [
        {
            "errorCode": "PROCESSING_HALTED",
            "message": "Invalid reference specified. No value for refBad.id found in refBad. "
            "Provided referenceId ('refBad') refers to a failed subrequest.",
        }
    ]
    assert _subjects(sf) == ["Independent"]


def test_a_reference_to_a_value_the_answer_lacks_halts_that_subrequest(sf):
    results = _composite(
        sf,
        [
            _query("refNone", "SELECT Id FROM Task WHERE Subject = 'nothing'"),
            _create_task("refTask", Subject="x", WhatId="@{refNone.records[0].Id}"),
        ],
    )

    assert results[1]["httpStatusCode"] == 400
    assert results[1]["body"][0] == {
        "errorCode": "PROCESSING_HALTED",
        "message": "Invalid reference specified. No value for refNone.records[0].Id found in "
        "refNone.",
    }


def test_the_series_all_or_none_overrides_a_collections_own(sf):
    records = [
        {"attributes": {"type": "Task"}, "Subject": "Good"},
        {"attributes": {"type": "Task"}, "Subject": "Bad", "Status": "Bogus"},
    ]
    results = _composite(
        sf,
        [
            {
                "method": "POST",
                "url": f"{V}/composite/sobjects",
                "referenceId": "refCollection",
                "body": {"allOrNone": False, "records": records},
            },
            _create_task("refAfter", Subject="After"),
        ],
        allOrNone=True,
    )

    assert results[0]["httpStatusCode"] == 200
    outcomes = results[0]["body"]
    assert outcomes[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert outcomes[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[1]["body"] == [HALTED]
    assert _subjects(sf) == []


def test_a_collection_keeps_its_own_all_or_none_when_the_series_has_none(sf):
    records = [
        {"attributes": {"type": "Task"}, "Subject": "Good"},
        {"attributes": {"type": "Task"}, "Subject": "Bad", "Status": "Bogus"},
    ]
    results = _composite(
        sf,
        [
            {
                "method": "POST",
                "url": f"{V}/composite/sobjects",
                "referenceId": "refCollection",
                "body": {"records": records},
            },
            _create_task("refAfter", Subject="After @{refCollection[0].id}"),
        ],
    )

    good_id = results[0]["body"][0]["id"]
    assert [o["success"] for o in results[0]["body"]] == [True, False]
    assert results[1]["httpStatusCode"] == 201
    assert _subjects(sf) == [f"After {good_id}", "Good"]


def test_subrequests_carry_their_own_conditional_headers(sf, sfemu_clean):
    task_id = sf.Task.create({"Subject": "Renewal call"})["id"]
    agreed = sf.Task.get(task_id)["LastModifiedDate"]
    since = _http_date(agreed)
    sfemu_clean.set_clock_offset(60)
    sf.Task.update(task_id, {"Subject": "Edited in Salesforce"})
    other = sf.Task.create({"Subject": "Other"})["id"]
    other_agreed = sf.Task.get(other)["LastModifiedDate"]

    results = _composite(
        sf,
        [
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Task/{task_id}",
                "referenceId": "refStale",
                "body": {"Subject": "Stale push"},
                "httpHeaders": {"If-Unmodified-Since": since},
            },
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Task/{other}",
                "referenceId": "refFresh",
                "body": {"Subject": "Fresh push"},
                "httpHeaders": {"If-Unmodified-Since": _http_date(other_agreed)},
            },
        ],
        collateSubrequests=False,
    )

    assert results[0]["httpStatusCode"] == 412
    assert results[0]["body"][0]["errorCode"] == "PRECONDITION_FAILED"
    assert results[1]["httpStatusCode"] == 204
    assert sf.Task.get(task_id)["Subject"] == "Edited in Salesforce"
    assert sf.Task.get(other)["Subject"] == "Fresh push"


def test_every_write_of_the_series_shares_one_stamp(sf):
    results = _composite(sf, [_create_task(f"ref{n}", Subject=f"Task {n}") for n in range(3)])

    stamps = {sf.Task.get(r["body"]["id"])["SystemModstamp"] for r in results}
    assert len(stamps) == 1


def test_25_subrequests_with_5_queries_are_allowed(sf):
    series = [_query(f"refQuery{n}", "SELECT Id FROM Task") for n in range(5)]
    series += [_create_task(f"refTask{n}", Subject=f"Task {n:02d}") for n in range(20)]

    results = _composite(sf, series)

    assert [r["httpStatusCode"] for r in results] == [200] * 5 + [201] * 20


def _refused(sf, body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite", method="POST", json=body)
    return raised.value.content


def test_more_than_25_subrequests_are_refused_and_nothing_runs(sf):
    series = [_create_task(f"ref{n}", Subject=f"Task {n}") for n in range(26)]

    errors = _refused(sf, {"compositeRequest": series})

    assert errors[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert "at most 25 subrequests" in errors[0]["message"]
    assert _subjects(sf) == []


def test_more_than_5_collections_or_queries_are_refused(sf):
    series = [_query(f"refQuery{n}", "SELECT Id FROM Task") for n in range(3)]
    series += [
        {
            "method": "POST",
            "url": f"{V}/composite/sobjects",
            "referenceId": f"refCollection{n}",
            "body": {"records": [{"attributes": {"type": "Task"}, "Subject": "x"}]},
        }
        for n in range(3)
    ]

    errors = _refused(sf, {"compositeRequest": series})

    assert errors[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert "at most 5 sObject Collections or query subrequests" in errors[0]["message"]
    assert _subjects(sf) == []


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"referenceId": None}, "JSON_PARSER_ERROR", "'referenceId' is a required field."),
        ({"method": "post"}, "INVALID_INPUT", "Invalid method 'post'"),
        ({"referenceId": "ref.bad"}, "INVALID_INPUT", "can contain only letters"),
        ({"httpHeaders": {"Authorization": "Bearer x"}}, "INVALID_INPUT", "may not set"),
        ({"url": "/services/apexrest/x"}, "INVALID_INPUT", "must start with /services/data"),
    ],
)
def test_a_malformed_subrequest_fails_the_whole_request(sf, change, code, message):
    subrequest = {**_create_task("refTask", Subject="x"), **change}
    series = [_create_task("refFirst", Subject="First"), subrequest]

    errors = _refused(sf, {"compositeRequest": series})

    assert errors[0]["errorCode"] == code
    assert message in errors[0]["message"]
    assert _subjects(sf) == []


def test_duplicate_reference_ids_are_refused(sf):
    series = [_create_task("refTask", Subject="a"), _create_task("refTask", Subject="b")]

    assert _refused(sf, {"compositeRequest": series})[0]["message"] == (
        "Duplicate referenceId 'refTask'."
    )


def test_a_412_under_all_or_none_rolls_the_series_back(sf, sfemu_clean):
    task_id = sf.Task.create({"Subject": "Renewal call"})["id"]
    agreed = _http_date(sf.Task.get(task_id)["LastModifiedDate"])
    sfemu_clean.set_clock_offset(60)
    sf.Task.update(task_id, {"Subject": "Edited in Salesforce"})

    results = _composite(
        sf,
        [
            _create_task("refNew", Subject="New"),
            {
                "method": "PATCH",
                "url": f"{V}/sobjects/Task/{task_id}",
                "referenceId": "refStale",
                "body": {"Subject": "Stale push"},
                "httpHeaders": {"If-Unmodified-Since": agreed},
            },
        ],
        allOrNone=True,
    )

    assert [r["httpStatusCode"] for r in results] == [400, 412]
    assert results[0]["body"] == [HALTED]
    assert _subjects(sf) == ["Edited in Salesforce"]
