from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView

from adminconfig.api import SyncSettingsView
from sync.api import SyncPullView, SyncPushView, SyncStatusView, TaskPushView
from tasks.api import PicklistsView

from . import metrics_views, views
from .api import PasswordView, TokenView, router

api_v1: list[URLPattern | URLResolver] = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("auth/password/", PasswordView.as_view(), name="api-password"),
    path("picklists/", PicklistsView.as_view(), name="api-picklists"),
    path("sync/settings/", SyncSettingsView.as_view(), name="api-sync-settings"),
    path("sync/status/", SyncStatusView.as_view(), name="api-sync-status"),
    path("sync/push/", SyncPushView.as_view(), name="api-sync-push"),
    path("sync/pull/", SyncPullView.as_view(), name="api-sync-pull"),
    path("tasks/<int:pk>/sync/", TaskPushView.as_view(), name="api-task-push"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", views.ApiRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", views.task_list, name="task-list"),
    path("tasks/new/", views.task_new, name="task-new"),
    path("tasks/bulk/", views.task_bulk, name="task-bulk"),
    path("tasks/rows/", views.task_rows, name="task-rows"),
    path("tasks/news/", views.task_list_news, name="task-list-news"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("tasks/<int:pk>/edit/", views.task_edit, name="task-edit"),
    path("tasks/<int:pk>/complete/", views.task_complete_view, name="task-complete"),
    path("tasks/<int:pk>/reopen/", views.task_reopen_view, name="task-reopen"),
    path("tasks/<int:pk>/delete/", views.task_delete_view, name="task-delete"),
    path("tasks/<int:pk>/sync/", views.task_sync_view, name="task-sync"),
    path("tasks/<int:pk>/desync/", views.task_desync_view, name="task-desync"),
    path("tasks/<int:pk>/resync/", views.task_resync_view, name="task-resync"),
    path("sync/", include("cockpit.health_urls")),
]

handler400 = "cockpit.error_views.bad_request"
handler403 = "cockpit.error_views.permission_denied"
handler404 = "cockpit.error_views.page_not_found"
handler500 = "cockpit.error_views.server_error"
