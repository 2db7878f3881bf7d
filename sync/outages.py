"""Salesforce outages: one backoff per connection, ended by the first call that succeeds.

A whole call that fails for a reason a retry can cure (Salesforce unreachable, 503, a timeout)
says nothing about the records in it: the changes wait, their own attempts and backoff
untouched, and the connection is tried again after a short, growing pause. So after an outage
everything goes at the next cycle, not after each entry's backoff has grown for the length of
the outage. Record errors (a locked row, a refused value) keep their per-record backoff.
"""

import datetime as dt
import random

from django.db.models import F
from django.utils import timezone

from adminconfig.models import SalesforceConnection

# A few seconds at first, never more than this: recovery is seen within one pause.
OUTAGE_BACKOFF_MAX = dt.timedelta(seconds=10)


def outage_backoff(failures: int) -> dt.timedelta:
    seconds = min(2 ** max(failures - 1, 0), OUTAGE_BACKOFF_MAX.total_seconds())
    return dt.timedelta(seconds=seconds * (0.8 + random.random() * 0.2))  # noqa: S311


def outage_record(*, connection: SalesforceConnection, error: str) -> dt.timedelta:
    """A call failed for a transient reason: pause this connection. Returns the pause."""
    failures = connection.outage_failures + 1
    delay = outage_backoff(failures)
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        outage_failures=F("outage_failures") + 1,
        retry_at=timezone.now() + delay,
        last_error=error,
    )
    connection.outage_failures = failures
    return delay


def outage_end(*, connection: SalesforceConnection) -> bool:
    """A call succeeded: the connection is back. Returns whether an outage ended."""
    ended = (
        SalesforceConnection.objects.filter(pk=connection.pk)
        .exclude(outage_failures=0, retry_at=None)
        .update(outage_failures=0, retry_at=None, last_error="")
    )
    connection.outage_failures, connection.retry_at = 0, None
    return bool(ended)


def outage_waiting(connection: SalesforceConnection) -> dt.timedelta | None:
    """How long pushing still waits for this connection, if it is in an outage pause."""
    if connection.retry_at and connection.retry_at > timezone.now():
        return connection.retry_at - timezone.now()
    return None
