"""The engine lease: one push cycle or pull at a time, across processes and machines.

A conditional UPDATE wins or loses the lease; no transaction is held while Salesforce is
called. A holder that dies leaves the lease to expire; a live holder renews it as it works.
Nested holds in one thread (a push the test suite runs eagerly from inside a pull) pass
through.

The lease is a fence. A holder can stall (a long garbage collection, a frozen VM, a slow
call) past the lease's end while another worker takes it over; when the stalled one resumes
it must write nothing. So:

- renewing is a conditional UPDATE on this holder's token and an unexpired lease, its row
  count checked: `lease_renew` says whether the lease is still held, `lease_keep` raises
  `LeaseLostError` when it is not, and the cycle stops there, before its next write;
- every Salesforce call made while the lease is held renews it first (`client.call_guard`),
  so a call never starts under a lost lease and starts with a whole lease period ahead;
- the writes that finish a call's work run in `lease_fence()`: one transaction that renews
  first, so on PostgreSQL the lease row stays locked by this holder until they commit (a
  taker waits for the commit, then finds the lease renewed) and SQLite serialises writers.

The arithmetic: one `SalesforceClient.call` (a login if needed, the request, and after an
expired session one more login and the request again) shares one budget of
SALESFORCE_TIMEOUT_SECONDS (sync/client.py). The lease runs TTL = that budget + TTL_MARGIN
from its last renewal, and it is renewed just before every call: a call that starts under the
lease ends under it, with TTL_MARGIN left for the database work that follows.
"""

import datetime as dt
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .client import call_guard
from .models import Lease

log = logging.getLogger(__name__)

ENGINE = "engine"
# What a holder may spend on database work between two renewals (a page of 2,000 records
# applied, a collection's results recorded) on top of one whole Salesforce call. A dead
# holder blocks the engine for at most the TTL (40 s with the default 30 s budget), and the
# next cycle takes back what it had claimed.
TTL_MARGIN = dt.timedelta(seconds=10)


class LeaseLostError(Exception):
    """This holder's lease ran out or was taken over: it must stop and write nothing more.
    Not a SalesforceError, so no retry or error bookkeeping catches it on the way out."""


def lease_ttl() -> dt.timedelta:
    return dt.timedelta(seconds=settings.SALESFORCE_TIMEOUT_SECONDS) + TTL_MARGIN


_held: ContextVar[dict[str, str] | None] = ContextVar("sync_leases_held", default=None)


def _try_acquire(name: str, token: str) -> bool:
    Lease.objects.get_or_create(name=name)
    now = timezone.now()
    won = (
        Lease.objects.filter(name=name)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + lease_ttl(), token=token, acquired_at=now)
    )
    return bool(won)


def lease_renew(name: str = ENGINE) -> bool:
    """Extend this holder's lease by a whole TTL; False when it no longer holds it (another
    holder took it over, or it ran out: a taker may be on its way) or never held it here."""
    token = (_held.get() or {}).get(name)
    if token is None:
        return False
    now = timezone.now()
    renewed = Lease.objects.filter(name=name, token=token, locked_until__gte=now).update(
        locked_until=now + lease_ttl()
    )
    return renewed == 1


def lease_keep(name: str = ENGINE) -> None:
    """Renew, or raise LeaseLostError: the holder stops before it writes anything more."""
    if not lease_renew(name):
        log.warning("The %s lease was lost (run out or taken over): stopping here", name)
        raise LeaseLostError(f"the {name} lease was lost")


@contextmanager
def lease_fence(name: str = ENGINE) -> Iterator[None]:
    """A transaction whose writes land only if this holder still holds the lease: it renews
    first, and the renewal's row lock keeps a taker out until the writes commit."""
    with transaction.atomic():
        lease_keep(name)
        yield


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
    guard = call_guard.set(lambda: lease_keep(name))
    try:
        yield True
    finally:
        call_guard.reset(guard)
        _held.reset(marker)
        # Released whatever happened, so a failed run never blocks the next one; a holder
        # that lost the lease releases nothing (the token is no longer its own).
        Lease.objects.filter(name=name, token=token).update(locked_until=None, token="")
