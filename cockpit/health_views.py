"""The sync health page: an admin's view of the sync and the actions to run it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from adminconfig.permissions import is_sync_admin
from sync.models import Conflict, OutboxEntry, SyncEvent
from sync.outbox import entry_retry
from sync.selectors import sync_status
from tasks.models import Task


@login_required
@require_GET
def sync_health(request: HttpRequest) -> HttpResponse:
    """Sync health for admins: switches, the org and its API usage, what failed, what clashed."""
    if not is_sync_admin(request.user):
        raise PermissionDenied
    failed = list(
        OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED).order_by("-updated_at")[:50]
    )
    names = dict(Task.objects.filter(pk__in=[e.task_id for e in failed]).values_list("pk", "name"))
    return render(
        request,
        "cockpit/sync_health.html",
        {
            "status": sync_status(),
            "failed": [(entry, names.get(entry.task_id)) for entry in failed],
            "conflicts": Conflict.objects.all()[:20],
            "events": SyncEvent.objects.all()[:30],
        },
    )


@login_required
@require_POST
def sync_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    if not is_sync_admin(request.user):
        raise PermissionDenied
    entry = get_object_or_404(OutboxEntry, pk=pk, state=OutboxEntry.State.FAILED)
    entry_retry(entry=entry)
    messages.success(request, f"Push of task {entry.task_id} queued again.")
    return redirect("sync-health")
