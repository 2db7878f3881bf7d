"""sObject rows through unmodified simple-salesforce: CRUD, upsert, validation, describe."""

from __future__ import annotations

import re

import pytest
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from sfemulator.errors import SalesforceError
from sfemulator.ids import case_safe_suffix
from sfemulator.schema import Field
from sfemulator.values import coerce

# Salesforce keeps datetimes to the second.
SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _error_code(raised: pytest.ExceptionInfo) -> str:
    return raised.value.content[0]["errorCode"]


def test_it_creates_reads_updates_and_deletes_a_task(sf):
    created = sf.Task.create({"Subject": "Call Acme", "ActivityDate": "2026-12-01"})
    assert created["success"] is True
    assert created["errors"] == []

    assert sf.Task.update(created["id"], {"Subject": "Call Acme again"}) == 204
    task = sf.Task.get(created["id"])
    assert task["Subject"] == "Call Acme again"
    assert task["ActivityDate"] == "2026-12-01"
    assert task["attributes"] == {
        "type": "Task",
        "url": f"/services/data/v59.0/sobjects/Task/{created['id']}",
    }

    assert sf.Task.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.get(created["id"])


@pytest.mark.parametrize(
    ("sobject", "prefix", "body"),
    [
        ("Task", "00T", {"Subject": "x"}),
        ("Account", "001", {"Name": "Hooli"}),
        ("Contact", "003", {"LastName": "Bighead"}),
        ("User", "005", None),
    ],
)
def test_it_hands_out_18_character_ids_with_key_prefix_and_case_safe_suffix(
    sf, sfemu_clean, sobject, prefix, body
):
    body = body or sfemu_clean.user_body("gavin@hooli.example", last_name="Belson")
    record_id = getattr(sf, sobject).create(body)["id"]

    assert len(record_id) == 18
    assert record_id.startswith(prefix)
    assert record_id[15:] == case_safe_suffix(record_id[:15])
    # The 15-character form finds the same record.
    assert getattr(sf, sobject).get(record_id[:15])["Id"] == record_id


def test_it_defaults_status_priority_and_owner_on_create(sf, sfemu_clean):
    task = sf.Task.get(sf.Task.create({"Subject": "Defaults"})["id"])

    assert task["Status"] == "Not Started"
    assert task["Priority"] == "Normal"
    assert task["OwnerId"] == sfemu_clean.integration_user_id
    assert task["IsClosed"] is False
    assert task["IsDeleted"] is False
    assert task["CompletedDateTime"] is None
    for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert SF_DATETIME.match(task[name])


def test_it_closes_and_reopens_a_task_as_its_status_changes(sf):
    task_id = sf.Task.create({"Subject": "Close me"})["id"]

    sf.Task.update(task_id, {"Status": "Completed"})
    closed = sf.Task.get(task_id)
    assert closed["IsClosed"] is True
    assert SF_DATETIME.match(closed["CompletedDateTime"])

    sf.Task.update(task_id, {"Status": "In Progress"})
    reopened = sf.Task.get(task_id)
    assert reopened["IsClosed"] is False
    assert reopened["CompletedDateTime"] is None


def test_it_returns_only_the_requested_fields(sf):
    task_id = sf.Task.create({"Subject": "Fields", "Priority": "High"})["id"]

    task = sf.Task.get(task_id, params={"fields": "Subject,Priority"})

    assert list(task) == ["attributes", "Subject", "Priority"]


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Status": "Done"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status"]),
        ({"Priority": "Urgent"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Priority"]),
        ({"Subject": "x" * 256}, "STRING_TOO_LONG", ["Subject"]),
        ({"Name__c": "y" * 81}, "STRING_TOO_LONG", ["Name__c"]),
        ({"IsClosed": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsClosed"]),
        (
            {"CreatedDate": "2026-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
        ),
        ({"OwnerId": "001000000000000AAA"}, "FIELD_INTEGRITY_EXCEPTION", ["OwnerId"]),
        ({"OwnerId": "005Ws00000zzzzzAAA"}, "INVALID_CROSS_REFERENCE_KEY", ["OwnerId"]),
        ({"OwnerId": "not-an-id"}, "MALFORMED_ID", ["OwnerId"]),
    ],
)
def test_it_refuses_invalid_values_with_salesforces_errors(sf, body, code, fields):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "Invalid", **body})

    assert raised.value.status == 400
    assert raised.value.content[0]["errorCode"] == code
    assert raised.value.content[0]["fields"] == fields


def test_it_refuses_an_unknown_field(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", "Nope__c": 1})

    assert _error_code(raised) == "INVALID_FIELD"
    assert raised.value.content[0]["message"] == "No such column 'Nope__c' on sobject of type Task"


def test_it_refuses_a_malformed_date(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", "ActivityDate": "29/11/2026"})

    assert _error_code(raised) == "JSON_PARSER_ERROR"


@pytest.mark.parametrize("day", ["0001-01-01", "1699-12-31", "4001-01-01", "9999-12-31"])
def test_it_refuses_a_date_salesforce_cannot_hold(sf, day):
    task_id = sf.Task.create({"Subject": "x", "ActivityDate": "2026-11-29"})["id"]

    with pytest.raises(SalesforceMalformedRequest) as created:
        sf.Task.create({"Subject": "x", "ActivityDate": day})
    with pytest.raises(SalesforceMalformedRequest) as updated:
        sf.Task.update(task_id, {"ActivityDate": day})

    for raised in (created, updated):
        assert raised.value.status == 400
        assert _error_code(raised) == "FIELD_INTEGRITY_EXCEPTION"
        assert raised.value.content[0]["fields"] == ["ActivityDate"]
        assert "ActivityDate" in raised.value.content[0]["message"]
    assert sf.Task.get(task_id)["ActivityDate"] == "2026-11-29"


def test_it_refuses_a_custom_date_salesforce_cannot_hold(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "x", "Follow_Up_Date__c": "0001-01-01"})

    assert _error_code(raised) == "FIELD_INTEGRITY_EXCEPTION"
    assert raised.value.content[0]["fields"] == ["Follow_Up_Date__c"]


@pytest.mark.parametrize(
    ("moment", "refused"),
    [
        ("1699-12-31T23:59:59Z", True),
        ("1700-01-01T00:00:00Z", False),
        ("4000-12-31T00:00:00Z", False),
        ("9999-12-31T10:00:00Z", True),
    ],
)
def test_a_datetime_field_holds_the_same_range(moment, refused):
    # No writable datetime field in the emulator's objects: the rule, checked where it lives.
    field = Field("Reminder__c", "Reminder", "datetime", custom=True)

    if refused:
        with pytest.raises(SalesforceError) as raised:
            coerce(field, moment)
        assert raised.value.error_code == "FIELD_INTEGRITY_EXCEPTION"
    else:
        assert coerce(field, moment).startswith(moment[:10])


@pytest.mark.parametrize("day", ["1700-01-01", "4000-12-31"])
def test_it_accepts_the_first_and_last_dates_salesforce_holds(sf, day):
    task_id = sf.Task.create({"Subject": "x", "ActivityDate": day})["id"]

    assert sf.Task.get(task_id)["ActivityDate"] == day


def test_it_requires_required_fields(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Account.create({"Website": "https://x.example"})

    assert _error_code(raised) == "REQUIRED_FIELD_MISSING"
    assert raised.value.content[0]["fields"] == ["Name"]


def test_it_stores_custom_field_values(sf):
    task_id = sf.Task.create(
        {
            "Subject": "Custom",
            "Name__c": "Renewal",
            "Effort_Hours__c": 2.5,
            "Customer_Health__c": "Green",
            "Follow_Up_Date__c": "2026-12-24",
        }
    )["id"]

    task = sf.Task.get(task_id)
    assert (task["Name__c"], task["Effort_Hours__c"]) == ("Renewal", 2.5)
    assert (task["Customer_Health__c"], task["Follow_Up_Date__c"]) == ("Green", "2026-12-24")


def test_it_upserts_by_external_id_creating_then_updating(sf):
    created = sf.Task.upsert(
        "Cockpit_Task_Id__c/ck-42", {"Subject": "From Cockpit"}, raw_response=True
    )
    assert created.status_code == 201
    assert created.json()["created"] is True

    updated = sf.Task.upsert("Cockpit_Task_Id__c/ck-42", {"Subject": "Renamed"}, raw_response=True)
    assert updated.status_code == 200
    assert updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }

    task = sf.Task.get_by_custom_id("Cockpit_Task_Id__c", "ck-42")
    assert task["Subject"] == "Renamed"
    assert task["Cockpit_Task_Id__c"] == "ck-42"


def test_it_decodes_external_id_values_quoted_by_simple_salesforce(sf):
    # upsert() sends the value as given (requests encodes the space as %20);
    # get_by_custom_id() quotes it with quote_plus (space as +, + as %2B).
    sf.Task.upsert("Cockpit_Task_Id__c/ck 1%2B2", {"Subject": "Odd id"})

    assert sf.Task.get_by_custom_id("Cockpit_Task_Id__c", "ck 1+2")["Subject"] == "Odd id"


def test_it_keeps_the_external_id_unique(sf):
    sf.Task.create({"Subject": "One", "Cockpit_Task_Id__c": "dup-1"})

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Task.create({"Subject": "Two", "Cockpit_Task_Id__c": "DUP-1"})

    assert _error_code(raised) == "DUPLICATE_VALUE"


def test_it_refuses_upsert_on_a_field_that_is_not_an_external_id(sf):
    with pytest.raises(SalesforceResourceNotFound):
        sf.Task.upsert("Subject/abc", {"Priority": "Low"})


def test_it_answers_entity_is_deleted_when_updating_a_deleted_task(sf):
    task_id = sf.Task.create({"Subject": "Gone"})["id"]
    sf.Task.delete(task_id)

    with pytest.raises(SalesforceResourceNotFound) as raised:
        sf.Task.update(task_id, {"Subject": "Back?"})

    assert _error_code(raised) == "ENTITY_IS_DELETED"


def test_it_does_not_delete_users(sf, sfemu_clean):
    with pytest.raises(SalesforceGeneralError) as raised:
        sf.User.delete(sfemu_clean.integration_user_id)

    assert raised.value.status == 405


def test_it_names_contacts_and_users_from_their_first_and_last_names(sf):
    account_id = sf.Account.create({"Name": "Pied Piper"})["id"]
    contact_id = sf.Contact.create(
        {"FirstName": "Richard", "LastName": "Hendricks", "AccountId": account_id}
    )["id"]

    contact = sf.query(f"SELECT Name, Account.Name FROM Contact WHERE Id = '{contact_id}'")
    assert contact["records"][0]["Name"] == "Richard Hendricks"
    assert contact["records"][0]["Account"]["Name"] == "Pied Piper"


def test_it_describes_task_fields_with_salesforces_shape(sf):
    describe = sf.Task.describe()
    fields = {field["name"]: field for field in describe["fields"]}

    assert describe["name"] == "Task"
    assert describe["keyPrefix"] == "00T"
    status = fields["Status"]
    assert status["type"] == "picklist"
    assert status["restrictedPicklist"] is True
    assert status["defaultedOnCreate"] is True
    assert status["nillable"] is False
    assert {
        "active": True,
        "defaultValue": True,
        "label": "Not Started",
        "validFor": None,
        "value": "Not Started",
    } in status["picklistValues"]
    assert fields["Subject"]["length"] == 255
    assert fields["Description"]["type"] == "textarea"
    assert fields["Description"]["length"] == 32000
    assert fields["ActivityDate"]["type"] == "date"
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["IsClosed"]["createable"] is False
    assert fields["IsClosed"]["updateable"] is False
    external = fields["Cockpit_Task_Id__c"]
    assert (external["externalId"], external["unique"], external["custom"]) == (True, True, True)
    assert external["length"] == 64
    assert fields["Effort_Hours__c"]["type"] == "double"
    assert fields["Customer_Health__c"]["type"] == "picklist"
    keys = {
        "name",
        "label",
        "type",
        "length",
        "nillable",
        "createable",
        "updateable",
        "defaultedOnCreate",
        "custom",
        "externalId",
        "picklistValues",
        "restrictedPicklist",
        "referenceTo",
        "calculated",
        "unique",
        "soapType",
        "filterable",
        "sortable",
    }
    assert all(keys <= set(field) for field in describe["fields"])


def test_it_lists_the_sobjects_in_the_global_describe(sf):
    described = sf.describe()

    names = {sobject["name"] for sobject in described["sobjects"]}
    assert names == {"Account", "Contact", "Profile", "Task", "User"}
    assert described["maxBatchSize"] == 200
