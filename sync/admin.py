"""Where admins see what the sync did and retry what failed."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from adminconfig.permissions import is_sync_admin

from . import outbox
from .models import OutboxEntry, SyncEvent


class ReadOnlyForSyncAdmins(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_sync_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_sync_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnlyForSyncAdmins):
    list_display = [
        "id",
        "task_id",
        "operation",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["state", "operation"]
    search_fields = ["task_id", "salesforce_id", "last_error"]
    actions = ["retry"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not is_sync_admin(request.user):
            actions.pop("retry", None)
        return actions

    @admin.action(description="Retry the selected failed pushes")
    def retry(self, request: HttpRequest, queryset: Any) -> None:
        failed = list(queryset.filter(state=OutboxEntry.State.FAILED))
        for entry in failed:
            outbox.entry_retry(entry=entry)
        self.message_user(request, f"{len(failed)} failed push(es) queued again.")


@admin.register(SyncEvent)
class SyncEventAdmin(ReadOnlyForSyncAdmins):
    list_display = ["created_at", "kind", "task_id", "salesforce_id", "message"]
    list_filter = ["kind"]
    search_fields = ["message", "salesforce_id", "task_id"]
    date_hierarchy = "created_at"
