"""Queries and time per page at scale: Cockpit's own pages and API lists (issue 19).

Builds, on a throwaway SQLite database (or DATABASE_URL's, which it empties first), BENCH_TASKS
tasks (default 100,000) over 50 CSMs of whom one owns a tenth, twice as many sync events, and
5,000 conflicts and 5,000 failed pushes at 100,000 (scaled with the size); then asks each page
and API list through Django's test Client as the user who would open it and prints the
queries, the median and the p95 of BENCH_ROUNDS requests (default 20), and the size.

    BENCH_TASKS=10000 python -m bench api_pages
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cockpit_perf_bench python -m bench api_pages

Seeding 100,000 tasks takes minutes. BENCH_KEEP=1 keeps the data set for the next run and
uses the one a kept run left (SQLite: in COCKPIT_VAR_DIR, which then must be given; PostgreSQL:
DATABASE_URL's database is not emptied). Migrations run first either way, so a kept data set
gains the indexes of newer code.
"""

import datetime as dt
import os
import statistics
import tempfile
import time
from typing import Any

CSMS = 50
SEED_PASSWORD = "bench-pass-123"


def main() -> None:
    tasks = int(os.environ.get("BENCH_TASKS", "100000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "20"))
    keep = os.environ.get("BENCH_KEEP") == "1"
    if keep and "COCKPIT_VAR_DIR" not in os.environ and "DATABASE_URL" not in os.environ:
        raise SystemExit("BENCH_KEEP=1 on SQLite needs COCKPIT_VAR_DIR: the folder to keep it in.")
    var_dir = tempfile.mkdtemp(prefix="cockpit-bench-")
    os.environ.setdefault("COCKPIT_VAR_DIR", var_dir)
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cockpit.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from cockpit.gc_tuning import gc_tune

    if connection.vendor == "postgresql" and not keep:
        # Emptied to the schema, not flushed: a flush also deletes the rows the migrations
        # made (statuses, priorities), which migrating again would not make a second time.
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    data = _kept(tasks) if keep else None
    if data is None:
        data = _seed(tasks)
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as after seeding, and indexes a migration made
    print(
        f"data: {tasks:,} tasks over {CSMS} CSMs ({data['big']:,} for one), "
        f"{data['events']:,} sync events, {data['conflicts']:,} conflicts, "
        f"{data['failed']:,} failed pushes; database {connection.vendor}; "
        f"seeded in {time.perf_counter() - started:.0f} s"
    )
    # The requests run in the process that seeded the data, tuned as a web process is
    # (cockpit/gc_tuning.py): what seeding left alive is no server's, and the collector's full
    # collections walking it added 150-250 ms to one request in ten.
    gc_tune()
    csm, staff = Client(), Client()
    csm.force_login(data["csm"])
    staff.force_login(data["staff"])
    deep = data["deep_page"]
    pages: list[tuple[str, Client, str]] = [
        ("GET /sync/ (sync admin)", staff, "/sync/"),
        ("GET /sync/progress/ (polled)", staff, "/sync/progress/"),
        ("GET / (CSM default tab)", csm, "/"),
        ("GET /?view=open (CSM all open)", csm, "/?view=open"),
        ("GET /tasks/{id}/ (task page)", csm, f"/tasks/{data['task_id']}/"),
        ("API tasks/?page_size=200 (staff)", staff, "/api/v1/tasks/?page_size=200"),
        (
            f"API tasks/?page_size=200&page={deep} (staff)",
            staff,
            f"/api/v1/tasks/?page_size=200&page={deep}",
        ),
        ("API tasks/?search=renewal (staff)", staff, "/api/v1/tasks/?search=renewal"),
        ("API tasks/?due=today (CSM)", csm, "/api/v1/tasks/?due=today"),
        ("API tasks/{id}/ (CSM)", csm, f"/api/v1/tasks/{data['task_id']}/"),
        ("API sync/status/ (sync admin)", staff, "/api/v1/sync/status/"),
    ]
    pages += _cursor_pages(staff, deep)
    print(f"{'page':52} {'queries':>7} {'median':>9} {'p95':>9} {'size':>8}")
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for label, client, url in pages:
            timings = []
            for _ in range(rounds):
                with CaptureQueriesContext(connection) as queries:
                    start = time.perf_counter()
                    response = client.get(url)
                    timings.append(time.perf_counter() - start)
                assert response.status_code == 200, (url, response.status_code)
            timings.sort()
            p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
            print(
                f"{label:52} {len(queries):7d} {statistics.median(timings) * 1000:6.1f} ms "
                f"{p95 * 1000:6.1f} ms {len(response.content) / 1024:5.0f} KB"
            )


def _cursor_pages(staff: Any, deep: int) -> list[tuple[str, Any, str]]:
    """The staff list's deep page by cursor, when the API offers cursors: the cursor the API
    hands out after walking to the page the offset list reaches (found by the last id)."""
    from django.test.utils import override_settings

    with override_settings(ALLOWED_HOSTS=["testserver"]):
        first_url = "/api/v1/tasks/?page_size=200&paging=cursor"
        first = staff.get(first_url)
        if first.status_code != 200 or "cursor=" not in (first.json().get("next") or ""):
            return []
        url = first.json()["next"]
        for _ in range(min(deep, 20) - 1):  # a few hops: the cursor's cost does not grow
            url = staff.get(url).json()["next"]
    path = url.split("testserver", 1)[-1]
    return [
        ("API tasks/?paging=cursor (staff, first)", staff, first_url),
        ("API tasks/?paging=cursor (staff, 20th page)", staff, path),
    ]


def _seed(size: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from adminconfig import services as config
    from adminconfig.permissions import SYNC_ADMIN_GROUP
    from sync.models import Conflict, OutboxEntry, PullState, SyncEvent
    from tasks.models import Company, Priority, Status, Task, TaskSyncRecord, TaskType

    user_model = get_user_model()
    scale = size / 100_000
    now = timezone.now()
    today = dt.date.today()
    big = size // 10
    if user_model.objects.filter(username="bench-staff").exists():
        raise SystemExit("The database holds a bench data set already: use an empty one.")
    staff = user_model.objects.create_user(
        "bench-staff", "staff@example.com", SEED_PASSWORD, is_staff=True
    )
    staff.groups.add(Group.objects.get_or_create(name=SYNC_ADMIN_GROUP)[0])
    csms = user_model.objects.bulk_create(
        [
            user_model(username=f"bench{n}", email=f"bench{n}@example.com", password="!")
            for n in range(CSMS)
        ]
    )
    csms = list(user_model.objects.filter(username__startswith="bench").exclude(pk=staff.pk))
    csms.sort(key=lambda u: u.pk)
    config.connection_create(
        name="Bench org",
        login_url="https://acme.my.salesforce.com",
        client_id="cid",
        client_secret="s3cret",
        is_primary=True,
    )
    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    PullState.objects.update_or_create(pk=1, defaults={"last_pull_at": now, "watermark": now})
    statuses = list(Status.objects.all())
    priorities = list(Priority.objects.all())
    types = list(TaskType.objects.all())
    companies = Company.objects.bulk_create(
        [Company(name=f"Company {n}") for n in range(max(50, size // 200))]
    )
    rest = (size - big) // (CSMS - 1)
    owners = [csms[0]] * big + [
        csms[1 + n // rest] for n in range(size - big) if n // rest < CSMS - 1
    ]
    owners += [csms[-1]] * (size - len(owners))
    batch: list[Task] = []
    for n, owner in enumerate(owners):
        batch.append(
            Task(
                name=f"{'Renewal' if n % 50 == 0 else 'Check-in'} call {n}",
                status=statuses[n % len(statuses)],
                priority=priorities[n % len(priorities)],
                # From a year back to a year ahead: a CSM with 10,000 tasks has thousands overdue.
                due_date=today + dt.timedelta(days=(n * 7919) % 730 - 365),
                details="Talk about adoption and the timeline." if n % 3 else "",
                owner=owner,
                company=companies[n % len(companies)],
                type=types[n % len(types)] if types else None,
            )
        )
        if len(batch) == 5000:
            Task.objects.bulk_create(batch)
            batch = []
    Task.objects.bulk_create(batch)
    ids = list(Task.objects.order_by("id").values_list("id", flat=True))
    records = [
        TaskSyncRecord(
            task_id=task_id,
            salesforce_id=f"00T{task_id:012d}AAA",
            state=TaskSyncRecord.State.SYNCED,
            last_synced_at=now,
        )
        for task_id in ids[::2]
    ]
    TaskSyncRecord.objects.bulk_create(records, batch_size=5000)
    kinds = [SyncEvent.Kind.PUSHED, SyncEvent.Kind.PULLED, SyncEvent.Kind.SKIPPED]
    events = 0
    for start in range(0, 2 * size, 5000):
        rows = []
        for n in range(start, min(2 * size, start + 5000)):
            task_id = ids[n % len(ids)]
            kind = kinds[n % 3]
            message = f"'Call {task_id}' pushed to Salesforce: Subject"
            if kind == SyncEvent.Kind.PULLED:
                message = (
                    f"'Call {task_id}' created from Salesforce"
                    if n % 30 == 1
                    else f"'Call {task_id}' updated from Salesforce: Subject"
                )
            elif kind == SyncEvent.Kind.SKIPPED:
                message = "Salesforce Status 'Deferred' has no Cockpit value mapped: it keeps."
            rows.append(SyncEvent(kind=kind, task_id=task_id, salesforce_id="", message=message))
        SyncEvent.objects.bulk_create(rows)
        events += len(rows)
    _spread_over_days(SyncEvent, days=90, now=now)
    extra = int(5000 * scale)
    Conflict.objects.bulk_create(
        [
            Conflict(
                task_id=ids[n],
                salesforce_id=f"00T{ids[n]:012d}AAA",
                salesforce_field="Subject",
                cockpit_value="ours",
                salesforce_value="theirs",
                winner="salesforce",
                policy="salesforce",
            )
            for n in range(extra)
        ],
        batch_size=5000,
    )
    codes = ("REQUIRED_FIELD_MISSING", "INVALID_CROSS_REFERENCE_KEY")
    OutboxEntry.objects.bulk_create(
        [
            OutboxEntry(
                task_id=ids[n + 1],
                operation=OutboxEntry.Operation.UPSERT,
                state=OutboxEntry.State.FAILED,
                attempts=10,
                next_attempt_at=now,
                last_error=f"{codes[n % 2]}: {'owner not found' if n % 2 else 'Subject'}",
                error_kind=codes[n % 2],
                error_code=codes[n % 2],
            )
            for n in range(extra)
        ],
        batch_size=5000,
    )
    _spread_over_days(Conflict, days=90, now=now)
    _imported_count_store()
    if connection.vendor == "postgresql":
        # What autovacuum does to a live database (PostgreSQL 13 on vacuums insert-only tables
        # too): without statistics the planner takes the 200,000-row log for a few rows and
        # sorts it on disk; without the visibility map no count is read from an index alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {
        "csm": csms[0],
        "staff": staff,
        "big": big,
        "task_id": Task.objects.filter(owner=csms[0])
        .order_by("id")
        .values_list("id", flat=True)[0],
        "events": events,
        "conflicts": extra,
        "failed": extra,
        # The offset list's page 400 at 100,000 (200 a page: the 80,000th task on), scaled.
        "deep_page": max(2, int(400 * scale)),
    }


def _kept(size: int) -> dict[str, Any] | None:
    """The figures of a data set a kept run seeded (None without one)."""
    from django.contrib.auth import get_user_model

    from sync.models import Conflict, OutboxEntry, SyncEvent
    from tasks.models import Task

    user_model = get_user_model()
    staff = user_model.objects.filter(username="bench-staff").first()
    if staff is None:
        return None
    if Task.objects.count() != size:
        raise SystemExit(f"The kept data set does not hold {size:,} tasks: use BENCH_TASKS.")
    csm = user_model.objects.get(username="bench0")
    ids = Task.objects.filter(owner=csm).order_by("id").values_list("id", flat=True)
    return {
        "csm": csm,
        "staff": staff,
        "big": ids.count(),
        "task_id": ids[0],
        "events": SyncEvent.objects.count(),
        "conflicts": Conflict.objects.count(),
        "failed": OutboxEntry.objects.filter(state=OutboxEntry.State.FAILED).count(),
        "deep_page": max(2, int(400 * size / 100_000)),
    }


def _spread_over_days(model: Any, *, days: int, now: dt.datetime) -> None:
    """Rows made by bulk_create all carry its moment (auto_now_add): spread them over the last
    `days` days, newest last, as a log that grew over time does."""
    ids = model.objects.order_by("id").values_list("id", flat=True)
    first, last = ids.first(), ids.last()
    if first is None:
        return
    step = max(1, (last - first + 1) // days)
    for day in range(days):
        low = first + day * step
        model.objects.filter(id__gte=low, id__lt=low + step).update(
            created_at=now - dt.timedelta(days=days - day, minutes=day)
        )


def _imported_count_store() -> None:
    """What the sync counts as it imports (PullState.imported), for events made without it."""
    from sync.models import PullState, SyncEvent

    if any(f.name == "imported" for f in PullState._meta.get_fields()):
        PullState.objects.filter(pk=1).update(
            imported=SyncEvent.objects.filter(message__endswith="created from Salesforce").count()
        )
