"""The shapes of what Salesforce answers, as the REST API documents them, for the type checker.

A Task record's fields depend on the admin's mapping, so a record stays a dict keyed by field
API name; the envelopes around records (query pages, collection answers, getDeleted, limits,
describe) have fixed keys and are TypedDicts. Keys Salesforce may leave out are NotRequired.
"""

from typing import Any, NotRequired, TypedDict

# The Salesforce object a Cockpit task is twinned with. The engine's queries, writes, describe,
# deletions and change-event channel all name it through this, so a second object (Event) is
# a new name here and the places that use this one, not a hunt for a string.
TASK_SOBJECT = "Task"

# One sObject record: field API name → JSON value ("Id", "Subject", "SystemModstamp", ...).
SalesforceRecord = dict[str, Any]


class RecordError(TypedDict):
    """One error of a record in an sObject Collections answer."""

    statusCode: str
    message: str
    fields: NotRequired[list[str]]


class RecordAnswer(TypedDict):
    """One record's answer in an sObject Collections call (create, update, upsert, delete)."""

    id: NotRequired[str | None]
    success: bool
    errors: list[RecordError]
    created: NotRequired[bool]


class CompositeSubrequest(TypedDict):
    """One subrequest of a Composite call (`POST composite`, up to 25 in one API call)."""

    method: str
    url: str
    referenceId: str
    body: NotRequired[Any]
    httpHeaders: NotRequired[dict[str, str]]


class CompositeAnswer(TypedDict):
    """One subrequest's answer: its status, and its body (a list of errors when it failed,
    None for a 204)."""

    body: Any
    httpHeaders: dict[str, str]
    httpStatusCode: int
    referenceId: str


class QueryPage(TypedDict):
    """A page of SOQL results (up to 2,000 records); nextRecordsUrl while more wait."""

    totalSize: int
    done: bool
    records: list[SalesforceRecord]
    nextRecordsUrl: NotRequired[str]


class DeletedRecord(TypedDict):
    id: str
    deletedDate: str


class DeletedAnswer(TypedDict):
    """getDeleted: the records deleted in a window, and how far the answer reaches."""

    deletedRecords: list[DeletedRecord]
    earliestDateAvailable: NotRequired[str]
    latestDateCovered: NotRequired[str]


class Limit(TypedDict):
    Max: int
    Remaining: int


# /limits: each limit by name ("DailyApiRequests", ...).
Limits = dict[str, Limit]


class PicklistValue(TypedDict):
    value: str
    label: NotRequired[str | None]
    active: NotRequired[bool]
    defaultValue: NotRequired[bool]


class FieldDescribe(TypedDict):
    """One field of an sObject describe (the keys Cockpit reads; Salesforce sends more)."""

    name: str
    label: NotRequired[str]
    type: NotRequired[str]
    length: NotRequired[int]
    createable: NotRequired[bool]
    updateable: NotRequired[bool]
    nillable: NotRequired[bool]
    custom: NotRequired[bool]
    externalId: NotRequired[bool]
    picklistValues: NotRequired[list[PicklistValue]]


class SObjectDescribe(TypedDict):
    name: str
    fields: list[FieldDescribe]


class SalesforceUser(TypedDict):
    """A row of the client's active-user query."""

    Id: str
    Email: str | None
    Name: str
    IsActive: bool
