"""The push: Cockpit task changes → the outbox → Salesforce, in collections of 200, up to
5 in one Composite call and up to 3 calls in flight.

Rules (DESIGN section 3): only tasks created after sync was first switched on are pushed, or
tasks a CSM pushes by hand, or tasks already linked to Salesforce (rule 2). A task's first push
upserts by the external id field, so a retry never duplicates (rule 9); after that its twin is
written by Id, and only with the fields Cockpit changed since the two last agreed, merged first
with what Salesforce changed meanwhile (rule 11): read first, or, for a small cycle, written
conditionally on the version Cockpit agreed with (If-Unmodified-Since, one Composite call) and
read only when Salesforce refuses it (rule 15). Every change is retried with backoff until it
succeeds or fails permanently, and then shows on the task (rule 9).

The cycle (cycle.py) prepares its writes in creates.py, updates.py and deletes.py, with the
reads of reads.py; calls.py packs and sends them; answers.py records what came back; base.py
holds what they share.
"""

from .base import CYCLE_LIMIT, OUTAGE_MESSAGE, PushResult
from .cycle import outbox_push, outbox_push_all

__all__ = ["CYCLE_LIMIT", "OUTAGE_MESSAGE", "PushResult", "outbox_push", "outbox_push_all"]
