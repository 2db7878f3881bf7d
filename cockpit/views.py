import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sync.outbound import SyncOffError, task_push_now
from sync.selectors import outbound_connection
from tasks.hooks import locked_fields
from tasks.models import Task, TaskSyncRecord
from tasks.selectors import (
    custom_fields_active,
    tasks_completed,
    tasks_due,
    tasks_filter,
    tasks_open,
    tasks_owned_by,
    user_today,
)
from tasks.services import task_complete, task_create, task_delete, task_reopen, task_update

from .forms import VIEW_CHOICES, TaskFilterForm, TaskForm
from .models import WorkerHeartbeat


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the web app and its database answer, 503 when the database does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beat = WorkerHeartbeat.objects.filter(name="worker").values_list("last_seen", flat=True)
        last = beat.first()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse(
        {"status": "ok", "database": "ok", "worker_heartbeat": last.isoformat() if last else None}
    )


# The cockpit pages. Each view parses, calls one selector or service, and renders. A task is
# always looked up among the signed-in user's own tasks, so another CSM's task is a 404 on
# every page and action, never a 403 that would confirm it exists.

PAGE_SIZE = 25
# The focus view (overdue, today, tomorrow) is not paginated; a section this long links to
# the paginated "All open" view instead of rendering hundreds of rows.
SECTION_LIMIT = 50


def _own_task(request: HttpRequest, pk: int) -> Task:
    return get_object_or_404(tasks_owned_by(request.user), pk=pk)


def _next_url(request: HttpRequest) -> str:
    """Back to where the action was started (the same tab, filters and page), if it is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("task-list")


def _section(title: str, qs: QuerySet[Task]) -> dict[str, Any]:
    rows = list(qs[: SECTION_LIMIT + 1])
    return {"title": title, "tasks": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT}


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    """The cockpit opens on what is due today and tomorrow, with overdue work above it."""
    today = user_today(request.user)
    filters = TaskFilterForm(request.GET)
    chosen = filters.values()
    mine = tasks_filter(
        tasks_owned_by(request.user),
        status=chosen["status"],
        priority=chosen["priority"],
        text=chosen["text"],
    )
    context: dict[str, Any] = {
        "today": today,
        "tomorrow": today + dt.timedelta(days=1),
        "time_zone": timezone.get_current_timezone_name(),
        "filters": filters,
        "view": chosen["view"],
        "views": VIEW_CHOICES,
        "filtered": bool(chosen["text"] or chosen["status"] or chosen["priority"]),
    }
    if chosen["view"] == "today":
        # Open work first within a day: what is done today sinks to the bottom.
        day_order = ("status__is_closed", "-priority__order", "id")
        overdue = _section("Overdue", tasks_open(tasks_due(mine, due="overdue", today=today)))
        context["sections"] = [
            *([overdue] if overdue["tasks"] else []),
            _section("Today", tasks_due(mine, due="today", today=today).order_by(*day_order)),
            _section("Tomorrow", tasks_due(mine, due="tomorrow", today=today).order_by(*day_order)),
        ]
    else:
        if chosen["view"] == "completed":
            qs = tasks_completed(mine)
        elif chosen["view"] == "upcoming":
            qs = tasks_open(tasks_due(mine, due="upcoming", today=today))
        else:
            qs = tasks_open(mine)
        context["page"] = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "cockpit/task_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def task_new(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST or None, custom_fields=custom_fields_active())
    if request.method == "POST" and form.is_valid():
        try:
            task = task_create(owner=request.user, **form.changes())
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Created “{task.name}”.")
            return redirect("task-list")
    return render(
        request, "cockpit/task_form.html", {"form": form, "task": None, "back": _next_url(request)}
    )


@login_required
@require_http_methods(["GET", "POST"])
def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    task = _own_task(request, pk)
    form = TaskForm(
        request.POST or None,
        custom_fields=custom_fields_active(),
        task=task,
        locked=locked_fields(task),
    )
    if request.method == "POST" and form.is_valid():
        try:
            task = task_update(task=task, **form.changes())
        except ValidationError as exc:
            form.add_service_error(exc)
            # The service changed the instance before refusing it; show what is stored.
            task = _own_task(request, pk)
        else:
            messages.success(request, f"Saved “{task.name}”.")
            return redirect(_next_url(request))
    return render(
        request,
        "cockpit/task_form.html",
        {
            "form": form,
            "task": task,
            "back": _next_url(request),
            "sync_on": outbound_connection() is not None,
        },
    )


@login_required
@require_POST
def task_complete_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = task_complete(task=_own_task(request, pk))
    messages.success(request, f"Completed “{task.name}”.")
    return redirect(_next_url(request))


@login_required
@require_POST
def task_reopen_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = task_reopen(task=_own_task(request, pk))
    messages.success(request, f"Reopened “{task.name}”.")
    return redirect(_next_url(request))


@login_required
@require_http_methods(["GET", "POST"])
def task_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (no JavaScript needed); only the POST deletes."""
    task = _own_task(request, pk)
    if request.method == "POST":
        name = task.name
        task_delete(task=task)
        messages.success(request, f"Deleted “{name}”.")
        target = _next_url(request)
        # Going back to the deleted task's own page would be a 404.
        if target.startswith(reverse("task-edit", args=[pk])):
            target = reverse("task-list")
        return redirect(target)
    return render(
        request,
        "cockpit/task_confirm_delete.html",
        {"task": task, "next": _next_url(request)},
    )


@login_required
@require_POST
def task_sync_view(request: HttpRequest, pk: int) -> HttpResponse:
    """'Sync to Salesforce': pushes now, also a task older than the sync, or one that failed."""
    task = _own_task(request, pk)
    try:
        task_push_now(task=task)
    except SyncOffError as exc:
        messages.error(request, str(exc))
        return redirect(_next_url(request))
    record = TaskSyncRecord.objects.filter(task=task).first()
    if record and record.state == TaskSyncRecord.State.SYNCED:
        messages.success(request, f"“{task.name}” is synced to Salesforce.")
    else:
        reason = record.last_error if record else ""
        messages.warning(
            request, f"“{task.name}” is not synced yet: {reason or 'it will be retried'}."
        )
    return redirect(_next_url(request))
