"""URLs of the sync health page (an admin's control room), included under /sync/."""

from django.urls import path

from . import health_views

urlpatterns = [
    path("", health_views.sync_health, name="sync-health"),
    path("errors/<int:pk>/retry/", health_views.sync_retry_view, name="sync-retry"),
]
