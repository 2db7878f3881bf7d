"""getUpdated and getDeleted: `sobjects/{Type}/updated/` and `deleted/`.

As in Salesforce: start and end are rounded down to the minute and must be at least a minute
apart (INVALID_REPLICATION_DATE otherwise); start may be at most 30 days back for updated and
15 days for deleted (the recycle bin); `latestDateCovered` never claims a minute that is still
running, nor the minute a transaction still in flight was stamped in (a late commit), so a
client that starts its next window there misses nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sfemulator.api.call import Call
from sfemulator.errors import SalesforceError
from sfemulator.protocol import Response
from sfemulator.sftime import floor_minute, format_datetime, parse_datetime

UPDATED_WINDOW = timedelta(days=30)
DELETED_WINDOW = timedelta(days=15)
MAX_IDS = 600_000


def _replication_error(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_REPLICATION_DATE", message)


def _moment(call: Call, name: str) -> datetime:
    text = call.request.param(name)
    if text is None:
        raise SalesforceError(400, "MISSING_ARGUMENT", f"{name} parameter is required")
    # An unencoded `+` in the offset arrives as a space; read it back as the `+` it was.
    parsed = parse_datetime(text.replace(" ", "+"))
    if parsed is None:
        raise SalesforceError(
            400,
            "MALFORMED_QUERY",
            f"{name}: invalid date/time value '{text}', expected an ISO 8601 date and time "
            "with a time zone, e.g. 2026-11-29T08:00:00+00:00",
        )
    return floor_minute(parsed)


def _window(call: Call, back: timedelta) -> tuple[datetime, datetime, datetime]:
    start = _moment(call, "start")
    end = _moment(call, "end")
    now = call.emulator.clock.now()
    if start < floor_minute(now - back):
        days = back.days
        raise _replication_error(f"startDate cannot be more than {days} days ago")
    if end <= start:
        raise _replication_error(
            "startDate must chronologically precede endDate by more than one minute"
        )
    covered = min(end, floor_minute(now))
    in_flight = call.emulator.in_flight.oldest()
    if in_flight is not None:
        # A late commit that started before `covered` may still add records there.
        covered = min(covered, floor_minute(parse_datetime(in_flight) or now))
    return start, end, covered


def updated(call: Call) -> Response:
    sobject = call.sobject()
    start, end, covered = _window(call, UPDATED_WINDOW)
    ids = call.emulator.store.updated_ids(
        sobject.name, format_datetime(start), format_datetime(end)
    )
    if len(ids) > MAX_IDS:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "too many ids, narrow the time window")
    return Response(200, {"ids": ids, "latestDateCovered": format_datetime(covered)})


def deleted(call: Call) -> Response:
    sobject = call.sobject()
    emulator = call.emulator
    emulator.purge_recycle_bin()
    start, end, covered = _window(call, DELETED_WINDOW)
    rows = emulator.store.deleted_rows(sobject.name, format_datetime(start), format_datetime(end))
    purged = emulator.store.get_meta("last_purged")
    earliest = parse_datetime(purged) if purged else emulator.clock.now() - DELETED_WINDOW
    return Response(
        200,
        {
            "deletedRecords": [{"id": rid, "deletedDate": date} for rid, date in rows],
            "earliestDateAvailable": format_datetime(floor_minute(earliest)),
            "latestDateCovered": format_datetime(covered),
        },
    )
