"""Writes to sObject records with Salesforce's rules: field validation, defaults, required and
read-only fields, unique and external ids, references, IsClosed/CompletedDateTime following
Status, audit fields, SystemModstamp (one per API call, to the second) and the recycle bin.

Callers hold a store transaction around these calls (a savepoint per record in collections).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sfemulator.changes import ChangeEvents, ChangeSource, new_transaction_key
from sfemulator.errors import SalesforceError, entity_is_deleted, json_parser_error, not_found
from sfemulator.ids import normalize_id, prefix_type
from sfemulator.schema import TASK, USER, Field, SObjectType
from sfemulator.sftime import Clock, format_datetime
from sfemulator.store import Record, Store
from sfemulator.values import coerce

_READ_ONLY_HINT = (
    "Please check the security settings of this field and verify that it is read/write for "
    "your profile or permission set."
)


class CallStamp:
    """The one SystemModstamp of an API call.

    Every record one call writes shares it (CreatedDate, LastModifiedDate, SystemModstamp,
    CompletedDateTime, the deleted date), as the records of one Salesforce transaction do.
    It is taken at the call's first record write, or earlier with `take()` when the call
    models a transaction that started before it commits (the late_commit fault).
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._value: str | None = None

    def take(self) -> str:
        with self._store.lock:
            if self._value is None:
                self._value = format_datetime(self._store.next_stamp(self._clock.now()))
            return self._value


class InFlight:
    """Stamps of late commits: calls that took their stamp and have not committed yet.

    getUpdated and getDeleted do not claim to cover a moment at or after the oldest of them
    (Salesforce's latestDateCovered is "the start time of that long-running transaction
    until it completes"), so a client that starts its next window there misses nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamps: Counter[str] = Counter()

    @contextmanager
    def holding(self, stamp: str) -> Iterator[None]:
        with self._lock:
            self._stamps[stamp] += 1
        try:
            yield
        finally:
            with self._lock:
                self._stamps[stamp] -= 1
                if not self._stamps[stamp]:
                    del self._stamps[stamp]

    def oldest(self) -> str | None:
        with self._lock:
            return min(self._stamps) if self._stamps else None

    def count(self) -> int:
        with self._lock:
            return sum(self._stamps.values())


@dataclass(frozen=True)
class WriteContext:
    """Who writes, the call's stamp (each write takes its own without one), whether the fault
    plan wants this write to hit a locked row, and what the change events say of the call
    (its changeOrigin, and the transactionKey all its changes share)."""

    user_id: str
    lock_fault: Callable[[], bool] = lambda: False
    stamp: CallStamp | None = None
    origin: str = ""
    transaction_key: str = field(default_factory=new_transaction_key)


class Records:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        # Set by the emulator: where record changes are published (Streaming API).
        self.changes: ChangeEvents | None = None

    # Public operations ----------------------------------------------------------------------

    def create(self, sobject: SObjectType, body: Any, ctx: WriteContext) -> Record:
        values = self._body_values(sobject, body, creating=True)
        record: Record = {item.name: None for item in sobject.fields}
        for item in sobject.fields:
            if item.default_value is not None:
                record[item.name] = item.default_value
            if item.type == "picklist" and item.defaulted_on_create:
                record[item.name] = item.picklist_default()
        if sobject.field("OwnerId") is not None:
            record["OwnerId"] = ctx.user_id
        for item, value in values.items():
            if value is None and item.defaulted_on_create:
                continue
            record[item.name] = value
        self._derive(sobject, record)
        self._check_required(sobject, record)
        self._check_unique(sobject, record, values)
        self._check_references(sobject, values, record)
        self._lock_fault(ctx, None)
        stamp = self._stamp(ctx)
        record["Id"] = self.store.new_id(sobject.key_prefix)
        record["IsDeleted"] = False
        record["CreatedDate"] = record["LastModifiedDate"] = record["SystemModstamp"] = stamp
        record["CreatedById"] = record["LastModifiedById"] = ctx.user_id
        if sobject is TASK and record["IsClosed"]:
            record["CompletedDateTime"] = stamp
        self.store.insert(sobject.name, record)
        self._published(sobject, "CREATE", None, record, ctx)
        return record

    def update(self, sobject: SObjectType, record_id: str, body: Any, ctx: WriteContext) -> Record:
        current = self.live_record(sobject, record_id)
        values = self._body_values(sobject, body, creating=False, record_id=current["Id"])
        record = dict(current)
        for item, value in values.items():
            record[item.name] = value
        self._derive(sobject, record)
        self._check_required(sobject, record)
        self._check_unique(sobject, record, values)
        self._check_references(sobject, values, record)
        self._lock_fault(ctx, record["Id"])
        stamp = self._stamp(ctx)
        if sobject is TASK and record["IsClosed"] and not current["IsClosed"]:
            record["CompletedDateTime"] = stamp
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp
        record["LastModifiedById"] = ctx.user_id
        self.store.save(record)
        self._published(sobject, "UPDATE", current, record, ctx)
        return record

    def delete(self, sobject: SObjectType, record_id: str, ctx: WriteContext) -> Record:
        if not sobject.deletable:
            raise SalesforceError(
                400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id"
            )
        record = dict(self.live_record(sobject, record_id))
        self._lock_fault(ctx, record["Id"])
        stamp = self._stamp(ctx)
        record["IsDeleted"] = True
        record["SystemModstamp"] = stamp
        self.store.mark_deleted(record, stamp)
        self._published(sobject, "DELETE", None, record, ctx)
        return record

    def undelete(self, sobject: SObjectType, record_id: str, ctx: WriteContext) -> Record:
        """Restore a record from the recycle bin (Salesforce's undelete(); no REST resource,
        so only the admin endpoint calls it). It gets a new SystemModstamp."""
        normalized = normalize_id(record_id)
        found = self.store.get(normalized) if normalized else None
        if found is None or found[0] != sobject.name:
            raise not_found()
        if not found[2]:
            raise SalesforceError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin")
        record = dict(found[1])
        record["IsDeleted"] = False
        record["SystemModstamp"] = self._stamp(ctx)
        self.store.mark_undeleted(record)
        self._published(sobject, "UNDELETE", None, record, ctx)
        return record

    def upsert(
        self, sobject: SObjectType, field_name: str, value: str, body: Any, ctx: WriteContext
    ) -> tuple[Record, bool]:
        """(record, created) for an upsert by external id."""
        item = self.external_id_field(sobject, field_name)
        if not isinstance(body, dict):
            raise json_parser_error("Cannot deserialize instance of sObject from request body")
        body = dict(body)
        for key in list(body):
            if key.lower() == item.name.lower():
                if body[key] is not None and str(body[key]).lower() != value.lower():
                    raise SalesforceError(
                        400,
                        "INVALID_FIELD",
                        f"The value of {item.name} in the body ({body[key]}) does not match "
                        f"the value in the URL ({value})",
                        [item.name],
                    )
                del body[key]
        if item.name == "Id":
            return self.update(sobject, value, body, ctx), False
        matches = self.store.find_live_by_unique(sobject.name, item.name, value)
        if len(matches) > 1:
            raise SalesforceError(300, "MULTIPLE_CHOICES", "More than one record found")
        if matches:
            return self.update(sobject, matches[0]["Id"], body, ctx), False
        return self.create(sobject, {**body, item.name: value}, ctx), True

    def external_id_field(self, sobject: SObjectType, field_name: str) -> Field:
        item = sobject.field(field_name)
        if item is None or not (item.external_id or item.name == "Id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        return item

    def live_record(self, sobject: SObjectType, record_id: str) -> Record:
        normalized = normalize_id(record_id)
        if normalized is None or prefix_type(normalized) != sobject.name:
            raise SalesforceError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
            )
        found = self.store.get(normalized)
        if found is None:
            raise not_found()
        if found[2]:
            raise entity_is_deleted()
        return found[1]

    # Passwords ------------------------------------------------------------------------------

    def set_password(self, user_id: str, password: Any) -> None:
        self.live_record(USER, user_id)
        if not isinstance(password, str):
            raise SalesforceError(400, "INVALID_NEW_PASSWORD", "NewPassword is required")
        if len(password) < 8:
            raise SalesforceError(
                400, "INVALID_NEW_PASSWORD", "Your password must be at least 8 characters long."
            )
        if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
            raise SalesforceError(
                400, "INVALID_NEW_PASSWORD", "Your password must have a mix of letters and numbers."
            )
        salt = secrets.token_hex(8)
        self.store.set_password_hash(
            normalize_id(user_id) or user_id, f"{salt}${_hash(salt, password)}"
        )

    def check_password(self, user_id: str, password: str) -> bool:
        stored = self.store.password_hash(user_id)
        if not stored:
            return False
        salt, expected = stored.split("$", 1)
        return hmac.compare_digest(_hash(salt, password), expected)

    # Rules ----------------------------------------------------------------------------------

    def _body_values(
        self, sobject: SObjectType, body: Any, creating: bool, record_id: str | None = None
    ) -> dict[Field, Any]:
        if not isinstance(body, dict):
            raise json_parser_error(
                "Cannot deserialize instance of sObject from START_ARRAY value or request may "
                "be missing a required field"
            )
        values: dict[Field, Any] = {}
        read_only: list[str] = []
        for key, value in body.items():
            if key == "attributes":
                continue
            item = sobject.field(key)
            if item is None:
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{key}' on sobject of type {sobject.name}",
                )
            if item.name == "Id":
                if creating:
                    raise SalesforceError(
                        400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"]
                    )
                if normalize_id(value) != record_id:
                    raise SalesforceError(
                        400, "INVALID_ID_FIELD", f"Record ID: id value of incorrect type: {value}"
                    )
                continue
            if not (item.createable if creating else item.updateable):
                read_only.append(item.name)
                continue
            values[item] = coerce(item, value)
        if read_only:
            raise SalesforceError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. {_READ_ONLY_HINT}",
                read_only,
            )
        return values

    def _derive(self, sobject: SObjectType, record: Record) -> None:
        if sobject is TASK:
            status = TASK.field("Status")
            entry = status.picklist_value(record["Status"]) if status and record["Status"] else None
            record["IsClosed"] = bool(entry and entry.closed)
            if not record["IsClosed"]:
                record["CompletedDateTime"] = None
        if sobject.field("Name") is not None and sobject.field("LastName") is not None:
            record["Name"] = " ".join(p for p in (record["FirstName"], record["LastName"]) if p)

    def _check_required(self, sobject: SObjectType, record: Record) -> None:
        missing = []
        for item in sobject.fields:
            if record.get(item.name) is not None or item.nillable or item.type == "boolean":
                continue
            if not (item.createable or item.updateable):
                continue
            # A restricted picklist Salesforce fills on create (Task Status) was cleared: that
            # is a bad value. One it does not fill (User TimeZoneSidKey) is just missing.
            if item.type == "picklist" and item.restricted and item.defaulted_on_create:
                raise SalesforceError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{item.label}: bad value for restricted picklist field: null",
                    [item.name],
                )
            missing.append(item.name)
        if missing:
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def _check_unique(self, sobject: SObjectType, record: Record, values: dict[Field, Any]) -> None:
        for item in values:
            if not item.unique or record.get(item.name) is None:
                continue
            for other in self.store.find_live_by_unique(sobject.name, item.name, record[item.name]):
                if other["Id"] == record.get("Id"):
                    continue
                if sobject is USER and item.name == "Username":
                    raise SalesforceError(
                        400,
                        "DUPLICATE_USERNAME",
                        "Duplicate Username.<br>The username already exists in this or another "
                        "Salesforce organization. Usernames must be unique across all "
                        "Salesforce organizations.",
                        ["Username"],
                    )
                raise SalesforceError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {item.name} duplicates value on record with id: "
                    f"{other['Id']}",
                    [item.name],
                )

    def _check_references(
        self, sobject: SObjectType, values: dict[Field, Any], record: Record
    ) -> None:
        checks = [item for item in values if item.type == "reference" and record.get(item.name)]
        owner = sobject.field("OwnerId")
        # A new record's defaulted owner (the caller) must exist and be active too.
        if owner is not None and owner not in checks and record.get("Id") is None:
            checks.append(owner)
        for item in checks:
            target_id = record[item.name]
            found = self.store.get(target_id)
            if found is None or found[2] or found[0] not in item.reference_to:
                raise SalesforceError(
                    400,
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"{item.label}: id value of incorrect type: {target_id}"
                    if found is not None and found[0] not in item.reference_to
                    else "invalid cross reference id",
                    [item.name],
                )
            if item.name == "OwnerId" and found[1].get("IsActive") is False:
                raise SalesforceError(
                    400,
                    "INACTIVE_OWNER_OR_USER",
                    f"operation performed with inactive user [{target_id}] as owner of "
                    f"{sobject.name.lower()}",
                    [],
                )

    def _lock_fault(self, ctx: WriteContext, record_id: str | None) -> None:
        if ctx.lock_fault():
            suffix = f" or 1 records: {record_id}" if record_id else ""
            raise SalesforceError(
                400,
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record{suffix}",
                [],
            )

    def _published(
        self,
        sobject: SObjectType,
        change_type: str,
        before: Record | None,
        after: Record,
        ctx: WriteContext,
    ) -> None:
        if self.changes is not None:
            source = ChangeSource(ctx.user_id, ctx.origin, ctx.transaction_key)
            self.changes.record_change(sobject, change_type, before, after, source)

    def _stamp(self, ctx: WriteContext) -> str:
        if ctx.stamp is not None:
            return ctx.stamp.take()
        return format_datetime(self.store.next_stamp(self.clock.now()))


def _hash(salt: str, password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1_000).hex()
