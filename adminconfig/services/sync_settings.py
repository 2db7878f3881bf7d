"""The one row of sync switches."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import hooks
from ..models import SyncSettings

EDITABLE = (
    "initial_import_hours",
    "deletion_window_days",
    "pull_interval_seconds",
    "conflict_policy",
)


def sync_settings_get() -> SyncSettings:
    """The row, made on first use: for writes that lock or change it (reads use
    selectors.sync_settings, which writes nothing)."""
    settings, _ = SyncSettings.objects.get_or_create(pk=1)
    return settings


def sync_settings_check(
    *, auto_sync: bool, bidirectional_sync: bool, auto_sync_was: bool = False
) -> None:
    """Refuse Bi-directional Sync without Auto Sync, saying what to do in the direction the
    admin was going: refused rather than switching Bi-directional Sync off quietly."""
    if bidirectional_sync and not auto_sync:
        what = (
            "switch Bi-directional Sync off too, or keep Auto Sync on"
            if auto_sync_was
            else "switch both on"
        )
        message = f"Bi-directional Sync needs Auto Sync: {what}."
        raise ValidationError({"bidirectional_sync": message})


@transaction.atomic
def sync_settings_update(**changes: Any) -> SyncSettings:
    """Change the switches; switching sync on for the first time starts the first import."""
    settings = SyncSettings.objects.select_for_update().get(pk=sync_settings_get().pk)
    auto_sync_was = settings.auto_sync
    for key in EDITABLE:
        if key in changes:
            setattr(settings, key, changes[key])
    if "auto_sync" in changes:
        settings.auto_sync = changes["auto_sync"]
    if "bidirectional_sync" in changes:
        settings.bidirectional_sync = changes["bidirectional_sync"]
    sync_settings_check(
        auto_sync=settings.auto_sync,
        bidirectional_sync=settings.bidirectional_sync,
        auto_sync_was=auto_sync_was,
    )
    settings.full_clean()
    first_time = settings.auto_sync and settings.first_enabled_at is None
    if first_time:
        # Marketo's rule: only tasks created after this moment are pushed.
        settings.first_enabled_at = timezone.now()
    settings.save()
    if first_time:
        hooks.engine().first_sync_start()
    return settings
