from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.contrib.auth.views import PasswordChangeView
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse

from adminconfig.services import user_tokens_revoke

# The sync configuration in the order an admin thinks, not alphabetically.
MODEL_ORDER = {
    "adminconfig": [
        "SalesforceConnection",
        "SyncSettings",
        "UserMapping",
        "ResyncRun",
    ],
    "sync": ["SyncEvent", "OutboxEntry"],
}


class OwnPasswordChangeForm(AdminPasswordChangeForm):
    """The admin's own password change (with the old password); it ends their API tokens."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit)
        user_tokens_revoke(user=user)
        return user


class CockpitAdminSite(admin.AdminSite):
    site_header = "Cockpit administration"
    site_title = "Cockpit admin"
    index_title = "Tasks and Salesforce sync"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        for app in apps:
            order = MODEL_ORDER.get(app["app_label"])
            if order:
                app["models"].sort(
                    key=lambda m: order.index(m["object_name"]) if m["object_name"] in order else 99
                )
        return apps

    def password_change(self, request: HttpRequest, extra_context: Any = None) -> HttpResponseBase:
        # AdminSite.password_change names its form class in code; this is that view with ours.
        request.current_app = self.name
        return PasswordChangeView.as_view(
            form_class=OwnPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )(request)
