"""What a twin's merge is given and what it gives back, between its steps (sync/twins.py)."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .agreement import agreement_marked
from .engine_config import Engine
from .merge import Merge
from .stamps import NOT_READ, Versions


@dataclass
class Outcome:
    """What merging one task did; `to_salesforce` is what still has to be written."""

    task_id: int
    merged: Merge
    ours: dict[str, Any]
    changed_cockpit: bool = False
    engine: Engine | None = None  # the mapping the merge ran under, to mark the agreement
    versions: Versions = NOT_READ  # Salesforce's stamps of the version merged

    def agreed_after_push(self) -> tuple[dict[str, Any], dict[str, Any]]:
        base_sf, base_ck = self.merged.agreed_after_push(self.ours)
        if self.engine is not None:
            base_ck = agreement_marked(self.engine, base_sf, base_ck)
        return base_sf, base_ck


@dataclass
class MergeItem:
    """One linked task to merge with Salesforce's values (None: not read, Cockpit's side only)."""

    task_id: int
    theirs: dict[str, Any] | None
    salesforce_id: str
    base_override: tuple[dict[str, Any], dict[str, Any]] | None = None
    drift: bool = False  # a reconcile: values that differ although both sides agreed clash
    # When a read of Salesforce saw `theirs`, at the latest (Salesforce's clock; None: not a
    # read, say a change event): whether the version can be written on conditionally.
    read_at: dt.datetime | None = None
    # Values Salesforce held since the agreement that `theirs` does not show (field → values;
    # sync/records.py, Passed): a change and change back is a change all the same.
    passed: dict[str, list[Any]] = field(default_factory=dict)
