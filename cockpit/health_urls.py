"""URLs of the sync health page (an admin's control room), included under /sync/."""

from django.urls import path

from . import health_views

urlpatterns = [
    path("", health_views.sync_health, name="sync-health"),
    path("failed/", health_views.sync_failed, name="sync-failed"),
    path("log/", health_views.sync_log, name="sync-log"),
    path("progress/", health_views.sync_progress, name="sync-progress"),
    path("errors/<int:pk>/retry/", health_views.sync_retry_view, name="sync-retry"),
    path("errors/retry/", health_views.sync_error_group_retry, name="sync-errors-retry"),
    path("errors/skip/", health_views.sync_error_group_skip, name="sync-errors-skip"),
    path(
        "conflicts/<int:pk>/resolve/",
        health_views.sync_conflict_resolve,
        name="sync-conflict-resolve",
    ),
    path("resume/", health_views.sync_push_resume, name="sync-resume"),
    path("reconcile/", health_views.sync_reconcile_start, name="sync-reconcile"),
]
