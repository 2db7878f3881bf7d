"""Packing a cycle's writes into Composite calls (up to 5 collections or queries, 25
subrequests) and sending them, up to IN_FLIGHT at once; each answer recorded as it comes."""

import datetime as dt
from functools import partial
from typing import Any, cast
from urllib.parse import urlencode

from django.db import transaction

from adminconfig.models import SalesforceConnection

from ..client import (
    COMPOSITE_COLLECTIONS,
    COMPOSITE_LIMIT,
    SalesforceClient,
    SalesforceError,
    subrequest_error,
)
from ..lease import LeaseLostError
from ..models import OutboxEntry
from ..sf_types import TASK_SOBJECT, CompositeSubrequest, RecordAnswer
from ..uncertain import uncertain_add
from .answers import batch_crashed, batch_failed, outage_wait
from .base import PushResult, Write, finishing, log, unfinished
from .reads import Verify, verified


def writes_send(
    connection: SalesforceConnection,
    client: SalesforceClient,
    writes: list[Write],
    result: PushResult,
) -> bool:
    """A cycle's collection writes: up to 5 in one Composite call (one API call where each
    was one; a lone one as a collection call), up to IN_FLIGHT calls at once. Each answer is
    recorded as it comes, under the lease fence; a failed call, or a failed collection in
    one, fails its own entries as a failed call does. After an outage the calls not yet
    started wait without a call. Returns whether Salesforce was reached."""
    groups = _groups(writes)
    outage: list[SalesforceError] = []  # the transient failure that ended the sending
    heard: set[int] = set()
    reads: list[tuple[Verify, Any, dt.datetime | None]] = []
    calls = [partial(_group_send, client, group) for group in groups]
    for number, answer, began in client.in_flight(calls, go_on=lambda: not outage):
        heard.add(number)
        group = groups[number]
        if isinstance(answer, SalesforceError):
            _writes_failed(connection, group, answer, result, outage)
        elif isinstance(answer, Exception):
            log.error("A push call failed unexpectedly", exc_info=answer)
            batch_crashed(unfinished([e for w in group for e in w.entries]), answer, result)
        else:
            reads += _group_answered(connection, group, answer, began, result, outage)
    # Salesforce is down: the calls not yet started wait too, without a call.
    unsent = [
        e for n, group in enumerate(groups) if n not in heard for w in group for e in w.entries
    ]
    if unsent:
        outage_wait(unfinished(unsent), result)
    # The writes are recorded: now what the verifying read saw (it may call for Accounts).
    for verify, read, read_at in reads:
        verified(verify, read, read_at)
    return not outage


def _group_answered(
    connection: SalesforceConnection,
    group: list[Write],
    answer: list[Any],
    began: dt.datetime | None,
    result: PushResult,
    outage: list[SalesforceError],
) -> list[tuple[Verify, Any, dt.datetime | None]]:
    """One call's answers, write by write: a collection that failed fails its own entries,
    the others' answers are recorded together. Answers the verifying reads among them, which
    wait until every call's writes are recorded."""
    reads: list[tuple[Verify, Any, dt.datetime | None]] = []
    answered: list[tuple[Write, Any]] = []
    for write, written in zip(group, answer, strict=True):
        if write.verify is not None:
            reads.append((write.verify, written, began))
        elif isinstance(written, SalesforceError):
            _writes_failed(connection, [write], written, result, outage)
        else:
            answered.append((write, written))
    if answered:
        _answers_record(answered, result)
    return reads


def _writes_failed(
    connection: SalesforceConnection,
    writes: list[Write],
    exc: SalesforceError,
    result: PushResult,
    outage: list[SalesforceError],
) -> None:
    """Writes whose call (or collection) failed: their entries fail as `_call_failed` says."""
    if exc.uncertain:
        # Kept even by a holder that lost the lease: Salesforce may yet apply these
        # writes, and whoever holds the lease now must recognise them when they land.
        uncertain_add({k: v for w in writes for k, v in w.sent.items()})
    entries = unfinished([e for w in writes for e in w.entries])
    _call_failed(connection, entries, exc, result, outage)


def _answers_record(answered: list[tuple[Write, Any]], result: PushResult) -> None:
    """What one call answered for its collections, recorded in one transaction under the
    lease fence: one renewal, one lock of their tasks and one commit for up to 5 collections
    (a backlog's 1,000 records) instead of one each. Each collection's answers are recorded
    in a savepoint of their own, so one whose recording fails unexpectedly leaves the
    others' standing, as when each had its own transaction."""
    entries = [e for write, _ in answered for e in write.entries]
    try:
        with finishing(entries):
            for write, written in answered:
                try:
                    with transaction.atomic():
                        write.answered(written)
                except LeaseLostError:
                    raise
                except Exception as exc:  # noqa: BLE001 - recorded on its entries, as a call's
                    log.exception("Recording a push's answers failed unexpectedly")
                    batch_crashed(unfinished(write.entries), exc, result)
    except LeaseLostError:
        raise
    except Exception as exc:  # noqa: BLE001 - the fence itself failed: as a call's failure
        log.exception("Recording a push's answers failed unexpectedly")
        batch_crashed(unfinished(entries), exc, result)


def _call_failed(
    connection: SalesforceConnection,
    entries: list[OutboxEntry],
    exc: SalesforceError,
    result: PushResult,
    outage: list[SalesforceError],
) -> None:
    """A failed call (or collection) of a cycle's writes, as `batch_failed`; a transient
    failure after another of the same cycle only waits: one outage a cycle, however many of
    its calls in flight met it (each would have grown the pause a step)."""
    if exc.transient and outage:
        with finishing(entries):
            outage_wait(entries, result)
    else:
        batch_failed(connection, entries, exc, result)
    if exc.transient:
        outage.append(exc)


def _groups(writes: list[Write]) -> list[list[Write]]:
    """The cycle's writes in Composite calls, in order: up to 5 collections or queries and
    25 subrequests a call."""
    groups: list[list[Write]] = []
    heavy = size = 0
    for write in writes:
        own = len(write.subrequests) if write.subrequests is not None else 1
        if (
            groups
            and heavy + write.heavy <= COMPOSITE_COLLECTIONS
            and size + own <= COMPOSITE_LIMIT
        ):
            groups[-1].append(write)
            heavy, size = heavy + write.heavy, size + own
        else:
            groups.append([write])
            heavy, size = write.heavy, own
    return groups


def _group_send(client: SalesforceClient, group: list[Write]) -> list[Any]:
    """One call of up to 5 collection writes (in a thread of `client.in_flight`: no database);
    with a conditional write or the verifying read among them, one Composite call of all
    their subrequests, the read first. Answers each write's answer: its records' answers or
    the error its collection met, or its own subrequests' answers."""
    if any(w.subrequests is not None for w in group):
        return _composite_send(client, group)
    if len(group) == 1:
        write = group[0]
        if write.method == "DELETE":
            return [client.collection_delete([str(r["id"]) for r in write.records])]
        return [client.collection(write.method, write.path, write.records)]
    return client.collections([(w.method, w.path, w.records) for w in group])


def _composite_send(client: SalesforceClient, group: list[Write]) -> list[Any]:
    """The group's writes as one Composite call: each write's own subrequests, or its
    collection as one subrequest; answers each write's answer as `_group_send` does."""
    prefix = client.data_path()
    subrequests: list[CompositeSubrequest] = []
    sizes = []
    for number, write in enumerate(group):
        own = _write_subrequests(prefix, number, write)
        subrequests += own
        sizes.append(len(own))
    answers = client.composite(subrequests)
    out: list[Any] = []
    at = 0
    for write, size in zip(group, sizes, strict=True):
        mine, at = answers[at : at + size], at + size
        if write.subrequests is not None:
            out.append(mine)
        elif mine[0]["httpStatusCode"] == 200:
            out.append(cast(list[RecordAnswer], mine[0]["body"]))
        else:
            out.append(subrequest_error(mine[0]))
    return out


def _write_subrequests(prefix: str, number: int, write: Write) -> list[CompositeSubrequest]:
    """One write's part of a Composite call: its own subrequests, or its collection write as
    one subrequest (a DELETE's Ids in its URL), named by its place in the call."""
    if write.subrequests is not None:
        return write.subrequests
    if write.method == "DELETE":
        ids = ",".join(str(r["id"]) for r in write.records)
        query = urlencode({"ids": ids, "allOrNone": "false"}, safe=",")
        return [
            {
                "method": "DELETE",
                "url": f"{prefix}{write.path}?{query}",
                "referenceId": f"write{number}",
            }
        ]
    return [
        {
            "method": write.method,
            "url": prefix + write.path,
            "referenceId": f"write{number}",
            "body": {
                "allOrNone": False,
                "records": [{"attributes": {"type": TASK_SOBJECT}, **r} for r in write.records],
            },
        }
    ]
