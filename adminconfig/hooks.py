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
