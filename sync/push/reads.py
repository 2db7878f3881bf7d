"""The reads a push makes: Salesforce's current values of the twins it updates (read first),
and the verifying read a cycle's first call carries (README, "What the sync guarantees", 13)."""

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone

from tasks.models import TaskSyncRecord

from .. import telemetry
from ..client import COLLECTION_LIMIT, COMPOSITE_COLLECTIONS, SalesforceClient, soql_ids
from ..engine_config import Engine
from ..lease import lease_fence
from ..locks import tasks_lock
from ..merge_items import MergeItem
from ..models import OutboxEntry
from ..outbox import outbox_add
from ..sf_types import TASK_SOBJECT, CompositeSubrequest, QueryPage
from ..twins import twins_merge_many
from .base import READ_CHUNK, Write, log

# The verifying read a cycle's first call carries (verify_due): twins Cockpit wrote at least
# VERIFY_AFTER and at most VERIFY_WINDOW ago whose stamps are not settled, up to VERIFY_LIMIT.
VERIFY_AFTER = dt.timedelta(seconds=1)
VERIFY_WINDOW = dt.timedelta(seconds=60)
VERIFY_LIMIT = COLLECTION_LIMIT


@dataclass
class Verify:
    """The verifying read (README, "What the sync guarantees", 13): a query subrequest in the
    cycle's first Composite call, re-reading the twins Cockpit wrote a moment before (none
    that the call writes, so the order Salesforce runs the subrequests in does not matter).
    Merged as a push's read is, it brings in what Salesforce changed meanwhile and settles
    their stamps once it began 2 s past them (twins.stamp_settled)."""

    engine: Engine
    salesforce_ids: list[str]


# What a push's reads select: the mapped fields and the stamps the merge and the stamp rule
# read (the pull's select adds what its apply needs: IsDeleted, the external id).
STAMP_FIELDS = ("SystemModstamp", "LastModifiedDate", "LastModifiedById")


def _read_fields(engine: Engine) -> list[str]:
    return list(dict.fromkeys(["Id", *engine.field_names, *STAMP_FIELDS]))


def verify_write(client: SalesforceClient, verify: Verify) -> Write:
    soql = (
        f"SELECT {', '.join(_read_fields(verify.engine))} FROM {TASK_SOBJECT} "  # noqa: S608
        f"WHERE Id IN ({soql_ids(verify.salesforce_ids)})"
    )
    subrequest: CompositeSubrequest = {
        "method": "GET",
        "url": f"{client.data_path()}query/?{urlencode({'q': soql})}",
        "referenceId": "verify",
    }
    return Write("GET", "query", [], [], lambda _: None, {}, [subrequest], verify=verify)


def verify_due(engine: Engine, *, exclude: set[int]) -> Verify | None:
    """The twins a cycle's call re-reads: linked tasks Cockpit wrote (or read within a
    version's own second) VERIFY_AFTER to VERIFY_WINDOW ago, whose stamps are not settled,
    oldest first; none the call writes."""
    if not engine.settings.bidirectional_sync:
        return None
    now = timezone.now()
    ids = [
        i
        for i in TaskSyncRecord.objects.filter(
            salesforce_id__isnull=False,
            salesforce_modified_at__isnull=True,
            desynced_at__isnull=True,
            last_synced_at__gte=now - VERIFY_WINDOW,
            last_synced_at__lte=now - VERIFY_AFTER,
        )
        .exclude(task_id__in=exclude)
        .order_by("last_synced_at")
        .values_list("salesforce_id", flat=True)[:VERIFY_LIMIT]
        if i
    ]
    return Verify(engine, ids) if ids else None


def verified(verify: Verify, answer: Any, read_at: dt.datetime | None) -> None:
    """Merge what the verifying read saw, as a push merges what it read first (the same merge
    a pull makes, under the tasks' row locks): Salesforce's changes come in, conflicts are
    recorded, stamps read 2 s past their second settle, and a task whose merge leaves Cockpit
    something to send is queued. A twin the read did not find is left to its next push or
    pull; a failed read settles nothing (those twins' next writes read first)."""
    read = answer[0] if isinstance(answer, list) and answer else None
    if read is None or read["httpStatusCode"] != 200 or not isinstance(read.get("body"), dict):
        log.warning("The verifying read of a push cycle failed: %s", answer)
        return
    found = {str(r["Id"]): r for r in read["body"].get("records", [])}
    links = dict(
        TaskSyncRecord.objects.filter(
            salesforce_id__in=found, desynced_at__isnull=True
        ).values_list("salesforce_id", "task_id")
    )
    names = [*verify.engine.field_names, *STAMP_FIELDS]
    accounts = verify.engine.lookups.accounts_in
    items = [
        MergeItem(task_id, {n: found[sf_id].get(n) for n in names}, sf_id, read_at=read_at)
        for sf_id, task_id in links.items()
        # An Account no company has yet: a pull links a company to it by name first (it may
        # call for the Account's name), so that task is left to the pull, or its next write
        # reads first.
        if sf_id and not _unknown_account(found[sf_id].get("WhatId"), accounts)
    ]
    if not items:
        return
    with lease_fence():
        tasks_lock([item.task_id for item in items])
        outcomes = twins_merge_many(engine=verify.engine, items=items)
        telemetry.records_pulled(items, outcomes)
        for task_id, outcome in sorted(outcomes.items()):
            if outcome.merged.to_salesforce:
                # Cockpit's side goes out at its next push, which merges again first.
                outbox_add(task_id=task_id, operation=OutboxEntry.Operation.UPSERT)


def _unknown_account(what_id: Any, accounts: dict[str, int]) -> bool:
    return bool(what_id) and str(what_id).startswith("001") and what_id not in accounts


def read_current(
    engine: Engine, client: SalesforceClient, salesforce_ids: list[str]
) -> tuple[dict[str, dict[str, Any]], dt.datetime | None]:
    """Salesforce's current values of these records (deleted ones are left out), so a push
    never writes over an edit it has not seen: queries of READ_CHUNK Ids, up to 5 in one
    Composite call (one API call; a lone query as a query call), the calls in flight
    together. Also when the read began at the latest (Salesforce's clock; the earliest of
    its calls')."""
    names = ["Id", *engine.field_names, "SystemModstamp", "LastModifiedDate", "LastModifiedById"]
    soqls = [
        f"SELECT {', '.join(dict.fromkeys(names))} FROM {TASK_SOBJECT} "  # noqa: S608 - Ids
        f"WHERE Id IN ({soql_ids(salesforce_ids[start : start + READ_CHUNK])})"
        for start in range(0, len(salesforce_ids), READ_CHUNK)
    ]
    groups = [
        soqls[start : start + COMPOSITE_COLLECTIONS]
        for start in range(0, len(soqls), COMPOSITE_COLLECTIONS)
    ]
    calls = [
        partial(client.queries, group) if len(group) > 1 else partial(_query_first, client, group)
        for group in groups
    ]
    found: dict[str, dict[str, Any]] = {}
    read_at: dt.datetime | None = None
    unknown = False
    # Each call renews the lease just before it starts (client.in_flight): a long read keeps it.
    for _, answer, began in client.in_flight(calls):
        if isinstance(answer, Exception):
            raise answer
        unknown = unknown or began is None
        if began is not None and (read_at is None or began < read_at):
            read_at = began
        for first in answer:
            found.update({r["Id"]: dict(r) for r in first["records"]})
            for page in client.pages_after(first):
                found.update({r["Id"]: r for r in page})
    return found, None if unknown else read_at


def _query_first(client: SalesforceClient, soqls: list[str]) -> list[QueryPage]:
    return [client.query_first(soqls[0])]
