"""Query locators: the rest of a result, fetched page by page through `nextRecordsUrl`.

A cursor is a snapshot of the matching rows taken when the query ran, as in Salesforce. Its
locator does not remember whether it came from `query/` or `queryAll/`: jsforce fetches every
locator under `query/`, and Salesforce serves it either way.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sfemulator.errors import SalesforceError
from sfemulator.ids import QUERY_LOCATOR_PREFIX, case_safe_suffix

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_OPEN_CURSORS = 500
CURSOR_IDLE_SECONDS = 15 * 60


@dataclass
class Cursor:
    records: list[dict[str, Any]]
    batch_size: int
    touched: float = field(default_factory=time.monotonic)


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


class Cursors:
    def __init__(self) -> None:
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def first_page(self, records: list[dict[str, Any]], batch_size: int) -> Page:
        if len(records) <= batch_size:
            return Page(records, None, len(records))
        body = QUERY_LOCATOR_PREFIX + secrets.token_hex(6)[:12]
        locator = body + case_safe_suffix(body)
        with self._lock:
            self._expire()
            self._cursors[locator] = Cursor(records, batch_size)
        return Page(records[:batch_size], f"{locator}-{batch_size}", len(records))

    def page(self, locator_and_offset: str) -> Page:
        locator, _, offset_text = locator_and_offset.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(locator) if offset_text.isdigit() else None
            if cursor is None:
                raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.touched = time.monotonic()
            self._cursors.move_to_end(locator)
        offset = int(offset_text)
        end = offset + cursor.batch_size
        records = cursor.records[offset:end]
        total = len(cursor.records)
        if end >= total:
            return Page(records, None, total)
        return Page(records, f"{locator}-{end}", total)

    def clear(self) -> None:
        with self._lock:
            self._cursors.clear()

    def _expire(self) -> None:
        cutoff = time.monotonic() - CURSOR_IDLE_SECONDS
        for locator in [k for k, c in self._cursors.items() if c.touched < cutoff]:
            del self._cursors[locator]
        while len(self._cursors) >= MAX_OPEN_CURSORS:
            self._cursors.popitem(last=False)
