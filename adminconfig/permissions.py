from typing import Any

from rest_framework.permissions import BasePermission

SYNC_ADMIN_GROUP = "Sync admin"


def is_sync_admin(user: Any) -> bool:
    """Superusers and members of the 'Sync admin' group configure the sync; nobody else."""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or user.groups.filter(name=SYNC_ADMIN_GROUP).exists()


class IsSyncAdmin(BasePermission):
    message = "Only superusers and members of the 'Sync admin' group configure the sync."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_sync_admin(request.user)
