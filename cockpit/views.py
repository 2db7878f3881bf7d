import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.views import APIView

from adminconfig.permissions import is_sync_admin
from sync.exceptions import SyncOffError
from sync.outbox import task_push_request
from sync.selectors import outbound_connection, primary_connection
from tasks.hooks import locked_fields
from tasks.models import Task
from tasks.selectors import (
    custom_fields_active,
    tasks_completed,
    tasks_due,
    tasks_filter,
    tasks_open,
    tasks_owned_by,
    user_today,
)
from tasks.services import (
    task_complete,
    task_complete_many,
    task_create,
    task_delete,
    task_delete_owned,
    task_desync,
    task_push_many,
    task_reopen,
    task_resync,
    task_update,
)

from .forms import (
    SORT_COLUMNS,
    VIEW_CHOICES,
    BulkForm,
    NewsForm,
    RowsForm,
    TaskFilterForm,
    TaskForm,
)
from .health import PARTS, health_check
from .pagination import IdsFirstPaginator
from .selectors import (
    rows_version,
    salesforce_record_url,
    sync_record_of,
    task_custom_values,
    task_deletions,
    task_differences,
    task_sync_explained,
    task_tab_counts,
    task_timeline,
    tasks_next_days,
    tasks_sorted,
    tasks_today_and_tomorrow,
    tasks_with_differences,
)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every part checked works, else 503 naming the failing parts (cockpit/health.py).
    `?check=database` (comma-separated parts) checks only those: a load balancer asks whether
    this web process and its database answer, not whether the worker does."""
    asked = tuple(filter(None, request.GET.get("check", "").split(",")))
    try:
        found = health_check(parts=asked or PARTS)
    except ValueError:
        return JsonResponse(
            {"check": [f"Parts are {', '.join(PARTS)}, comma-separated."]}, status=400
        )
    body: dict[str, Any] = {"status": "ok" if found.ok else "error", "failing": found.failing}
    body.update(found.parts)
    return JsonResponse(body, status=200 if found.ok else 503)


# The cockpit pages. Each view parses, calls one selector or service, and renders. A task is
# always looked up among the signed-in user's own tasks, so another CSM's task is a 404 on
# every page and action, never a 403 that would confirm it exists.

# The visible rows ask for their own fresh copy this often, so a change pulled from Salesforce
# shows within the pull interval (at least 10 s) without a reload.
ROW_POLL_SECONDS = 10
# Today and Tomorrow of the first tab are drawn whole up to this many rows each; a day this
# long links to the "Next 7 days" tab, which pages. Overdue work pages like the other tabs.
SECTION_LIMIT = 50


class SignedInRequest(HttpRequest):
    """A request login_required let through: its user is a signed-in account."""

    user: User


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


class CountedPaginator(IdsFirstPaginator):
    """A paginator told how many rows its list holds: the tab counts (one aggregate for every
    tab) have the number, so the page makes no COUNT(*) of its own (issue 19). A page's ids
    come first and its rows by id, as in the API: a deep page of a long tab does not build
    every row before it."""

    def __init__(self, object_list: QuerySet[Task], per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count  # Paginator.count is a cached_property


def _section(title: str, rows: list[Task]) -> dict[str, Any]:
    return {"title": title, "tasks": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT}


@dataclass
class ListView:
    """What one view of the list shows for a query string: the tab counts and either the
    sections (Today & tomorrow) or a page. The page and its live-news poll both read it."""

    chosen: dict[str, Any]
    counts: dict[str, int]
    sections: list[dict[str, Any]] | None = None
    page: Page[Task] | None = None

    @property
    def tasks(self) -> list[Task]:
        if self.sections is not None:
            return [t for section in self.sections for t in section["tasks"]]
        return list(self.page.object_list) if self.page is not None else []


def _list_view(request: HttpRequest, filters: TaskFilterForm, today: dt.date) -> ListView:
    chosen = filters.values()
    mine = tasks_filter(
        tasks_owned_by(request.user),
        status=chosen["status"],
        priority=chosen["priority"],
        text=chosen["text"],
    )
    shown = ListView(chosen, task_tab_counts(mine, today=today))
    sort = chosen["sort"]
    if chosen["view"] == "today":
        # Overdue work above the day's, as a CSM knows the tab, but one page of it at a time
        # (its own pager, the other tabs' page sizes): a backlog of thousands never pushes
        # Today and Tomorrow off the page, whichever page of it is open (issue 19).
        overdue = tasks_open(tasks_due(mine, due="overdue", today=today))
        if sort:  # a column the CSM chose sorts within each section
            overdue = tasks_sorted(overdue, sort)
        paginator = CountedPaginator(overdue, chosen["size"], count=shown.counts["overdue"])
        late = paginator.get_page(request.GET.get("page"))
        late.object_list = list(late.object_list)
        due_today, due_tomorrow = tasks_today_and_tomorrow(
            mine, today=today, sort=sort, limit=SECTION_LIMIT + 1
        )
        backlog = {"title": "Overdue", "tasks": late.object_list, "page": late}
        shown.sections = [
            *([backlog] if late.object_list else []),
            _section("Today", due_today),
            _section("Tomorrow", due_tomorrow),
        ]
    else:
        if chosen["view"] == "completed":
            qs = tasks_completed(mine)
        elif chosen["view"] == "upcoming":
            qs = tasks_open(tasks_due(mine, due="upcoming", today=today))
        elif chosen["view"] == "week":
            qs = tasks_next_days(mine, today=today)
        else:
            qs = tasks_open(mine)
        if sort:
            qs = tasks_sorted(qs, sort)
        tab = chosen["view"] if chosen["view"] in shown.counts else "open"
        paginator = CountedPaginator(qs, chosen["size"], count=shown.counts[tab])
        page = paginator.get_page(request.GET.get("page"))
        page.object_list = list(page.object_list)
        shown.page = page
    return shown


def _sort_headers(sort: str) -> list[tuple[str, str, str, str]]:
    """Each sortable column: key, label, its aria-sort, and the sort its header link asks for
    (ascending first, then descending)."""
    headers = []
    for key, label in SORT_COLUMNS.items():
        state = "ascending" if sort == key else "descending" if sort == f"-{key}" else "none"
        headers.append((key, label, state, f"-{key}" if sort == key else key))
    return headers


def _news_version(ids: list[int], counts: dict[str, int]) -> str:
    """A fingerprint of which tasks a view holds and its tab counts: the news poll answers
    204 while it is unchanged."""
    text = ",".join(map(str, sorted(ids))) + "|" + ",".join(f"{k}={counts[k]}" for k in counts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@login_required
@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    """The cockpit opens on what is due today and tomorrow, with overdue work above it."""
    today = user_today(request.user)
    filters = TaskFilterForm(request.GET)
    shown = _list_view(request, filters, today)
    chosen = shown.chosen
    rows = tasks_with_differences(shown.tasks)  # one read of the mapping for every row
    context: dict[str, Any] = {
        "today": today,
        "tomorrow": today + dt.timedelta(days=1),
        "time_zone": timezone.get_current_timezone_name(),
        "filters": filters,
        "view": chosen["view"],
        "views": [(key, label, shown.counts[key]) for key, label in VIEW_CHOICES],
        "filtered": bool(chosen["text"] or chosen["status"] or chosen["priority"]),
        "headers": _sort_headers(chosen["sort"]),
        "back": request.get_full_path(),
        "poll_seconds": ROW_POLL_SECONDS,
        "sections": shown.sections,
        "page": shown.page,
        "shown_ids": ",".join(str(t.pk) for t in rows),
        "news_version": _news_version([t.pk for t in rows], shown.counts),
        "query": request.GET.urlencode(),
    }
    return render(request, "cockpit/task_list.html", context)


@login_required
@require_GET
def task_list_news(request: HttpRequest) -> HttpResponse:
    """What changed in the open view since the page was drawn, for htmx polling: tasks that
    joined it (created or pulled from Salesforce: "2 new tasks — show"), tasks deleted (named),
    and the tab counts. 204 while nothing changed since the last answer."""
    news = NewsForm(request.GET)
    if not news.is_valid():
        return HttpResponse(status=204)
    today = user_today(request.user)
    filters = TaskFilterForm(request.GET)
    shown = _list_view(request, filters, today)
    ids_now = [t.pk for t in shown.tasks]
    version = _news_version(ids_now, shown.counts)
    if version == news.cleaned_data["v"]:
        return HttpResponse(status=204)
    on_page = news.cleaned_data["ids"]
    new = [pk for pk in ids_now if pk not in set(on_page)]
    gone = [pk for pk in on_page if pk not in set(ids_now)]
    deleted = task_deletions(
        pk for pk in gone if not tasks_owned_by(request.user).filter(pk=pk).exists()
    )
    query = request.GET.copy()
    for name in ("ids", "v"):
        query.pop(name, None)
    back = reverse("task-list") + (f"?{query.urlencode()}" if query else "")
    return render(
        request,
        "cockpit/_list_news.html",
        {
            "new": len(new),
            "deleted": deleted,
            "views": [(key, label, shown.counts[key]) for key, label in VIEW_CHOICES],
            "shown_ids": ",".join(map(str, on_page)),
            "news_version": version,
            "query": query.urlencode(),
            "back": back,
            "poll_seconds": ROW_POLL_SECONDS,
            "oob": True,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def task_new(request: SignedInRequest) -> HttpResponse:
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
            task = task_update(task=task, expected=form.seen(), **form.changes())
        except ValidationError as exc:
            form.add_service_error(exc)
            task = _own_task(request, pk)  # show what is stored now
            form.seen_reset(task)
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
        if target.startswith(reverse("task-detail", args=[pk])):
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
    """'Sync to Salesforce': queues the push, also of a task older than the sync or one that
    failed; the worker sends it (never this request) and the page shows it pending until then."""
    task = _own_task(request, pk)
    record = sync_record_of(task)
    if record is not None and record.desynced_at is not None:
        messages.error(request, f"Syncing of “{task.name}” is stopped: sync it again first.")
        return redirect(_next_url(request))
    try:
        task_push_request(task=task)
    except SyncOffError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"“{task.name}” is queued for Salesforce.")
    return redirect(_next_url(request))


@login_required
@require_GET
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The task page: its fields, its Salesforce twin and what the sync did with it. Sync
    admins also open other CSMs' tasks from the sync health page, read-only (every action
    stays with the owner)."""
    if is_sync_admin(request.user):
        # Anyone's task in one read: whether it is theirs is its owner, not a second query.
        related = ("owner", "status", "priority", "company", "type", "sync_record")
        task = get_object_or_404(Task.objects.select_related(*related), pk=pk)
        read_only = task.owner_id != request.user.pk
    else:
        task, read_only = _own_task(request, pk), False
    record = sync_record_of(task)
    primary = outbound_connection()
    connection = primary or primary_connection()
    differences = task_differences([task]).get(task.pk, [])
    return render(
        request,
        "cockpit/task_detail.html",
        {
            "task": task,
            "record": record,
            "custom": task_custom_values(task),
            "salesforce_url": salesforce_record_url(
                connection, record.salesforce_id if record and record.salesforce_id else ""
            ),
            "explained": task_sync_explained(task, differences),
            "differences": differences,
            "differences_by_field": {d.field: d for d in differences},
            "timeline": task_timeline(task, read_only=read_only),
            "sync_on": primary is not None,
            "desynced": bool(record and record.desynced_at),
            "back": _next_url(request),
            "today": user_today(request.user),
            "read_only": read_only,
        },
    )


@login_required
@require_POST
def task_desync_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = _own_task(request, pk)
    try:
        task_desync(task=task)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Stopped syncing “{task.name}”. Both sides keep their data; sync it again any time.",
        )
    return redirect("task-detail", pk=pk)


@login_required
@require_POST
def task_resync_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = _own_task(request, pk)
    try:
        task_resync(task=task)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"“{task.name}” syncs with Salesforce again.")
    return redirect("task-detail", pk=pk)


def _plural(count: int, word: str = "task") -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@login_required
@require_POST
def task_bulk(request: SignedInRequest) -> HttpResponse:
    """Complete, delete or sync the selected rows of the list (the signed-in CSM's own only).
    A plain form post: it works without JavaScript; htmx sends the same post in place."""
    form = BulkForm(request.POST)
    back = _next_url(request)
    if not form.is_valid():
        messages.error(request, "Select one or more tasks, then an action.")
        return redirect(back)
    ids, action = form.cleaned_data["task"], form.cleaned_data["action"]
    if action == "complete":
        done = task_complete_many(owner=request.user, task_ids=ids)
        _bulk_said(
            request,
            ("Completed", "not completed"),
            len(done),
            len(ids),
            "complete already, deleted",
        )
    elif action == "sync":
        queued, left = task_push_many(owner=request.user, task_ids=ids)
        if queued:
            messages.success(request, f"Queued {_plural(queued)} for Salesforce.")
        if left:
            messages.warning(
                request,
                f"{_plural(left)} not sent: sync is switched off or stopped for "
                f"{'it' if left == 1 else 'them'}.",
            )
    elif not form.cleaned_data["confirmed"]:
        # Deleting asks first; without JavaScript on a page of its own.
        tasks = tasks_owned_by(request.user).filter(pk__in=ids)
        return render(request, "cockpit/task_bulk_delete.html", {"tasks": tasks, "next": back})
    else:
        deleted = task_delete_owned(owner=request.user, task_ids=ids)
        _bulk_said(request, ("Deleted", "not deleted"), deleted, len(ids), "deleted")
    return redirect(back)


def _bulk_said(
    request: HttpRequest, words: tuple[str, str], done: int, chosen: int, why: str
) -> None:
    """What a bulk action did, and, when it did not do all that was asked, why in words: the
    rest were `why` meanwhile (another tab, Salesforce), or are no longer the CSM's."""
    if done:
        messages.success(request, f"{words[0]} {_plural(done)}.")
    if done < chosen:
        messages.warning(
            request, f"{_plural(chosen - done)} {words[1]}: {why} meanwhile, or no longer yours."
        )


@login_required
@require_GET
def task_rows(request: HttpRequest) -> HttpResponse:
    """A fresh copy of the rows the list shows, for htmx polling. Answers 204 (htmx then
    leaves the page alone) when none of them changed since the version the page has."""
    form = RowsForm(request.GET)
    if not form.is_valid():
        return HttpResponse(status=204)
    ids = form.cleaned_data["ids"]
    tasks = list(tasks_owned_by(request.user).filter(pk__in=ids))
    version = rows_version(tasks)
    if version == form.cleaned_data["v"] and len(tasks) == len(ids):
        return HttpResponse(status=204)
    order = {pk: n for n, pk in enumerate(ids)}
    tasks.sort(key=lambda task: order[task.pk])
    tasks_with_differences(tasks)
    return render(
        request,
        "cockpit/_task_rows.html",
        {
            "tasks": tasks,
            "today": user_today(request.user),
            "back": _next_url(request),
            "checked": set(form.cleaned_data["task"]),
            "version": version,
            "poll_seconds": ROW_POLL_SECONDS,
        },
    )


class LoginFirstMixin(APIView):
    """The API docs are pages for people: a visitor who is not signed in is sent to the login
    page (and back), not answered with the API's JSON 401."""

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, NotAuthenticated | AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


class ApiDocsView(LoginFirstMixin, SpectacularSwaggerView):
    """Swagger UI, from our own static files (drf-spectacular-sidecar): no CDN needed."""


class ApiRedocView(LoginFirstMixin, SpectacularRedocView):
    """ReDoc, from our own static files (drf-spectacular-sidecar), without web fonts."""

    template_name = "cockpit/redoc.html"
