"""Conditional writes: which Salesforce version a push may write on with If-Unmodified-Since
instead of reading first, and when a twin's stamp is settled enough to be kept.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from tasks.models import TaskSyncRecord

from .agreement import MARKS, mapping_changes
from .engine_config import Engine
from .mapping import sf_datetime_parse
from .uncertain import uncertain_fresh


def modified_at(theirs: dict[str, Any], *names: str) -> dt.datetime | None:
    for name in names or ("LastModifiedDate", "SystemModstamp"):
        if theirs.get(name):
            return sf_datetime_parse(theirs[name])
    return None


def latest_side(theirs: dict[str, Any] | None, changed_here: dt.datetime) -> str:
    """Which side changed the task last, for the "latest change wins" policy: Salesforce
    stamps to the second, so within one second the tie goes to Salesforce (a conflict is
    recorded either way)."""
    modified = modified_at(theirs or {})
    if modified and modified >= changed_here.replace(microsecond=0):
        return "salesforce"
    return "cockpit"


@dataclass(frozen=True)
class Versions:
    """Salesforce's stamps of the version a merge met, read once for all its steps: the side
    changed last (`latest`, latest_side), the version's SystemModstamp (`seen`), and its
    LastModifiedDate where a conditional write may rely on it (`settled`, stamp_settled)."""

    latest: str
    seen: dt.datetime | None
    settled: dt.datetime | None


NOT_READ = Versions("cockpit", None, None)  # Salesforce not read: Cockpit's side only


def versions_of(
    theirs: dict[str, Any] | None, read_at: dt.datetime | None, changed_here: dt.datetime
) -> Versions:
    """The stamps of `theirs` (None: not read), seen by a read that began at `read_at` (None:
    not a read, say a change event), against the task's last change in Cockpit."""
    if theirs is None:
        return Versions(latest_side(None, changed_here), None, None)
    return Versions(
        latest_side(theirs, changed_here),
        modified_at(theirs, "SystemModstamp"),
        stamp_settled(theirs, read_at),
    )


# ---- conditional writes ---------------------------------------------------------------------
# Salesforce's conditional headers validate weakly: If-Unmodified-Since compares an HTTP date,
# to the second, with LastModifiedDate, so an edit saved in the same second as the version
# Cockpit holds passes the check. A stamp is therefore kept only when the read that saw the
# version began at least SETTLED_AFTER past it: its second was over (one second), and a
# transaction still in flight when the version was read (a Salesforce record can become
# visible after later stamps) had another second to commit. An edit saved after that read is
# stamped later than the version, and a write conditional on it gets 412 instead.
SETTLED_AFTER = dt.timedelta(seconds=2)


def stamp_settled(theirs: dict[str, Any], read_at: dt.datetime | None) -> dt.datetime | None:
    """The LastModifiedDate of the version a read saw, if a write may be conditional on it."""
    modified = modified_at(theirs, "LastModifiedDate")
    if modified is None or read_at is None or read_at < modified + SETTLED_AFTER:
        return None
    return modified


def conditional_since(engine: Engine, record: TaskSyncRecord) -> dt.datetime | None:
    """The stamp a push of this linked task may write on with If-Unmodified-Since instead of
    reading Salesforce first, or None when it must read: no settled stamp, a write whose answer
    never came (its late arrival needs the read's values to be recognised), or an agreement
    the current mapping judges differently (a mapping change meets Salesforce's values)."""
    stamp = record.salesforce_modified_at
    if stamp is None or not agreement_writable(engine, record):
        return None
    return stamp


# A twin Cockpit wrote itself has no settled stamp until a read 2 s past its second sees it: a
# push cycle's verifying read (sync/push/reads.py) does, in the call of the cycle after next at
# the latest. Until then its next update may wait for that read instead of reading first.
STAMP_AWAITED = dt.timedelta(seconds=4)


def stamp_awaited(engine: Engine, record: TaskSyncRecord, now: dt.datetime) -> bool:
    """Whether this twin's next update may wait for its stamp to settle: Cockpit wrote (or
    read) it less than STAMP_AWAITED ago, and only the stamp keeps it from going
    conditionally."""
    return (
        record.salesforce_modified_at is None
        and record.last_synced_at is not None
        and now - record.last_synced_at < STAMP_AWAITED
        and agreement_writable(engine, record)
    )


def agreement_writable(engine: Engine, record: TaskSyncRecord) -> bool:
    if uncertain_fresh(record.uncertain_writes, timezone.now()):
        return False
    base_sf, base_ck = record.agreed_values or {}, record.agreed_cockpit or {}
    if MARKS not in base_ck or any(
        name not in base_sf or name not in base_ck for name in engine.field_names
    ):
        return False
    judged_sf, judged_ck, fresh = mapping_changes(engine, base_sf, base_ck, {}, None)
    return not (fresh or judged_sf != base_sf or judged_ck != base_ck)
