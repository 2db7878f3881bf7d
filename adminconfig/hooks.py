"""What adminconfig needs from the sync engine, filled in by `sync` when it loads.

adminconfig may not import sync (sync depends on adminconfig), so the engine registers an
implementation of these protocols in `SyncConfig.ready()`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .models import SalesforceConnection


class GatewayError(Exception):
    """Salesforce could not answer a configuration request; the message says why."""


@dataclass
class OrgReport:
    ok: bool
    message: str
    state: str  # a SalesforceConnection.State value
    api_usage: tuple[int, int] | None = None
    task_describe: dict[str, Any] = field(default_factory=dict)
    has_external_id: bool = False
    instance_url: str = ""  # the org's address the login answered with


@dataclass
class ResyncPreview:
    """What a re-sync under the mapping now in the database would write to Salesforce,
    computed by the engine's own merge without reading Salesforce (so from the values Cockpit
    last agreed with it): how many tasks it re-syncs, how many it writes, and per Salesforce
    field how many tasks that field changes for."""

    total: int
    written: int
    by_field: dict[str, int] = field(default_factory=dict)
    newly_mapped: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        changes = "; ".join(
            f"{name} changes in Salesforce for {count:,}" for name, count in self.by_field.items()
        )
        told = f"Re-syncs {self.total:,} synced task{'s' if self.total != 1 else ''}"
        told += f"; {changes}" if changes else "; nothing changes in Salesforce"
        if self.newly_mapped:
            told += (
                f" (newly mapped {', '.join(self.newly_mapped)}: counted as if Salesforce were "
                "empty there; the re-sync compares its actual values)"
            )
        return told + "."


class SalesforceGateway(Protocol):
    def org_check(self, connection: "SalesforceConnection") -> OrgReport:
        """Log in, read the org's limits and the Task describe; never raises for org errors."""

    def org_users(self, connection: "SalesforceConnection") -> Sequence[Mapping[str, Any]]:
        """Active Salesforce users as dicts with Id, Email, Name; GatewayError on failure."""


class SyncEngine(Protocol):
    def first_sync_start(self) -> None:
        """Sync was switched on for the first time: import recent Salesforce tasks, once the
        change commits (called inside its transaction)."""

    def resync_start(self, run_id: int) -> None:
        """Mappings changed: push every synced task again, updating the ResyncRun's progress,
        once the change commits (called inside its transaction)."""

    def resync_preview(self, connection: "SalesforceConnection") -> ResyncPreview:
        """What a re-sync under the mapping now stored would write (call it inside a
        transaction the caller rolls back to preview an unsaved change)."""


_gateway: SalesforceGateway | None = None
_engine: SyncEngine | None = None


def register(*, gateway: SalesforceGateway, engine: SyncEngine) -> None:
    global _gateway, _engine
    _gateway, _engine = gateway, engine


def gateway() -> SalesforceGateway:
    if _gateway is None:
        raise RuntimeError("No Salesforce gateway registered: is the 'sync' app installed?")
    return _gateway


def engine() -> SyncEngine:
    if _engine is None:
        raise RuntimeError("No sync engine registered: is the 'sync' app installed?")
    return _engine
