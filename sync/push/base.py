"""What every part of a push cycle shares: its limits, PushResult, the collection writes a
cycle sends (Write), and where an answer is recorded (finishing: under the lease fence)."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adminconfig.models import SalesforceConnection
from tasks.models import Task

from ..client import COLLECTION_LIMIT, COMPOSITE_COLLECTIONS, IN_FLIGHT
from ..failures import CONNECTION, Failure
from ..lease import lease_fence
from ..locks import tasks_lock
from ..models import OutboxEntry
from ..sf_types import CompositeSubrequest

if TYPE_CHECKING:
    from .reads import Verify

# The push's log lines keep the logger they had before the push became a package.
log = logging.getLogger("sync.outbound")


# One cycle claims up to this many entries: what they write goes in Composite calls of up to
# 5 collections of 200 (1,000 records), up to IN_FLIGHT of them at once; the reads their
# updates need go in Composite calls of up to 5 queries of READ_CHUNK Ids (400 keep a query's
# URL well inside Salesforce's limit).
CYCLE_LIMIT = IN_FLIGHT * COMPOSITE_COLLECTIONS * COLLECTION_LIMIT
LEASE_WAIT = 30.0  # seconds a push waits for a running pull or push to finish
READ_CHUNK = 2 * COLLECTION_LIMIT  # Ids in one SOQL IN list
OUTAGE_MESSAGE = "Salesforce could not be reached; Cockpit tries again in a few seconds."
OUTAGE = Failure(OUTAGE_MESSAGE, CONNECTION)


@dataclass
class PushResult:
    pushed: int = 0
    unchanged: int = 0
    deleted: int = 0
    retried: int = 0
    failed: int = 0
    api_calls: int = 0
    claimed: int = 0
    errors: list[str] = field(default_factory=list)


@contextmanager
def finishing(entries: list[OutboxEntry]) -> Iterator[None]:
    """Where what a call's answer means is written: under the lease fence (a holder that lost
    the lease writes none of it), with the entries' tasks locked first (locks.tasks_lock)."""
    with lease_fence():
        tasks_lock([e.task_id for e in entries])
        yield


def unfinished(entries: list[OutboxEntry]) -> list[OutboxEntry]:
    """The entries of a batch still in flight (an exception cut the batch short)."""
    still = set(
        OutboxEntry.objects.filter(
            pk__in=[e.pk for e in entries], state=OutboxEntry.State.IN_FLIGHT
        ).values_list("pk", flat=True)
    )
    return [e for e in entries if e.pk in still]


@dataclass
class Write:
    """One sObject Collections write of a cycle: what goes out, and what its answer finishes."""

    method: str
    path: str  # under the REST API's data path
    records: list[dict[str, Any]]
    entries: list[OutboxEntry]
    answered: Callable[[Any], None]  # run under finishing(entries)
    # What `uncertain_add` keeps when its answer never comes: task id → (sent, Cockpit's).
    sent: dict[int, tuple[dict[str, Any], dict[str, Any]]]
    # Not a collection (a small cycle's conditional PATCHes, or the verifying read): its own
    # subrequests, sent only in a Composite call; `answered` gets their answers.
    subrequests: list[CompositeSubrequest] | None = None
    heavy: int = 1  # of a Composite call's 5 collections or queries, how many it takes
    verify: "Verify | None" = None  # the verifying read, applied once the writes are recorded
    # Conditional writes Salesforce refused (412), filled by `answered`: read, merged and
    # written after the cycle's calls, with the cycle's tasks.
    refused: list[tuple[OutboxEntry, str]] | None = None
    tasks: dict[int, Task] | None = None


def has_field(connection: SalesforceConnection, name: str) -> bool:
    fields = (connection.task_describe or {}).get("fields")
    if not fields:
        return True  # not described yet: assume the documented setup, upsert
    return any(f["name"] == name for f in fields)
