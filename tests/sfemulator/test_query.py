"""SOQL through query/ and queryAll/, with simple-salesforce and plain requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


@pytest.fixture
def tasks(sf):
    """Five tasks with distinct subjects, priorities, due dates and statuses."""
    today = datetime.now(UTC).date()
    rows = [
        ("Alpha call", "High", today - timedelta(days=3), "Completed", 1.5),
        ("beta review", "Normal", today, "Not Started", None),
        ("Gamma 100% done", "Low", today + timedelta(days=2), "In Progress", 4.0),
        ("Delta O'Brien", "Normal", None, "Deferred", 2.0),
        ("epsilon_x", "High", today + timedelta(days=10), "Not Started", 0.5),
    ]
    ids = {}
    for subject, priority, due, status, effort in rows:
        body = {"Subject": subject, "Priority": priority, "Status": status}
        if due:
            body["ActivityDate"] = due.isoformat()
        if effort is not None:
            body["Effort_Hours__c"] = effort
        ids[subject] = sf.Task.create(body)["id"]
    return ids


def _subjects(sf, where: str, order: str = "ORDER BY Subject") -> list[str]:
    result = sf.query(f"SELECT Subject FROM Task WHERE {where} {order}")
    return [record["Subject"] for record in result["records"]]


def test_it_answers_a_query_in_salesforces_shape(sf, tasks):
    result = sf.query("SELECT Id, Subject FROM Task WHERE Subject = 'Alpha call'")

    assert result["totalSize"] == 1
    assert result["done"] is True
    assert "nextRecordsUrl" not in result
    record = result["records"][0]
    assert record == {
        "attributes": {
            "type": "Task",
            "url": f"/services/data/v59.0/sobjects/Task/{tasks['Alpha call']}",
        },
        "Id": tasks["Alpha call"],
        "Subject": "Alpha call",
    }


def test_it_returns_parent_fields_through_relationships(sf, sfemu_clean, tasks):
    result = sf.query(
        "SELECT Owner.Email, Owner.Name, CreatedBy.Username FROM Task WHERE Subject = 'Alpha call'"
    )

    owner = result["records"][0]["Owner"]
    assert owner["attributes"]["type"] == "User"
    assert owner["Email"] == "integration@example.com"
    assert owner["Name"] == "Integration User"
    assert result["records"][0]["CreatedBy"]["Username"] == "integration@sfemu.example"


def test_it_returns_null_for_a_missing_parent(sf, tasks):
    result = sf.query("SELECT What.Name FROM Task WHERE Subject = 'Alpha call'")

    assert result["records"][0]["What"] is None


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Priority = 'high'", ["Alpha call", "epsilon_x"]),
        ("Priority != 'Normal'", ["Alpha call", "epsilon_x", "Gamma 100% done"]),
        ("Priority IN ('Low', 'High')", ["Alpha call", "epsilon_x", "Gamma 100% done"]),
        ("Priority NOT IN ('Low', 'High')", ["beta review", "Delta O'Brien"]),
        ("Subject LIKE 'a%'", ["Alpha call"]),
        ("Subject LIKE '%100\\%%'", ["Gamma 100% done"]),
        ("Subject LIKE '%\\_x'", ["epsilon_x"]),
        ("Subject LIKE 'b_ta%'", ["beta review"]),
        ("Subject = 'Delta O\\'Brien'", ["Delta O'Brien"]),
        ("ActivityDate = null", ["Delta O'Brien"]),
        (
            "ActivityDate != null AND IsClosed = false",
            ["beta review", "epsilon_x", "Gamma 100% done"],
        ),
        ("IsClosed = true", ["Alpha call"]),
        ("Effort_Hours__c >= 1.5", ["Alpha call", "Delta O'Brien", "Gamma 100% done"]),
        ("Effort_Hours__c < 1", ["epsilon_x"]),
        ("ActivityDate = TODAY", ["beta review"]),
        ("ActivityDate < TODAY", ["Alpha call"]),
        ("ActivityDate > TODAY", ["epsilon_x", "Gamma 100% done"]),
        ("ActivityDate = LAST_N_DAYS:5", ["Alpha call", "beta review"]),
        ("ActivityDate = NEXT_N_DAYS:3", ["Gamma 100% done"]),
        ("CreatedDate = TODAY AND Priority = 'Low'", ["Gamma 100% done"]),
        ("CreatedDate > YESTERDAY AND Priority = 'Low'", ["Gamma 100% done"]),
        ("CreatedDate > 2000-01-01T00:00:00Z AND Priority = 'Low'", ["Gamma 100% done"]),
        (
            "(Priority = 'High' OR Priority = 'Low') AND NOT Status = 'Completed'",
            ["epsilon_x", "Gamma 100% done"],
        ),
        ("NOT (Priority = 'Normal' OR IsClosed = true)", ["epsilon_x", "Gamma 100% done"]),
        ("Owner.Email = 'INTEGRATION@example.com' AND Priority = 'Low'", ["Gamma 100% done"]),
        ("Owner.Email LIKE 'alice%'", []),
    ],
)
def test_it_filters_with_soql_conditions(sf, tasks, where, expected):
    assert sorted(_subjects(sf, where), key=str.lower) == sorted(expected, key=str.lower)


def test_it_compares_dates_against_date_literals(sf, tasks):
    today = datetime.now(UTC).date()

    later = today + timedelta(days=2)
    where = f"ActivityDate >= {today.isoformat()} AND ActivityDate <= {later.isoformat()}"
    assert sorted(_subjects(sf, where)) == ["Gamma 100% done", "beta review"]


def test_it_orders_by_several_fields_with_nulls_first_or_last(sf, tasks):
    ordered = _subjects(
        sf, "Subject != null", "ORDER BY Priority DESC, ActivityDate ASC NULLS LAST"
    )
    # Priority sorts as text (Normal > Low > High); NULLS LAST puts Delta after beta.
    assert ordered == ["beta review", "Delta O'Brien", "Gamma 100% done", "Alpha call", "epsilon_x"]

    first = _subjects(sf, "Priority = 'Normal'", "ORDER BY ActivityDate NULLS FIRST")
    assert first == ["Delta O'Brien", "beta review"]


def test_it_applies_limit_and_offset_after_ordering(sf, tasks):
    page = _subjects(sf, "Subject != null", "ORDER BY Subject LIMIT 2 OFFSET 1")

    assert page == ["beta review", "Delta O'Brien"]


def test_it_counts_with_count(sf, tasks):
    result = sf.query("SELECT COUNT() FROM Task WHERE Priority = 'High'")

    assert result == {"totalSize": 2, "done": True, "records": []}


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id FROM Task WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        (
            "SELECT Id FROM Task WHERE Priority = 'High' AND Status = 'x' OR IsClosed = true",
            "MALFORMED_QUERY",
            "unexpected token: 'OR'",
        ),
        ("SELEC Id FROM Task", "MALFORMED_QUERY", "unexpected token: 'SELEC'"),
        ("SELECT Id, Id FROM Task", "MALFORMED_QUERY", "duplicate field selected: Id"),
        ("SELECT Nope FROM Task", "INVALID_FIELD", "No such column 'Nope' on entity 'Task'"),
        ("SELECT Boss.Email FROM Task", "INVALID_FIELD", "Didn't understand relationship 'Boss'"),
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported"),
        (
            "SELECT Id FROM Task WHERE ActivityDate = '2026-01-01'",
            "INVALID_FIELD",
            "must be of type date and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Task WHERE Subject = 5",
            "INVALID_FIELD",
            "must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Task WHERE Description = 'x'",
            "INVALID_FIELD",
            "field 'Description' can not be filtered in a query call",
        ),
        (
            "SELECT Id FROM Task WHERE Id = 'banana'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: banana",
        ),
    ],
)
def test_it_reports_bad_queries_with_salesforces_errors(sf, soql, code, fragment):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query(soql)

    error = raised.value.content[0]
    assert raised.value.status == 400
    assert error["errorCode"] == code
    assert fragment in error["message"]


def test_it_locates_an_error_with_row_and_column(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id, Nope FROM Task")

    assert raised.value.content[0]["message"].startswith(
        "\nSELECT Id, Nope FROM Task\n           ^\nERROR at Row:1:Column:12\n"
    )


def _create_tasks(sf, count: int) -> list[str]:
    ids = []
    for start in range(0, count, 200):
        records = [
            {"attributes": {"type": "Task"}, "Subject": f"Bulk {n:05d}"}
            for n in range(start, min(start + 200, count))
        ]
        results = sf.restful("composite/sobjects", method="POST", json={"records": records})
        ids.extend(result["id"] for result in results)
    return ids


def test_it_pages_query_all_over_five_thousand_records(sf, sfemu_clean):
    ids = _create_tasks(sf, 5001)
    sfemu_clean.reset_request_log()

    first = sf.query("SELECT Id, Subject FROM Task ORDER BY Subject")
    assert first["totalSize"] == 5001
    assert first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")

    everything = sf.query_all("SELECT Id, Subject FROM Task ORDER BY Subject")
    assert everything["totalSize"] == 5001
    assert [r["Id"] for r in everything["records"]] == ids
    by_endpoint = sfemu_clean.request_log()["by_endpoint"]
    assert by_endpoint == {"GET query": 2, "GET query/{locator}": 2}


def test_it_honours_the_batch_size_query_option(sf, sfemu_clean):
    _create_tasks(sf, 450)
    session = sfemu_clean.requests_session()
    token = sfemu_clean.token()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Sforce-Query-Options": "batchSize=200"}

    first = session.get(
        sfemu_clean.data_url("query/"), params={"q": "SELECT Id FROM Task"}, headers=headers
    ).json()

    assert len(first["records"]) == 200
    second = session.get(sfemu_clean.base_url + first["nextRecordsUrl"], headers=headers).json()
    third = session.get(sfemu_clean.base_url + second["nextRecordsUrl"], headers=headers).json()
    assert (len(second["records"]), len(third["records"]), third["done"]) == (200, 50, True)


def test_it_includes_deleted_records_only_with_query_all(sf, tasks):
    sf.Task.delete(tasks["Alpha call"])
    soql = "SELECT Id, IsDeleted FROM Task WHERE Subject = 'Alpha call'"

    assert sf.query(soql)["totalSize"] == 0
    deleted = sf.query_all(soql, include_deleted=True)["records"]
    assert deleted == [
        {
            "attributes": {
                "type": "Task",
                "url": f"/services/data/v59.0/sobjects/Task/{tasks['Alpha call']}",
            },
            "Id": tasks["Alpha call"],
            "IsDeleted": True,
        }
    ]
    assert (
        sf.query_all("SELECT Id FROM Task WHERE IsDeleted = true", include_deleted=True)[
            "totalSize"
        ]
        == 1
    )


def test_it_serves_query_all_locators_under_both_query_and_query_all(sf, sfemu_clean):
    _create_tasks(sf, 2100)
    sf.Task.delete(sf.query("SELECT Id FROM Task LIMIT 1")["records"][0]["Id"])
    session = sfemu_clean.requests_session()
    headers = {
        "Authorization": f"Bearer {sfemu_clean.token()['access_token']}",
        "Sforce-Query-Options": "batchSize=1000",
    }

    first = session.get(
        sfemu_clean.data_url("queryAll"), params={"q": "SELECT Id FROM Task"}, headers=headers
    ).json()
    assert first["totalSize"] == 2100
    locator = first["nextRecordsUrl"]
    assert "/queryAll/" in locator

    # jsforce fetches every locator under /query/; with or without a trailing slash. (A page
    # before the last: the last page releases the cursor.)
    for url in (locator, locator.replace("/queryAll/", "/query/"), locator + "/"):
        page = session.get(sfemu_clean.base_url + url, headers=headers)
        assert page.status_code == 200
        assert len(page.json()["records"]) == 1000
    last = session.get(sfemu_clean.base_url + page.json()["nextRecordsUrl"], headers=headers)
    assert len(last.json()["records"]) == 100


def test_it_accepts_plus_or_percent_20_and_trailing_slashes(sfemu_clean, tasks):
    session = sfemu_clean.requests_session()
    headers = {"Authorization": f"Bearer {sfemu_clean.token()['access_token']}"}
    base = sfemu_clean.data_url()
    soql_plus = "SELECT+Id+FROM+Task+WHERE+Subject+=+'Alpha+call'"
    soql_20 = soql_plus.replace("+", "%20")

    for url in (
        f"{base}query/?q={soql_plus}",
        f"{base}query?q={soql_plus}",
        f"{base}query/?q={soql_20}",
        f"{base}query?q={soql_20}",
    ):
        response = session.get(url, headers=headers)
        assert response.status_code == 200, url
        assert response.json()["totalSize"] == 1


def test_it_refuses_an_unknown_query_locator(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query_more("01gWs0000000000AAA-2000")

    assert raised.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_it_finds_records_by_external_id_case_insensitively_deleted_ones_with_query_all(sf):
    kept = sf.Task.create({"Subject": "kept", "Cockpit_Task_Id__c": "CK-A"})["id"]
    gone = sf.Task.create({"Subject": "gone", "Cockpit_Task_Id__c": "ck-b"})["id"]
    sf.Task.delete(gone)
    soql = "SELECT Id FROM Task WHERE Cockpit_Task_Id__c IN ('ck-a', 'CK-B') AND Subject != null"

    assert [r["Id"] for r in sf.query(soql)["records"]] == [kept]
    everything = sf.query_all(soql, include_deleted=True)["records"]
    assert [r["Id"] for r in everything] == [kept, gone]


def test_it_compares_second_precision_stamps_with_millisecond_datetime_literals(sf, sfemu_clean):
    first = sf.Task.create({"Subject": "first"})["id"]
    sfemu_clean.set_clock_offset(5)  # a later second, without sleeping
    second = sf.Task.create({"Subject": "second"})["id"]
    stamp = sf.Task.get(first)["SystemModstamp"]  # 2026-11-29T08:49:32.000+0000
    whole, half = stamp[:-5] + "Z", stamp[:-8] + "500Z"

    def ids(where: str) -> list[str]:
        soql = f"SELECT Id FROM Task WHERE {where} ORDER BY Id"
        return [r["Id"] for r in sf.query(soql)["records"]]

    assert ids(f"SystemModstamp > {whole}") == [second]
    assert ids(f"SystemModstamp >= {whole}") == [first, second]
    assert ids(f"SystemModstamp = {whole}") == [first]
    assert ids(f"SystemModstamp >= {half}") == [second]
    assert ids(f"SystemModstamp < {half}") == [first]
