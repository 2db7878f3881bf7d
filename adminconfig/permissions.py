from typing import Any

from rest_framework.permissions import BasePermission

from cockpit.request_memo import memoized

SYNC_ADMIN_GROUP = "Sync admin"


def is_sync_admin(user: Any) -> bool:
    """Superusers and members of the 'Sync admin' group configure the sync; nobody else."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    if hasattr(user, "in_sync_admin_group"):
        return bool(user.in_sync_admin_group)
    # Read with the signed-in user (cockpit.authentication.SessionUserBackend); else asked by
    # the view's check and again by the page's menu: once a GET request.
    return memoized(("sync_admin", user.pk), user.groups.filter(name=SYNC_ADMIN_GROUP).exists)


class IsSyncAdmin(BasePermission):
    message = "Only superusers and members of the 'Sync admin' group configure the sync."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_sync_admin(request.user)
