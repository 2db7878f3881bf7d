"""sObject rows: create, read, update, delete, by Id or by external id, and User passwords."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from sfemulator.api.call import Call
from sfemulator.errors import SalesforceError, not_found
from sfemulator.protocol import Response
from sfemulator.schema import USER, SObjectType
from sfemulator.sftime import parse_datetime
from sfemulator.store import Record

# Weak validation (Salesforce's conditional request headers): an HTTP date, to the second,
# against the record's LastModifiedDate. Salesforce stamps to the second too, so an edit made
# within the same second as the date a client holds passes an If-Unmodified-Since check.


def _http_date(call: Call, header: str) -> datetime | None:
    """The header's date; None when absent. An unreadable one is None for GET (HTTP ignores
    an invalid If-Modified-Since) and a 400 otherwise (Salesforce: an invalid
    If-Unmodified-Since on PATCH or POST is 400 Bad Request)."""
    text = call.request.header(header)
    if text is None:
        return None
    try:
        moment = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is None:
        if call.request.method in ("GET", "HEAD"):
            return None
        raise SalesforceError(
            400,
            "INVALID_HEADER_VALUE",
            f"{header}: invalid date '{text}'. Use an HTTP date, such as "
            "'Tue, 01 Dec 2026 08:49:32 GMT'",
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _last_modified(record: Record) -> datetime:
    moment = parse_datetime(record["LastModifiedDate"])
    assert moment is not None  # stored by the emulator in its own format
    return moment


def precondition_failed() -> SalesforceError:
    return SalesforceError(
        412,
        "PRECONDITION_FAILED",
        "The requested entity has been modified since the time specified in the "
        "If-Unmodified-Since header",
    )


def check_unmodified_since(call: Call, record: Record) -> None:
    since = _http_date(call, "If-Unmodified-Since")
    if since is not None and _last_modified(record) > since:
        raise precondition_failed()


def not_modified_since(call: Call, record: Record) -> bool:
    since = _http_date(call, "If-Modified-Since")
    return since is not None and _last_modified(record) <= since


def requested_fields(call: Call) -> list[str] | None:
    wanted = call.request.param("fields")
    if not wanted:
        return None
    return [part.strip() for part in wanted.split(",") if part.strip()]


def render_record(
    call: Call, sobject: SObjectType, record: Record, fields: list[str] | None
) -> dict[str, Any]:
    """A record as GET returns it: attributes first, then the requested (or all) fields."""
    out: dict[str, Any] = {"attributes": call.attributes(sobject.name, record["Id"])}
    if fields:
        for name in fields:
            item = sobject.field(name)
            if item is None:
                raise SalesforceError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject.name}'."
                )
            out[item.name] = record.get(item.name)
        return out
    for item in sobject.fields:
        out[item.name] = record.get(item.name)
    return out


def create(call: Call) -> Response:
    sobject = call.sobject()
    body = call.request.json()
    store = call.emulator.store
    with store.transaction():
        record = call.emulator.records.create(sobject, body, call.write_context())
    return Response(201, {"id": record["Id"], "success": True, "errors": []})


def get(call: Call) -> Response:
    sobject = call.sobject()
    record = call.emulator.records.live_record(sobject, call.args["id"])
    if not_modified_since(call, record):
        return Response(304)
    return Response(200, render_record(call, sobject, record, requested_fields(call)))


def update(call: Call) -> Response:
    sobject = call.sobject()
    body = call.request.json()
    records = call.emulator.records
    # The check and the write in one transaction: no write lands between them.
    with call.emulator.store.transaction():
        check_unmodified_since(call, records.live_record(sobject, call.args["id"]))
        records.update(sobject, call.args["id"], body, call.write_context())
    return Response(204)


def delete(call: Call) -> Response:
    sobject = call.sobject()
    if not sobject.deletable:
        raise SalesforceError(
            405,
            "METHOD_NOT_ALLOWED",
            "HTTP Method 'DELETE' not allowed. Allowed are HEAD,GET,PATCH",
        )
    with call.emulator.store.transaction():
        call.emulator.records.delete(sobject, call.args["id"], call.write_context())
    return Response(204)


def _by_external_id(call: Call, sobject: SObjectType) -> Record:
    records = call.emulator.records
    item = records.external_id_field(sobject, call.args["field"])
    value = call.args["value"]
    if item.name == "Id":
        return records.live_record(sobject, value)
    matches = call.emulator.store.find_live_by_unique(sobject.name, item.name, value)
    if not matches:
        raise not_found()
    if len(matches) > 1:
        raise SalesforceError(300, "MULTIPLE_CHOICES", "More than one record found")
    return matches[0]


def get_by_external_id(call: Call) -> Response:
    sobject = call.sobject()
    record = _by_external_id(call, sobject)
    return Response(200, render_record(call, sobject, record, requested_fields(call)))


def upsert(call: Call) -> Response:
    sobject = call.sobject()
    body = call.request.json()
    with call.emulator.store.transaction():
        record, created = call.emulator.records.upsert(
            sobject, call.args["field"], call.args["value"], body, call.write_context()
        )
    return Response(
        201 if created else 200,
        {"id": record["Id"], "success": True, "errors": [], "created": created},
    )


def delete_by_external_id(call: Call) -> Response:
    sobject = call.sobject()
    with call.emulator.store.transaction():
        record = _by_external_id(call, sobject)
        call.emulator.records.delete(sobject, record["Id"], call.write_context())
    return Response(204)


def _user(call: Call) -> None:
    if call.sobject() is not USER:
        raise not_found()


def password_status(call: Call) -> Response:
    _user(call)
    call.emulator.records.live_record(USER, call.args["id"])
    return Response(200, {"isExpired": False})


def set_password(call: Call) -> Response:
    _user(call)
    body = call.request.json()
    new_password = body.get("NewPassword") if isinstance(body, dict) else None
    with call.emulator.store.transaction():
        call.emulator.records.set_password(call.args["id"], new_password)
    return Response(204)
