"""The engine side of adminconfig.hooks.SyncEngine.

The first import and the mapping re-sync are the sync engine's work (outbound and inbound
issues); until they land these record the request in the log and do nothing else.
"""

import logging

log = logging.getLogger(__name__)


class SyncEngine:
    def first_sync_start(self) -> None:
        log.info("Sync switched on for the first time; first import requested")

    def resync_start(self, run_id: int) -> None:
        log.info("Re-sync run %s requested", run_id)
