"""What a REST resource handler receives: the request, the API version, the caller and the
emulator's parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfemulator.auth import Principal
from sfemulator.changes import change_origin, new_transaction_key
from sfemulator.errors import not_found
from sfemulator.protocol import Request
from sfemulator.records import CallStamp, WriteContext
from sfemulator.schema import SObjectType, sobject_type

if TYPE_CHECKING:
    from sfemulator.app import Emulator


@dataclass
class Call:
    request: Request
    version: str
    principal: Principal
    emulator: Emulator
    args: dict[str, str]
    # Shared by every record the call writes: one call, one SystemModstamp.
    stamp: CallStamp
    # And one Salesforce transaction: its change events share this key.
    transaction_key: str = field(default_factory=new_transaction_key)

    def write_context(self) -> WriteContext:
        return WriteContext(
            user_id=self.principal.user_id,
            lock_fault=self.emulator.faults.lock_fault,
            stamp=self.stamp,
            origin=change_origin(self.version, self.call_options_client()),
            transaction_key=self.transaction_key,
        )

    def call_options_client(self) -> str | None:
        """The `client` of the Sforce-Call-Options header (`client=cockpit, ...`), which
        Salesforce copies into the changeOrigin of the change events the call causes."""
        header = self.request.header("Sforce-Call-Options") or ""
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name.strip() == "client" and value.strip():
                return value.strip()
        return None

    def sobject(self) -> SObjectType:
        found = sobject_type(self.args["type"])
        if found is None:
            raise not_found()
        return found

    def record_url(self, sobject: str, record_id: str) -> str:
        return f"/services/data/v{self.version}/sobjects/{sobject}/{record_id}"

    def attributes(self, sobject: str, record_id: str) -> dict[str, str]:
        return {"type": sobject, "url": self.record_url(sobject, record_id)}
