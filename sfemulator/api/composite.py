"""sObject Collections: `composite/sobjects` POST (create), PATCH (update), DELETE (`?ids=`),
PATCH `composite/sobjects/{Type}/{ExternalIdField}` (upsert), and GET/POST
`composite/sobjects/{Type}` (retrieve). Up to 200 records; results in request order.

Each record runs in its own savepoint. With allOrNone, one failure rolls the whole request
back and every record that had succeeded reports ALL_OR_NONE_OPERATION_ROLLED_BACK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfemulator.api.call import Call
from sfemulator.api.sobjects import render_record
from sfemulator.errors import SalesforceError, not_found
from sfemulator.ids import normalize_id, prefix_type
from sfemulator.protocol import Response
from sfemulator.schema import SObjectType, sobject_type

MAX_RECORDS = 200
Result = dict[str, Any]


class _RollBack(Exception):
    """Raised inside the transaction to undo an allOrNone request that had a failure."""


_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


def _too_many() -> SalesforceError:
    return SalesforceError(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
    )


def _collection_body(call: Call) -> tuple[list[Any], bool]:
    body = call.request.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Request body must contain records")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise _too_many()
    return records, _truthy(body.get("allOrNone", False))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def _record_type(record: Any, expected: SObjectType | None = None) -> SObjectType:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    type_name = attributes.get("type") if isinstance(attributes, dict) else None
    sobject = sobject_type(type_name) if isinstance(type_name, str) else None
    if sobject is None:
        raise SalesforceError(
            400, "INVALID_TYPE", "Each record must have attributes with a supported type", []
        )
    if expected is not None and sobject is not expected:
        raise SalesforceError(
            400, "INVALID_TYPE", f"Record type {sobject.name} does not match {expected.name}", []
        )
    return sobject


def _as_collection_error(error: SalesforceError) -> dict[str, Any]:
    """Single-record REST answers 404 for a missing row; a collection reports it per record."""
    if error.error_code == "NOT_FOUND":
        if error.message.startswith("Provided external ID field"):
            return {"statusCode": "MALFORMED_ID", "message": error.message, "fields": []}
        return {
            "statusCode": "INVALID_CROSS_REFERENCE_KEY",
            "message": "invalid cross reference id",
            "fields": [],
        }
    return error.collection_error()


def _run(
    call: Call, operations: list[tuple[str | None, Callable[[], Result]]], all_or_none: bool
) -> Response:
    """Run each operation in a savepoint; `str | None` is the record Id reported on failure."""
    store = call.emulator.store
    outcomes: list[Result] = []
    failed = False
    try:
        with store.transaction():
            for known_id, operation in operations:
                try:
                    with store.savepoint():
                        outcomes.append(operation())
                except SalesforceError as error:
                    failed = True
                    outcome: Result = {"success": False, "errors": [_as_collection_error(error)]}
                    if known_id:
                        outcome = {"id": known_id, **outcome}
                    outcomes.append(outcome)
            if failed and all_or_none:
                raise _RollBack
    except _RollBack:
        for index, outcome in enumerate(outcomes):
            if outcome["success"]:
                known_id = operations[index][0]
                rolled: Result = {"success": False, "errors": [dict(_ROLLED_BACK)]}
                outcomes[index] = {"id": known_id, **rolled} if known_id else rolled
    return Response(200, outcomes)


def create(call: Call) -> Response:
    records, all_or_none = _collection_body(call)
    ctx = call.write_context()
    service = call.emulator.records

    def operation(record: Any) -> Callable[[], Result]:
        def run() -> Result:
            sobject = _record_type(record)
            if isinstance(record, dict) and "Id" in record:
                raise SalesforceError(
                    400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
                )
            created = service.create(sobject, record, ctx)
            return {"id": created["Id"], "success": True, "errors": []}

        return run

    return _run(call, [(None, operation(record)) for record in records], all_or_none)


def _record_id(record: dict[str, Any]) -> Any:
    """The record's Id: Salesforce field names are case-insensitive, and its own docs
    write the key of a collection update as "id"."""
    for key, value in record.items():
        if key.lower() == "id":
            return value
    return None


def update(call: Call) -> Response:
    records, all_or_none = _collection_body(call)
    ctx = call.write_context()
    service = call.emulator.records

    def operation(record: Any) -> Callable[[], Result]:
        def run() -> Result:
            sobject = _record_type(record)
            record_id = _record_id(record)
            if not record_id:
                raise SalesforceError(
                    400, "MISSING_ARGUMENT", "Id not specified in an update call", []
                )
            updated = service.update(sobject, record_id, record, ctx)
            return {"id": updated["Id"], "success": True, "errors": []}

        return run

    operations = []
    for record in records:
        raw_id = _record_id(record) if isinstance(record, dict) else None
        operations.append((normalize_id(raw_id) or raw_id, operation(record)))
    return _run(call, operations, all_or_none)


def delete(call: Call) -> Response:
    ids_param = call.request.param("ids")
    if not ids_param:
        raise SalesforceError(400, "MISSING_ARGUMENT", "ids parameter is required")
    ids = [part.strip() for part in ids_param.split(",") if part.strip()]
    if len(ids) > MAX_RECORDS:
        raise _too_many()
    all_or_none = _truthy(call.request.param("allOrNone") or "false")
    ctx = call.write_context()
    service = call.emulator.records

    def operation(raw_id: str) -> Callable[[], Result]:
        def run() -> Result:
            record_id = normalize_id(raw_id)
            type_name = prefix_type(record_id) if record_id else None
            sobject = sobject_type(type_name) if type_name else None
            if sobject is None:
                raise SalesforceError(400, "MALFORMED_ID", f"malformed id {raw_id}", [])
            deleted = service.delete(sobject, raw_id, ctx)
            return {"id": deleted["Id"], "success": True, "errors": []}

        return run

    return _run(call, [(normalize_id(i) or i, operation(i)) for i in ids], all_or_none)


def upsert(call: Call) -> Response:
    sobject = call.sobject()
    records, all_or_none = _collection_body(call)
    service = call.emulator.records
    item = service.external_id_field(sobject, call.args["field"])
    ctx = call.write_context()

    def operation(record: Any) -> Callable[[], Result]:
        def run() -> Result:
            _record_type(record, sobject)
            value = next((v for k, v in record.items() if k.lower() == item.name.lower()), None)
            if value is None or value == "":
                raise SalesforceError(400, "MISSING_ARGUMENT", f"{item.name} not specified", [])
            saved, created = service.upsert(sobject, item.name, str(value), record, ctx)
            return {"id": saved["Id"], "success": True, "errors": [], "created": created}

        return run

    return _run(call, [(None, operation(record)) for record in records], all_or_none)


def retrieve(call: Call) -> Response:
    """GET ?ids=&fields= or POST {"ids": [...], "fields": [...]}: records or null, in order."""
    sobject = call.sobject()
    if call.request.method == "POST":
        body = call.request.json()
        ids = body.get("ids") if isinstance(body, dict) else None
        fields = body.get("fields") if isinstance(body, dict) else None
    else:
        ids = (call.request.param("ids") or "").split(",")
        fields = (call.request.param("fields") or "").split(",")
    if not ids or not fields or not all(isinstance(i, str) for i in ids + fields):
        raise SalesforceError(400, "MISSING_ARGUMENT", "ids and fields are required")
    if len(ids) > 2000:
        raise _too_many()
    wanted = [name.strip() for name in fields if name.strip()]
    out = []
    for raw_id in ids:
        try:
            record = call.emulator.records.live_record(sobject, raw_id.strip())
        except SalesforceError as error:
            if error.status == 404:
                out.append(None)
                continue
            raise
        out.append(render_record(call, sobject, record, wanted))
    if not out:
        raise not_found()
    return Response(200, out)
