"""The engine side of adminconfig.hooks.SyncEngine: called inside the config change's
transaction, it queues the work for when that commits."""

import logging
from typing import TYPE_CHECKING

from .enqueue import PULL, RESYNC, job_send_on_commit

if TYPE_CHECKING:
    from adminconfig.hooks import ResyncPreview
    from adminconfig.models import SalesforceConnection

log = logging.getLogger(__name__)


class SyncEngine:
    def first_sync_start(self) -> None:
        # The first pull imports the Salesforce tasks of the initial window (rule 2).
        log.info("Sync switched on for the first time; first import started")
        job_send_on_commit(PULL)

    def resync_start(self, run_id: int) -> None:
        job_send_on_commit(RESYNC, run_id)

    def resync_preview(self, connection: "SalesforceConnection") -> "ResyncPreview":
        from .preview import resync_preview

        return resync_preview(connection=connection)
