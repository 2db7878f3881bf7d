"""The save preview (issue 18): what a mapping re-sync would write to Salesforce, counted by
the engine's own merge (sync/twins.py, README "What the sync guarantees", 11) so the numbers
are the re-sync's.

It runs `twins_merge_many` as a push with Bi-directional Sync off does (Salesforce not read),
so it costs no API call and needs no network inside the admin's transaction. Two things only
the re-sync can know: a Salesforce edit made since Cockpit last saw the task (the re-sync then
keeps it, as the merge does), and Salesforce's values of a newly mapped field (counted here as
empty, so Cockpit's value goes out). The merge writes its agreements to the database: callers
roll the transaction back (the admin raises out of it; `mapping_change_preview` uses a
savepoint).
"""

from collections import Counter
from collections.abc import Callable

from django.db import transaction

from adminconfig.hooks import ResyncPreview
from adminconfig.models import SalesforceConnection
from tasks.models import TaskSyncRecord

from .agreement import MARKS
from .engine_config import engine_load
from .merge_items import MergeItem
from .selectors import sync_settings
from .twins import twins_merge_many

CHUNK = 500


def resync_preview(*, connection: SalesforceConnection) -> ResyncPreview:
    """Merge every linked task under the mapping now stored; count what would go out."""
    if not connection.is_primary:
        return ResyncPreview(total=0, written=0)
    engine = engine_load(connection, sync_settings())
    linked = list(
        TaskSyncRecord.objects.exclude(salesforce_id=None)
        .order_by("task_id")
        .values_list("task_id", "salesforce_id", "agreed_cockpit")
    )
    by_field: Counter[str] = Counter()
    written = 0
    for start in range(0, len(linked), CHUNK):
        chunk = linked[start : start + CHUNK]
        items = [MergeItem(task_id, None, sf_id or "") for task_id, sf_id, _ in chunk]
        for outcome in twins_merge_many(engine=engine, items=items).values():
            if outcome.merged.to_salesforce:
                written += 1
                by_field.update(outcome.merged.to_salesforce.keys())
    marks = [(ck or {}).get(MARKS) for _, _, ck in linked]
    newly = {
        rule.salesforce_field
        for rule in engine.spec.fields
        for mark in marks
        if mark is not None
        and (mark.get(rule.salesforce_field) or {}).get("from") != rule.cockpit_field
    }
    return ResyncPreview(
        total=len(linked),
        written=written,
        by_field=dict(sorted(by_field.items(), key=lambda kv: (-kv[1], kv[0]))),
        newly_mapped=sorted(newly),
    )


class _RolledBack(Exception):
    def __init__(self, preview: ResyncPreview):
        super().__init__("preview only")
        self.preview = preview


def mapping_change_preview(
    *, connection: SalesforceConnection, change: Callable[[], None]
) -> ResyncPreview:
    """Preview a change made by `change` (mapping services called with resync=False): it is
    applied in a savepoint, counted, and rolled back."""
    try:
        with transaction.atomic():
            change()
            connection.refresh_from_db()
            raise _RolledBack(resync_preview(connection=connection))
    except _RolledBack as rolled_back:
        connection.refresh_from_db()
        return rolled_back.preview
