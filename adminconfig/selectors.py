"""Reads of what admins configure."""

from cockpit.request_memo import memoized

from .models import SyncSettings


def sync_settings() -> SyncSettings:
    """The one row of sync switches, or its defaults (unsaved) before anyone changed them.

    The one reader of the row: services that must lock or change it make it first
    (services.sync_settings_get)."""
    return memoized(
        "sync_settings", lambda: SyncSettings.objects.filter(pk=1).first() or SyncSettings()
    )
