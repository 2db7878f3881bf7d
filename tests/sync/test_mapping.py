"""Table-driven tests of the pure translation between Cockpit values and Salesforce fields."""

import datetime as dt

import pytest

from sync.mapping import (
    FieldRule,
    MappingSpec,
    PicklistRule,
    from_salesforce,
    sf_datetime_parse,
    to_salesforce,
)

STATUS = PicklistRule(
    "Status",
    {
        "Open": ("Not Started", "Waiting on someone else"),
        "In Progress": ("In Progress",),
        "Complete": ("Completed",),
    },
    salesforce_default="Deferred",
)
PRIORITY = PicklistRule(
    "Priority", {"Low": ("Low",), "Medium": ("Normal",), "High": ("High",)}, "Normal"
)


TYPE = PicklistRule("Type", {"Call": ("Call",), "Meeting": ("Meeting",)}, None, nullable=True)


def spec(*rules: FieldRule) -> MappingSpec:
    return MappingSpec(fields=rules, status=STATUS, priority=PRIORITY, type=TYPE)


DEFAULT = spec(
    FieldRule("name", "Subject", "text"),
    FieldRule("due_date", "ActivityDate", "date"),
    FieldRule("details", "Description", "text"),
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"name": "Call"}, {"Subject": "Call"}),
        ({"due_date": dt.date(2026, 12, 31)}, {"ActivityDate": "2026-12-31"}),
        ({"due_date": None}, {"ActivityDate": None}),
        ({"details": ""}, {"Description": None}),
        ({"status": "Open"}, {"Status": "Not Started"}),  # the first listed, every time
        ({"status": "Complete"}, {"Status": "Completed"}),
        ({"status": "Blocked"}, {"Status": "Deferred"}),  # unmapped: the org default
        ({"priority": "Medium"}, {"Priority": "Normal"}),
        ({"priority": "Urgent"}, {"Priority": "Normal"}),
        ({"type": "Call"}, {"Type": "Call"}),
        ({"type": "Follow-up"}, {"Type": None}),  # unmapped type: no Type, never a guess
        ({"type": None}, {"Type": None}),  # no type
        ({"unmapped_field": 1}, {}),
    ],
)
def test_cockpit_values_go_out_as_salesforce_fields(values, expected):
    assert to_salesforce(values, DEFAULT) == expected


def test_outbound_picklist_choice_is_always_the_first_value_never_random():
    assert {to_salesforce({"status": "Open"}, DEFAULT)["Status"] for _ in range(50)} == {
        "Not Started"
    }


@pytest.mark.parametrize(
    ("record", "expected_values", "skipped"),
    [
        ({"Subject": "Call"}, {"name": "Call"}, []),
        ({"Subject": None}, {"name": ""}, []),
        ({"ActivityDate": "2026-12-31"}, {"due_date": dt.date(2026, 12, 31)}, []),
        ({"ActivityDate": None}, {"due_date": None}, []),
        ({"Status": "Not Started"}, {"status": "Open"}, []),
        ({"Status": "Waiting on someone else"}, {"status": "Open"}, []),  # every listed value
        ({"Status": "Deferred"}, {}, [("status", "Deferred")]),  # unmapped: skipped, reported
        ({"Priority": "Normal"}, {"priority": "Medium"}, []),
        ({"Priority": "Critical"}, {}, [("priority", "Critical")]),
        ({"Type": "Meeting"}, {"type": "Meeting"}, []),
        ({"Type": None}, {"type": None}, []),  # no Type: no type, not a skip
        ({"Type": "Other"}, {}, [("type", "Other")]),  # unmapped: skipped, reported
        ({"Unknown__c": 5}, {}, []),
    ],
)
def test_salesforce_fields_come_in_as_cockpit_values(record, expected_values, skipped):
    result = from_salesforce(record, DEFAULT)

    assert result.values == expected_values
    assert [(s.cockpit_field, s.salesforce_value) for s in result.skipped] == skipped


@pytest.mark.parametrize(
    ("rule", "out_expected", "comes_in"),
    [
        (FieldRule("name", "Subject", "text", goes_out=True, comes_in=True), True, True),
        (FieldRule("name", "Subject", "text", goes_out=True, comes_in=False), True, False),
        (FieldRule("name", "Subject", "text", goes_out=False, comes_in=True), False, True),
    ],
)
def test_each_direction_syncs_only_its_way(rule, out_expected, comes_in):
    one_way = spec(rule)

    assert ("Subject" in to_salesforce({"name": "x"}, one_way)) is out_expected
    assert ("name" in from_salesforce({"Subject": "x"}, one_way).values) is comes_in


@pytest.mark.parametrize(
    ("rule", "cockpit", "salesforce"),
    [
        (FieldRule("custom:seats", "Seats__c", "number"), 40, 40),
        (FieldRule("custom:vip", "Vip__c", "boolean"), True, True),
        (FieldRule("custom:renewal", "Renewal__c", "date"), "2027-01-15", "2027-01-15"),
        (
            FieldRule("custom:seen", "Seen__c", "datetime"),
            "2026-11-29T08:49:32+00:00",
            "2026-11-29T08:49:32.000+0000",
        ),
        (FieldRule("custom:site", "Site__c", "url"), "https://acme.test", "https://acme.test"),
    ],
)
def test_custom_fields_round_trip_in_their_json_form(rule, cockpit, salesforce):
    mapped = spec(rule)

    assert to_salesforce({rule.cockpit_field: cockpit}, mapped) == {
        rule.salesforce_field: salesforce
    }
    assert from_salesforce({rule.salesforce_field: salesforce}, mapped).values == {
        rule.cockpit_field: cockpit
    }


def test_a_completed_datetime_goes_out_in_salesforce_format_from_any_time_zone():
    tokyo = dt.timezone(dt.timedelta(hours=9))
    mapped = spec(FieldRule("completed_at", "Completed__c", "datetime", comes_in=False))

    out = to_salesforce({"completed_at": dt.datetime(2026, 11, 30, 2, 0, tzinfo=tokyo)}, mapped)

    assert out == {"Completed__c": "2026-11-29T17:00:00.000+0000"}


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T08:49:32.000+0000",
        "2026-11-29T08:49:32Z",
        "2026-11-29T08:49:32+00:00",
        "2026-11-29T09:49:32.000+0100",
        "2026-11-29T08:49:32",
    ],
)
def test_salesforce_datetimes_parse_to_aware_utc(text):
    assert sf_datetime_parse(text) == dt.datetime(2026, 11, 29, 8, 49, 32, tzinfo=dt.UTC)
