"""Table-driven tests of the translation between Cockpit values and Salesforce fields, as the
engine runs it: the SyncFields `sync.payload.sync_fields` builds from a MappingSpec (their `out`
and `back` are what the three-way merge calls both ways) and `sync.payload.task_changes` (what
the merge takes from Salesforce, as task_update arguments). Pure: no database, no network."""

import datetime as dt

import pytest

from sync.mapping import FieldRule, MappingSpec, PicklistRule, sf_datetime_parse
from sync.merge import SyncField, merge
from sync.payload import Lookups, Picklists, sync_fields, task_changes

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


NO_LOOKUPS = Lookups(owners_out={}, owners_in={}, accounts_out={}, accounts_in={})
NO_PICKLISTS = Picklists(statuses={}, priorities={}, types={})


def field(spec_: MappingSpec, salesforce_field: str) -> SyncField:
    """The SyncField the engine merges this Salesforce field with."""
    return next(f for f in sync_fields(spec_, NO_LOOKUPS) if f.salesforce == salesforce_field)


def from_salesforce(spec_: MappingSpec, salesforce_field: str, value: object):
    """What the merge does with a Salesforce change of one field that Cockpit left alone."""
    earlier = {salesforce_field: "earlier"}
    return merge(
        sync_fields(spec_, NO_LOOKUPS),
        base_sf=earlier,
        base_ck=earlier,
        ours=earlier,
        theirs={salesforce_field: value},
        latest="salesforce",
    )


# Cockpit's values as the merge is handed them (sync.payload.task_values: JSON, keyed by the
# Salesforce field they travel to).
@pytest.mark.parametrize(
    ("salesforce_field", "cockpit", "expected"),
    [
        ("Subject", "Call", "Call"),
        ("ActivityDate", "2026-12-31", "2026-12-31"),
        ("ActivityDate", None, None),
        ("Description", "", None),
        ("Status", "Open", "Not Started"),  # the first listed, every time
        ("Status", "Complete", "Completed"),
        ("Status", "Blocked", "Deferred"),  # unmapped: the org default
        ("Priority", "Medium", "Normal"),
        ("Priority", "Urgent", "Normal"),
        ("Type", "Call", "Call"),
        ("Type", "Follow-up", None),  # unmapped type: no Type, never a guess
        ("Type", None, None),  # no type
    ],
)
def test_cockpit_values_go_out_as_salesforce_fields(salesforce_field, cockpit, expected):
    assert field(DEFAULT, salesforce_field).out(cockpit) == expected


def test_only_mapped_fields_travel():
    assert {f.salesforce for f in sync_fields(DEFAULT, NO_LOOKUPS)} == {
        "Subject",
        "ActivityDate",
        "Description",
        "Status",
        "Priority",
        "Type",
        "OwnerId",
        "WhatId",
    }


def test_outbound_picklist_choice_is_always_the_first_value_never_random():
    status = field(DEFAULT, "Status")

    assert {status.out("Open") for _ in range(50)} == {"Not Started"}


@pytest.mark.parametrize(
    ("salesforce_field", "salesforce", "to_cockpit", "skipped"),
    [
        ("Subject", "Call", {"Subject": "Call"}, []),
        ("Subject", None, {"Subject": ""}, []),
        ("ActivityDate", "2026-12-31", {"ActivityDate": "2026-12-31"}, []),
        ("ActivityDate", None, {"ActivityDate": None}, []),
        ("Status", "Not Started", {"Status": "Open"}, []),
        ("Status", "Waiting on someone else", {"Status": "Open"}, []),  # every listed value
        ("Status", "Deferred", {}, [("Status", "Deferred")]),  # unmapped: skipped, reported
        ("Priority", "Normal", {"Priority": "Medium"}, []),
        ("Priority", "Critical", {}, [("Priority", "Critical")]),
        ("Type", "Meeting", {"Type": "Meeting"}, []),
        ("Type", None, {"Type": None}, []),  # no Type: no type, not a skip
        ("Type", "Other", {}, [("Type", "Other")]),  # unmapped: skipped, reported
    ],
)
def test_salesforce_fields_come_in_as_cockpit_values(
    salesforce_field, salesforce, to_cockpit, skipped
):
    result = from_salesforce(DEFAULT, salesforce_field, salesforce)

    assert result.to_cockpit == to_cockpit
    assert result.skipped == skipped


@pytest.mark.parametrize(
    ("to_cockpit", "changes"),
    [
        ({"Subject": "Call"}, {"name": "Call"}),
        ({"Subject": ""}, {"name": "(no subject)"}),  # a task has a name
        ({"Subject": "x" * 300}, {"name": "x" * 255}),
        ({"ActivityDate": "2026-12-31"}, {"due_date": dt.date(2026, 12, 31)}),
        ({"ActivityDate": None}, {"due_date": None}),
        ({"Description": None}, {"details": ""}),
        ({"Unknown__c": 5}, {}),
    ],
)
def test_what_comes_in_becomes_the_task_update_of_its_cockpit_field(to_cockpit, changes):
    assert task_changes(to_cockpit, DEFAULT, NO_PICKLISTS) == changes


@pytest.mark.parametrize(
    ("rule", "goes_out", "comes_in"),
    [
        (FieldRule("name", "Subject", "text", goes_out=True, comes_in=True), True, True),
        (FieldRule("name", "Subject", "text", goes_out=True, comes_in=False), True, False),
        (FieldRule("name", "Subject", "text", goes_out=False, comes_in=True), False, True),
    ],
)
def test_each_direction_syncs_only_its_way(rule, goes_out, comes_in):
    fields = sync_fields(spec(rule), NO_LOOKUPS)
    agreed = {"Subject": "a"}

    ours_changed = merge(
        fields,
        base_sf=agreed,
        base_ck=agreed,
        ours={"Subject": "x"},
        theirs=agreed,
        latest="cockpit",
    )
    theirs_changed = merge(
        fields,
        base_sf=agreed,
        base_ck=agreed,
        ours=agreed,
        theirs={"Subject": "x"},
        latest="salesforce",
    )

    assert ("Subject" in ours_changed.to_salesforce) is goes_out
    assert ("Subject" in theirs_changed.to_cockpit) is comes_in


@pytest.mark.parametrize(
    ("rule", "cockpit", "salesforce"),
    [
        (FieldRule("custom:seats", "Seats__c", "number"), 40, 40),
        (FieldRule("custom:share", "Share__c", "number"), 2.5, 2.5),
        (FieldRule("custom:vip", "Vip__c", "boolean"), True, True),
        (FieldRule("custom:renewal", "Renewal__c", "date"), "2027-01-15", "2027-01-15"),
        (
            FieldRule("custom:seen", "Seen__c", "datetime"),
            "2026-11-29T08:49:32+00:00",
            "2026-11-29T08:49:32.000+0000",
        ),
        (FieldRule("custom:site", "Site__c", "url"), "https://acme.test", "https://acme.test"),
        (FieldRule("custom:mail", "Mail__c", "email"), "a@acme.test", "a@acme.test"),
        (FieldRule("custom:note", "Note__c", "text"), "hello", "hello"),
    ],
)
def test_custom_fields_round_trip_in_their_json_form(rule, cockpit, salesforce):
    synced = field(spec(rule), rule.salesforce_field)

    assert synced.out(cockpit) == salesforce
    assert synced.back(salesforce) == cockpit


@pytest.mark.parametrize(
    ("kind", "salesforce", "cockpit"),
    [
        ("number", 40.0, 40),  # Salesforce answers a number field's 40 as 40.0
        ("text", None, None),  # an empty custom field is no value, not ""
        ("date", "2027-01-15T00:00:00.000+0000", "2027-01-15"),
    ],
)
def test_a_custom_field_comes_in_in_the_form_cockpit_stores(kind, salesforce, cockpit):
    rule = FieldRule("custom:extra", "Extra__c", kind)

    assert field(spec(rule), "Extra__c").back(salesforce) == cockpit


def test_a_completed_datetime_goes_out_in_salesforce_format_from_any_time_zone():
    mapped = spec(FieldRule("completed_at", "Completed__c", "datetime", comes_in=False))

    # task_values hands the merge the task's completed_at as ISO text, in Tokyo here.
    out = field(mapped, "Completed__c").out("2026-11-30T02:00:00+09:00")

    assert out == "2026-11-29T17:00:00.000+0000"


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
