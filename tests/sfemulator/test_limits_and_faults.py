"""API usage, limits, the fault plan and the request log."""

from __future__ import annotations

import time

import pytest
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def test_it_reports_api_usage_in_a_header_simple_salesforce_parses(sf):
    sf.query("SELECT Id FROM User")
    first = sf.api_usage["api-usage"]
    sf.query("SELECT Id FROM User")

    assert first.total == 100000
    assert sf.api_usage["api-usage"].used == first.used + 1


def test_it_sends_the_limit_header_on_every_rest_response_errors_included(sfemu_clean):
    session = sfemu_clean.requests_session()
    headers = {"Authorization": f"Bearer {sfemu_clean.token()['access_token']}"}

    ok = session.get(sfemu_clean.data_url("limits/"), headers=headers)
    bad = session.get(sfemu_clean.data_url("query/"), params={"q": "SELEC"}, headers=headers)
    missing = session.get(sfemu_clean.data_url("sobjects/Task/00TWs00000zzzzzAAA"), headers=headers)

    assert ok.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert bad.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    assert missing.status_code == 404
    assert missing.headers["Sforce-Limit-Info"] == "api-usage=3/100000"


def test_it_answers_limits_with_daily_api_requests(sf, sfemu_clean):
    sfemu_clean.set_api_usage(41)

    limits = sf.limits()

    assert limits["DailyApiRequests"] == {"Max": 100000, "Remaining": 100000 - 42}


def test_it_refuses_calls_past_the_daily_limit(sf, sfemu_clean):
    sfemu_clean.set_api_usage(99_999)
    sf.query("SELECT Id FROM User")  # the last allowed call

    with pytest.raises(SalesforceRefusedRequest) as raised:
        sf.query("SELECT Id FROM User")

    assert raised.value.status == 403
    assert raised.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_it_reaches_the_api_limit_on_demand_and_recovers_when_cleared(sf, sfemu_clean):
    sfemu_clean.set_faults(api_limit_reached=True)
    with pytest.raises(SalesforceRefusedRequest):
        sf.Task.create({"Subject": "refused"})

    sfemu_clean.clear_faults()
    assert sf.Task.create({"Subject": "accepted"})["success"] is True


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SERVER_UNAVAILABLE"), (500, "UNKNOWN_EXCEPTION")]
)
def test_it_answers_a_share_of_requests_with_server_errors(sf, sfemu_clean, status, code):
    sfemu_clean.set_faults(error_rate=1.0, error_status=status)

    with pytest.raises(SalesforceGeneralError) as raised:
        sf.query("SELECT Id FROM User")

    assert raised.value.status == status
    assert raised.value.content[0]["errorCode"] == code


def test_it_fails_exactly_the_next_n_requests(sf, sfemu_clean):
    sfemu_clean.set_faults(fail_next=2)
    outcomes = []
    for _ in range(3):
        try:
            sf.query("SELECT Id FROM User")
            outcomes.append("ok")
        except SalesforceGeneralError as error:
            outcomes.append(error.status)

    assert outcomes == [503, 503, "ok"]


def test_it_draws_error_faults_from_a_seeded_generator(sf, sfemu_clean):
    def run() -> list[bool]:
        sfemu_clean.set_faults(error_rate=0.5, seed=7)
        outcomes = []
        for _ in range(20):
            try:
                sf.query("SELECT Id FROM User")
                outcomes.append(True)
            except SalesforceGeneralError:
                outcomes.append(False)
        return outcomes

    first, second = run(), run()
    assert first == second
    assert 0 < first.count(False) < 20


def test_it_fails_writes_with_unable_to_lock_row(sf, sfemu_clean):
    task_id = sf.Task.create({"Subject": "locked"})["id"]
    sfemu_clean.set_faults(lock_rate=1.0)

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.update(task_id, {"Subject": "never"})
    results = sf.restful(
        "composite/sobjects", method="POST", json={"records": [{"attributes": {"type": "Task"}}]}
    )

    assert raised.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.query("SELECT Id FROM User")["totalSize"] == 5  # reads are unaffected
    assert sf.Task.get(task_id)["Subject"] == "locked"


def test_it_locks_exactly_the_next_n_writes(sf, sfemu_clean):
    sfemu_clean.set_faults(lock_next=1)
    records = [{"attributes": {"type": "Task"}, "Subject": s} for s in ("a", "b")]

    results = sf.restful("composite/sobjects", method="POST", json={"records": records})

    assert [r["success"] for r in results] == [False, True]


def test_it_adds_latency(sf, sfemu_clean):
    sfemu_clean.set_faults(latency_ms=150)

    started = time.monotonic()
    sf.query("SELECT Id FROM User")

    assert time.monotonic() - started >= 0.15


def test_it_expires_every_token_through_the_fault_plan(sf, sfemu_clean):
    sfemu_clean.set_faults(expire_tokens=True)

    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")


def test_it_counts_calls_by_endpoint_and_user_but_not_admin_calls(sfemu_clean):
    sf = sfemu_clean.simple_salesforce()
    alice = sfemu_clean.simple_salesforce(
        username="alice@example.com.sfemu", password="sfemu-Passw0rd"
    )
    sfemu_clean.reset_request_log()

    task_id = sf.Task.create({"Subject": "count me"})["id"]
    sf.Task.update(task_id, {"Subject": "again"})
    alice.query("SELECT Id FROM Task")
    sfemu_clean.set_faults()  # admin calls are not counted
    sfemu_clean.request_log()

    log = sfemu_clean.request_log()
    assert log["total"] == 3
    assert sfemu_clean.api_calls() == 3
    assert log["by_endpoint"] == {
        "POST sobjects/Task": 1,
        "PATCH sobjects/Task/{id}": 1,
        "GET query": 1,
    }
    assert log["by_user"] == {"integration@sfemu.example": 2, "alice@example.com.sfemu": 1}
    assert log["by_status"] == {"201": 1, "204": 1, "200": 1}


def test_it_keeps_the_admin_endpoint_for_holders_of_the_fault_secret(sfemu_clean):
    session = sfemu_clean.requests_session()
    url = f"{sfemu_clean.base_url}/__emulator/faults"

    assert session.put(url, json={"error_rate": 1}).status_code == 403
    wrong = session.put(url, json={"error_rate": 1}, headers={"X-Emulator-Secret": "guess"})
    assert wrong.status_code == 403
    assert (
        session.get(url, headers={"X-Emulator-Secret": sfemu_clean.fault_secret}).json()[
            "error_rate"
        ]
        == 0
    )


def test_it_refuses_an_unknown_fault_setting(sfemu_clean):
    session = sfemu_clean.requests_session()

    response = session.put(
        f"{sfemu_clean.base_url}/__emulator/faults",
        json={"explode": True},
        headers={"X-Emulator-Secret": sfemu_clean.fault_secret},
    )

    assert response.status_code == 400
    assert "explode" in response.json()["error"]
