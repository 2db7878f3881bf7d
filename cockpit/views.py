from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tasks.selectors import tasks_due, tasks_visible_to, user_today

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


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    """The cockpit opens on what is due today and tomorrow, with overdue work above it."""
    today = user_today(request.user)
    mine = tasks_visible_to(request.user).filter(owner=request.user)
    sections = [
        ("Overdue", tasks_due(mine, due="overdue", today=today)),
        ("Today", tasks_due(mine, due="today", today=today)),
        ("Tomorrow", tasks_due(mine, due="tomorrow", today=today)),
    ]
    return render(request, "cockpit/task_list.html", {"sections": sections, "today": today})
