"""`manage.py sync_reconcile`: compare every linked task with its Salesforce twin now."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sync.reconcile import reconcile_run


class Command(BaseCommand):
    help = "Drift repair: compare every linked task with its Salesforce twin and repair drift."

    def handle(self, *args: Any, **options: Any) -> None:
        run = reconcile_run(trigger="hand")
        if run.error:
            raise CommandError(f"Reconcile stopped: {run.error}")
        self.stdout.write(
            f"{run.checked:,} linked tasks compared; repaired {run.repaired_in_cockpit:,} in "
            f"Cockpit, {run.repaired_in_salesforce:,} queued for Salesforce; "
            f"{run.twins_missing:,} twins missing (their tasks deleted); "
            f"{run.conflicts:,} conflicts; {run.api_calls:,} API calls."
        )
