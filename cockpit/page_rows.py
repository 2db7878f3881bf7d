"""The one-row tables nearly every page reads, and the small tables of the mapping, each kind
read together once a GET request (issue 19).

The sync switches, the primary connection, where the pull and the listener are, and the newest
mapping re-sync with its stuck-run notes: sync health asks for each of them from several panels,
the task page and the progress poll for most of them. In a GET request the first ask reads all
of them in one query (cockpit/reads_at_once.py) and later asks get the same rows; outside one
(workers, the listener, a POST) each ask is a fresh read of its own row.

The mapping's tables (custom fields, the primary connection's field and picklist mappings, the
user mappings) and the picklists (statuses, priorities: the list's filters, the history's
value labels) are read whole the same way, in one query of their rows as JSON: a page that
says what Salesforce holds beside a task needs all four, and read one by one they made the
list and the task page 12 or 13 queries.
"""

from functools import cache
from typing import Any

from django.db.models import QuerySet, Subquery

from .reads_at_once import first_rows, rows_at_once
from .request_memo import memo_active, memoized


@cache  # querysets never run themselves: each read clones them
def _reads() -> dict[str, QuerySet[Any]]:
    # Imported here: the apps' selectors import this module.
    from adminconfig.models import ResyncRun, SalesforceConnection, SyncSettings
    from sync.models import PullState, ResyncWatch, StreamState

    resync = ResyncRun.objects.filter(connection__is_primary=True)
    return {
        "sync_settings": SyncSettings.objects.filter(pk=1),
        "primary_connection": SalesforceConnection.objects.filter(is_primary=True),
        "pull_state": PullState.objects.filter(pk=1),
        "stream_state": StreamState.objects.filter(pk=1),
        "resync_newest": resync,
        "resync_newest_watch": ResyncWatch.objects.filter(run_id=Subquery(resync.values("pk")[:1])),
    }


def page_row(name: str) -> Any:
    """The first row of one of the reads above (None without one)."""
    if not memo_active():
        return _reads()[name].first()
    return memoized("page_rows", lambda: first_rows(_reads(), statement="page_rows"))[name]


@cache
def _tables() -> dict[str, QuerySet[Any]]:
    from adminconfig.models import FieldMapping, PicklistMapping, UserMapping
    from tasks.models import CustomField, Priority, Status

    return {
        "custom_fields": CustomField.objects.order_by("pk"),
        "statuses": Status.objects.all(),
        "priorities": Priority.objects.all(),
        "field_mappings": FieldMapping.objects.filter(connection__is_primary=True),
        "picklist_mappings": PicklistMapping.objects.filter(connection__is_primary=True),
        "user_mappings": UserMapping.objects.all(),
    }


def page_table(name: str) -> list[Any] | None:
    """Every row of one of the tables above (the mappings: the primary connection's), in its
    model's order, in a GET request; None outside one, where the caller reads its own."""
    if not memo_active():
        return None
    return memoized("page_tables", lambda: rows_at_once(_tables(), statement="page_tables"))[name]
