"""Reads of what admins configure."""

from django.contrib.auth import get_user_model
from django.db.models import Q

from cockpit.page_rows import page_row

from .models import SyncSettings
from .permissions import SYNC_ADMIN_GROUP


def sync_settings() -> SyncSettings:
    """The one row of sync switches, or its defaults (unsaved) before anyone changed them.

    The one reader of the row: services that must lock or change it make it first
    (services.sync_settings_get)."""
    # With the other one-row reads of a page, once a GET request (cockpit/page_rows.py).
    return page_row("sync_settings") or SyncSettings()


def sync_admin_emails() -> list[str]:
    """The addresses of everyone who runs the sync (superusers and the Sync admin group, as
    permissions.is_sync_admin), active and with an address, each once."""
    users = (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name=SYNC_ADMIN_GROUP), is_active=True)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))
