"""The engine lease: one push cycle or pull at a time, across processes and machines.

A conditional UPDATE wins or loses the lease; no transaction is held while Salesforce is
called. A holder that dies leaves the lease to expire; a live holder renews it as it works.
Nested holds in one thread (a push the test suite runs eagerly from inside a pull) pass
through.
"""

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import Lease

ENGINE = "engine"
# Longer than the longest single step (one Salesforce call, SALESFORCE_TIMEOUT_SECONDS);
# holders renew it after every call, so a dead holder blocks the engine for less than a minute
# (40 s with the default 30 s timeout) and the next cycle takes back what it had claimed.
TTL_MARGIN = dt.timedelta(seconds=10)


def _ttl() -> dt.timedelta:
    return dt.timedelta(seconds=settings.SALESFORCE_TIMEOUT_SECONDS) + TTL_MARGIN


_held: ContextVar[dict[str, str] | None] = ContextVar("sync_leases_held", default=None)


def _try_acquire(name: str, token: str) -> bool:
    Lease.objects.get_or_create(name=name)
    now = timezone.now()
    won = (
        Lease.objects.filter(name=name)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + _ttl(), token=token, acquired_at=now)
    )
    return bool(won)


def lease_renew(name: str = ENGINE) -> None:
    held = _held.get() or {}
    if name in held:
        Lease.objects.filter(name=name, token=held[name]).update(
            locked_until=timezone.now() + _ttl()
        )


@contextmanager
def lease_hold(name: str = ENGINE, *, wait: float = 0.0) -> Iterator[bool]:
    """Yield True while this holder has the lease; False when another holds it past `wait`."""
    held = _held.get() or {}
    if name in held:
        yield True
        return
    token = secrets.token_hex(8)
    deadline = time.monotonic() + wait
    while not _try_acquire(name, token):
        if time.monotonic() >= deadline:
            yield False
            return
        time.sleep(0.1)
    marker = _held.set({**held, name: token})
    try:
        yield True
    finally:
        _held.reset(marker)
        # Released whatever happened, so a failed run never blocks the next one.
        Lease.objects.filter(name=name, token=token).update(locked_until=None, token="")
