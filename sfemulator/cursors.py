"""Query locators: the rest of a result, fetched page by page through `nextRecordsUrl`.

A cursor is a snapshot of the matching rows taken when the query ran, as in Salesforce. Its
locator does not remember whether it came from `query/` or `queryAll/`: jsforce fetches every
locator under `query/`, and Salesforce serves it either way.

Cursors live as Salesforce's do, and that bounds the emulator's memory:
- a cursor is released when its last page is served (a `query_all` leaves nothing behind), so
  fetching that last page again answers INVALID_QUERY_LOCATOR;
- one idle for 15 minutes (of the emulator's clock, so the admin clock can expire it) is
  released;
- a user has at most 10 open cursors: opening an eleventh releases that user's oldest.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sfemulator.errors import SalesforceError
from sfemulator.ids import QUERY_LOCATOR_PREFIX, case_safe_suffix
from sfemulator.sftime import Clock

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_CURSORS_PER_USER = 10
CURSOR_IDLE = timedelta(minutes=15)


@dataclass
class Cursor:
    records: list[dict[str, Any]]
    batch_size: int
    user_id: str
    touched: datetime


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_locator: str | None  # "<locator>-<offset>" of the next page
    total: int


def batch_size_from_header(header: str | None) -> int:
    """Sforce-Query-Options: batchSize=N, a hint between 200 and 2,000."""
    if not header:
        return DEFAULT_BATCH
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(DEFAULT_BATCH, int(value.strip())))
    return DEFAULT_BATCH


def invalid_query_locator() -> SalesforceError:
    return SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")


class Cursors:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # Oldest use first: expiry and the per-user limit release from the front.
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def first_page(self, records: list[dict[str, Any]], batch_size: int, user_id: str) -> Page:
        if len(records) <= batch_size:
            return Page(records, None, len(records))
        body = QUERY_LOCATOR_PREFIX + secrets.token_hex(6)[:12]
        locator = body + case_safe_suffix(body)
        now = self._clock.now()
        with self._lock:
            self._expire(now)
            own = [k for k, c in self._cursors.items() if c.user_id == user_id]
            for released in own[: max(0, len(own) - MAX_CURSORS_PER_USER + 1)]:
                del self._cursors[released]
            self._cursors[locator] = Cursor(records, batch_size, user_id, now)
        return Page(records[:batch_size], f"{locator}-{batch_size}", len(records))

    def page(self, locator_and_offset: str) -> Page:
        locator, _, offset_text = locator_and_offset.rpartition("-")
        now = self._clock.now()
        with self._lock:
            self._expire(now)
            cursor = self._cursors.get(locator) if offset_text.isdigit() else None
            if cursor is None:
                raise invalid_query_locator()
            offset = int(offset_text)
            end = offset + cursor.batch_size
            total = len(cursor.records)
            if end >= total:
                del self._cursors[locator]  # the last page: nothing more to fetch
            else:
                cursor.touched = now
                self._cursors.move_to_end(locator)
        records = cursor.records[offset:end]
        if end >= total:
            return Page(records, None, total)
        return Page(records, f"{locator}-{end}", total)

    def open_count(self) -> int:
        with self._lock:
            return len(self._cursors)

    def clear(self) -> None:
        with self._lock:
            self._cursors.clear()

    def _expire(self, now: datetime) -> None:
        while self._cursors:
            locator, oldest = next(iter(self._cursors.items()))
            # A clock moved back leaves touched in the future: such a cursor is not idle.
            if now - oldest.touched < CURSOR_IDLE:
                break
            del self._cursors[locator]
