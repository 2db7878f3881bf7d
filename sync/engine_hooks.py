"""The engine side of adminconfig.hooks.SyncEngine (called after the config change commits)."""

import logging

log = logging.getLogger(__name__)


class SyncEngine:
    def first_sync_start(self) -> None:
        # The first import is the inbound pull's job; until it lands this is logged only.
        log.info("Sync switched on for the first time; first import requested")

    def resync_start(self, run_id: int) -> None:
        from .tasks import resync

        resync.delay(run_id)
