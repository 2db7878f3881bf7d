"""The push's first address, kept for scripts that import it: the push is sync/push/."""

from .push import CYCLE_LIMIT, OUTAGE_MESSAGE, PushResult, outbox_push, outbox_push_all

__all__ = ["CYCLE_LIMIT", "OUTAGE_MESSAGE", "PushResult", "outbox_push", "outbox_push_all"]
