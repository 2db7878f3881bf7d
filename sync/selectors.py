"""Reads of the sync configuration that the engine needs on hot paths."""

from adminconfig.models import SalesforceConnection, SyncSettings


def sync_settings() -> SyncSettings:
    return SyncSettings.objects.filter(pk=1).first() or SyncSettings()


def outbound_connection(settings: SyncSettings | None = None) -> SalesforceConnection | None:
    """The connection Cockpit pushes to: the primary one, when Auto Sync is on and not paused."""
    settings = settings or sync_settings()
    if not settings.auto_sync:
        return None
    return (
        SalesforceConnection.objects.filter(is_primary=True)
        .exclude(state=SalesforceConnection.State.PAUSED)
        .first()
    )
