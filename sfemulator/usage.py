"""API usage as Salesforce counts it (a daily allowance, reported in Sforce-Limit-Info) and a
request log for tests and benchmarks (calls by endpoint, by user and by status)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from typing import Any


class ApiUsage:
    """Calls counted against the daily limit. The day rolls over at midnight UTC (Salesforce
    uses a rolling 24 hours; a calendar day is close enough for a test double)."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self._used = 0
        self._day: date | None = None
        self._lock = threading.Lock()

    def _roll(self, today: date) -> None:
        if self._day != today:
            self._day = today
            self._used = 0

    def used(self, today: date) -> int:
        with self._lock:
            self._roll(today)
            return self._used

    def exhausted(self, today: date) -> bool:
        with self._lock:
            self._roll(today)
            return self._used >= self.maximum

    def count(self, today: date) -> int:
        with self._lock:
            self._roll(today)
            self._used += 1
            return self._used

    def set(self, today: date, used: int, maximum: int | None = None) -> None:
        with self._lock:
            self._roll(today)
            self._used = used
            if maximum is not None:
                self.maximum = maximum

    def header(self, today: date) -> str:
        return f"api-usage={self.used(today)}/{self.maximum}"


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._logins = 0
            self._by_endpoint: Counter[str] = Counter()
            self._by_user: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._subrequests: Counter[str] = Counter()

    def record(self, endpoint: str, user: str | None, status: int, login: bool = False) -> None:
        with self._lock:
            if login:
                self._logins += 1
            else:
                self._total += 1
            self._by_endpoint[endpoint] += 1
            if user:
                self._by_user[user] += 1
            self._by_status[str(status)] += 1

    def record_subrequest(self, endpoint: str) -> None:
        """A subrequest of a composite series: named like a call, counted apart (the series
        is the one API call)."""
        with self._lock:
            self._subrequests[endpoint] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self._total,
                "logins": self._logins,
                "by_endpoint": dict(self._by_endpoint),
                "by_user": dict(self._by_user),
                "by_status": dict(self._by_status),
                "subrequests": dict(self._subrequests),
            }
