from typing import Any

from django.contrib import admin
from django.http import HttpRequest

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
