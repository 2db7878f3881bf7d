"""Queries and time per page: the task API list, a task detail, and the cockpit page.

Runs on a throwaway SQLite database (or DATABASE_URL's) with 5 CSMs x 1,000 tasks.
"""

import os
import statistics
import tempfile
import time


def main() -> None:
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

    call_command("migrate", verbosity=0)
    data = _seed()
    client = Client()
    client.force_login(data["csm"])
    pages = {
        "GET /api/v1/tasks/ (50 a page)": "/api/v1/tasks/?page_size=50",
        "GET /api/v1/tasks/?due=today": "/api/v1/tasks/?due=today",
        "GET /api/v1/tasks/?search=renewal&ordering=-priority": (
            "/api/v1/tasks/?search=renewal&ordering=-priority"
        ),
        "GET /api/v1/tasks/{id}/": f"/api/v1/tasks/{data['task_id']}/",
        "GET / (cockpit: overdue, today, tomorrow)": "/",
    }
    print(f"data: {data['tasks']:,} tasks, {data['csms']} CSMs; database {connection.vendor}")
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        for label, url in pages.items():
            timings = []
            for _ in range(20):
                with CaptureQueriesContext(connection) as queries:
                    start = time.perf_counter()
                    response = client.get(url)
                    timings.append(time.perf_counter() - start)
                assert response.status_code == 200, (url, response.status_code)
            print(
                f"{label:55} {len(queries):3d} queries  "
                f"median {statistics.median(timings) * 1000:6.1f} ms  "
                f"p95 {sorted(timings)[int(len(timings) * 0.95) - 1] * 1000:6.1f} ms"
            )


def _seed() -> dict:
    import datetime as dt

    from django.contrib.auth import get_user_model

    from adminconfig.services import user_create
    from tasks.models import Company, Priority, Status, Task, TaskType

    user_model = get_user_model()
    if user_model.objects.filter(username="bench0").exists():
        csm = user_model.objects.get(username="bench0")
        return {
            "csm": csm,
            "task_id": Task.objects.filter(owner=csm).first().pk,
            "tasks": Task.objects.count(),
            "csms": 5,
        }
    statuses = list(Status.objects.all())
    priorities = list(Priority.objects.all())
    types = list(TaskType.objects.all())
    companies = [Company.objects.create(name=f"Company {n}") for n in range(50)]
    today = dt.date.today()
    csms = [
        user_create(username=f"bench{n}", email=f"bench{n}@example.com", password="bench-pass-123")
        for n in range(5)
    ]
    rows = []
    for csm in csms:
        for n in range(1000):
            rows.append(
                Task(
                    name=f"{'Renewal' if n % 10 == 0 else 'Check-in'} call {n}",
                    status=statuses[n % len(statuses)],
                    priority=priorities[n % len(priorities)],
                    due_date=today + dt.timedelta(days=(n % 60) - 20),
                    details="Talk about adoption and the renewal timeline.",
                    owner=csm,
                    company=companies[n % len(companies)],
                    type=types[n % len(types)],
                )
            )
    Task.objects.bulk_create(rows, batch_size=500)
    return {
        "csm": csms[0],
        "task_id": Task.objects.filter(owner=csms[0]).first().pk,
        "tasks": len(rows),
        "csms": len(csms),
    }
