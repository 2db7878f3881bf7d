"""The sync health page: an admin's control room for the sync, and the actions to run it.

Every view is for sync admins only (403 for everyone else signed in); every action is a POST
with Django's CSRF check, answered with a redirect back to the page and a message."""

import csv
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from adminconfig.models import SalesforceConnection
from adminconfig.permissions import is_sync_admin
from sync import health, reconcile, resolve
from sync.exceptions import SyncOffError
from sync.models import Conflict, OutboxEntry
from sync.outbox import entry_retry
from sync.selectors import sync_status

from .forms import FailedFilterForm, LogFilterForm
from .health_chart import chart_build, day_chart_build

View = Callable[..., HttpResponse]


def sync_admin_only(view: View) -> View:
    """403 for everyone signed in but sync admins (under login_required and the method
    check, so a wrong method is a 405 for everyone, as on the other pages)."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_sync_admin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return checked


def _back(anchor: str = "") -> HttpResponse:
    return redirect(reverse("sync-health") + (f"#{anchor}" if anchor else ""))


def _refused(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _progress_context() -> dict[str, Any]:
    runs = health.runs_in_progress()
    return {"runs": runs, "running": any(run.running for run in runs)}


@login_required
@require_GET
@sync_admin_only
def sync_health(request: HttpRequest) -> HttpResponse:
    """Sync health: getting started, what failed (by kind), what clashed, the day's activity,
    the API budget, the running re-sync or import, and the log."""
    steps = health.getting_started()
    by_hour, by_day = health.activity()
    return render(
        request,
        "cockpit/sync_health.html",
        {
            "status": sync_status(),
            "steps": steps,
            "steps_done": health.getting_started_done(steps),
            "groups": health.error_groups(),
            "conflicts": health.conflicts_open(),
            "conflicts_count": health.conflicts_open_count(),
            "events": health.log_events(),
            "chart": chart_build(by_hour),
            "day_chart": day_chart_build(by_day),
            "budget": health.api_budget(),
            "stream": health.stream_panel(),
            "safety_pull_minutes": settings.SYNC_STREAM_SAFETY_PULL_SECONDS // 60,
            "reconciles": health.reconcile_runs(),
            **_progress_context(),
        },
    )


@login_required
@require_GET
@sync_admin_only
def sync_progress(request: HttpRequest) -> HttpResponse:
    """The progress panel alone, which the page polls while a run is going."""
    return render(request, "cockpit/_sync_progress.html", _progress_context())


@login_required
@require_POST
@sync_admin_only
def sync_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(OutboxEntry, pk=pk, state=OutboxEntry.State.FAILED)
    entry_retry(entry=entry)
    messages.success(request, f"Push of task {entry.task_id} queued again.")
    back = request.POST.get("next", "")
    if back.startswith(reverse("sync-failed")) and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}
    ):
        return redirect(back)
    return _back("errors")


def _group_args(request: HttpRequest) -> tuple[str, int | None]:
    up_to = request.POST.get("up_to", "")
    if not up_to:
        return request.POST.get("kind", ""), None
    # str.isdigit() accepts '²' and other digits int() refuses (that was a 500), and an id
    # past a bigint is no id.
    if not (up_to.isascii() and up_to.isdigit() and int(up_to) < 2**63):
        raise ValidationError("The list of failures to act on is not valid: reload the page.")
    return request.POST.get("kind", ""), int(up_to)


@login_required
@require_POST
@sync_admin_only
def sync_error_group_retry(request: HttpRequest) -> HttpResponse:
    try:
        kind, up_to = _group_args(request)
        count = resolve.error_group_retry(kind=kind, up_to=up_to)
    except ValidationError as exc:
        _refused(request, exc)
        return _back("errors")
    title = health.error_kind_title(kind)[0]
    messages.success(
        request, f"{count:,} failed push{'es' if count != 1 else ''} queued again: {title}."
    )
    return _back("errors")


@login_required
@require_POST
@sync_admin_only
def sync_error_group_skip(request: HttpRequest) -> HttpResponse:
    try:
        kind, up_to = _group_args(request)
        count = resolve.error_group_skip(kind=kind, up_to=up_to, by=request.user)
    except ValidationError as exc:
        _refused(request, exc)
        return _back("errors")
    title = health.error_kind_title(kind)[0]
    messages.success(
        request,
        f"{count:,} failed push{'es' if count != 1 else ''} skipped: {title}. The tasks keep "
        "their values; their next edit is pushed as usual.",
    )
    return _back("errors")


@login_required
@require_POST
@sync_admin_only
def sync_conflict_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    conflict = get_object_or_404(Conflict, pk=pk)
    try:
        resolve.conflict_resolve(
            conflict=conflict, keep=request.POST.get("keep", ""), by=request.user
        )
    except ValidationError as exc:
        _refused(request, exc)
        return _back("conflicts")
    side = "Cockpit's" if conflict.resolution == "cockpit" else "Salesforce's"
    messages.success(
        request,
        f"Conflict settled: task {conflict.task_id} keeps {side} {conflict.salesforce_field}.",
    )
    return _back("conflicts")


@login_required
@require_POST
@sync_admin_only
def sync_push_resume(request: HttpRequest) -> HttpResponse:
    connection = SalesforceConnection.objects.filter(is_primary=True).first()
    if connection is None or not resolve.push_pause_lift(connection=connection, by=request.user):
        messages.info(request, "Pushing was not paused.")
    else:
        messages.success(
            request,
            "Pushing resumed. If the org is still past 90% of its daily limit, or Cockpit's "
            "budget is still spent, the next push pauses it again.",
        )
    return _back("budget")


@login_required
@require_POST
@sync_admin_only
def sync_reconcile_start(request: HttpRequest) -> HttpResponse:
    """Start a drift repair now (it runs in the worker; its report shows on the page)."""
    try:
        reconcile.reconcile_start(trigger="hand")
    except SyncOffError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            "Reconcile started: every linked task is compared with its Salesforce twin. "
            "Its report appears below when it is done.",
        )
    return _back("live")


QUEUE_PAGE_SIZE = 50


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a reason starting with = + - @ is not a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@login_required
@require_GET
@sync_admin_only
def sync_failed(request: HttpRequest) -> HttpResponse:
    """Every failed record, a work queue: filter by kind, owner, day and text, page through,
    retry one, or export what the filters show as CSV."""
    form = FailedFilterForm(request.GET or None, kinds=health.failed_kinds())
    chosen = form.values()
    records = health.failed_records(
        kind=chosen["kind"] or "",
        owner=chosen["owner"],
        since=chosen["since"],
        until=chosen["until"],
        text=chosen["q"] or "",
    )
    if request.GET.get("export") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="cockpit-failed-pushes.csv"'
        writer = csv.writer(response)
        writer.writerow(
            ["task_id", "task", "owner", "kind", "reason", "failed_at", "attempts", "salesforce_id"]
        )
        for record in records:
            writer.writerow(
                _csv_cell(value)
                for value in (
                    record.entry.task_id,
                    record.task_name,
                    record.owner.get_username() if record.owner else "",
                    record.kind_title,
                    record.reason,
                    record.entry.updated_at.isoformat(),
                    record.entry.attempts,
                    record.entry.salesforce_id,
                )
            )
        return response
    page = Paginator(records, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "cockpit/sync_failed.html",
        {"form": form, "page": page, "query": request.GET.urlencode()},
    )


@login_required
@require_GET
@sync_admin_only
def sync_log(request: HttpRequest) -> HttpResponse:
    """The whole sync log on a page of its own: filter by kind, day and text, page through."""
    form = LogFilterForm(request.GET or None)
    chosen = form.values()
    events = health.log_filtered(
        kind=chosen["kind"] or "",
        since=chosen["since"],
        until=chosen["until"],
        text=chosen["q"] or "",
    )
    page = Paginator(events, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    links = health.task_links(e.task_id for e in page.object_list)
    rows = [health.EventRow(e, links.get(e.task_id) if e.task_id else None) for e in page]
    return render(
        request,
        "cockpit/sync_log.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "retention_days": settings.SYNC_LOG_RETENTION_DAYS,
        },
    )
