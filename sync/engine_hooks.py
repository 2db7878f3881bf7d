"""The engine side of adminconfig.hooks.SyncEngine (called after the config change commits)."""

import logging

log = logging.getLogger(__name__)


class SyncEngine:
    def first_sync_start(self) -> None:
        # The first pull imports the Salesforce tasks of the initial window (rule 2).
        from .tasks import pull

        log.info("Sync switched on for the first time; first import started")
        pull.delay()

    def resync_start(self, run_id: int) -> None:
        from .tasks import resync

        resync.delay(run_id)
