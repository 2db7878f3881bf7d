"""SOQL date literals (TODAY, LAST_N_DAYS:n, ...) as half-open date ranges [start, end).

Ranges are computed in UTC: the emulator has no user time zone. LAST_N_DAYS:n covers the n
days before today and today itself; NEXT_N_DAYS:n starts tomorrow. Weeks start on Sunday.
"""

from __future__ import annotations

from datetime import date, timedelta


def _month_start(day: date, shift: int) -> date:
    month_index = day.year * 12 + day.month - 1 + shift
    return date(month_index // 12, month_index % 12 + 1, 1)


def date_range(word: str, days: int | None, today: date) -> tuple[date, date]:
    one = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)
    if word == "TODAY":
        return today, today + one
    if word == "YESTERDAY":
        return today - one, today
    if word == "TOMORROW":
        return today + one, today + 2 * one
    if word in ("LAST_N_DAYS", "LAST_90_DAYS"):
        count = 90 if days is None else days
        return today - timedelta(days=count), today + one
    if word in ("NEXT_N_DAYS", "NEXT_90_DAYS"):
        count = 90 if days is None else days
        return today + one, today + timedelta(days=count + 1)
    if word == "THIS_WEEK":
        return week_start, week_start + timedelta(days=7)
    if word == "LAST_WEEK":
        return week_start - timedelta(days=7), week_start
    if word == "NEXT_WEEK":
        return week_start + timedelta(days=7), week_start + timedelta(days=14)
    if word == "THIS_MONTH":
        return _month_start(today, 0), _month_start(today, 1)
    if word == "LAST_MONTH":
        return _month_start(today, -1), _month_start(today, 0)
    if word == "NEXT_MONTH":
        return _month_start(today, 1), _month_start(today, 2)
    raise AssertionError(f"unknown date literal {word}")
