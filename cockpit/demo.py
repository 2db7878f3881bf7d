"""Demo data for `make run`: a few CSMs, companies and tasks spread around today."""

import datetime as dt
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from adminconfig.models import SalesforceConnection
from adminconfig.services import connection_create, user_create
from tasks.models import Company, Priority, Status, TaskType
from tasks.selectors import user_today
from tasks.services import task_create

User = get_user_model()

# Emails match the sales users the Salesforce emulator seeds with `--seed demo`.
CSMS = [
    ("alice", "alice@example.com", "Alice", "Adams", "Europe/London"),
    ("bob", "bob@example.com", "Bob", "Brown", "America/New_York"),
    ("carol", "carol@example.com", "Carol", "Chen", "Asia/Tokyo"),
]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella"]
TASKS = [
    # name, days from today, status, priority, company index, type
    ("Kick-off call with new champion", 0, "Open", "High", 0, "Call"),
    ("Send QBR deck", 0, "In Progress", "Medium", 1, "Email"),
    ("Review renewal risk", 1, "Open", "High", 2, "Meeting"),
    ("Check adoption dashboard", 1, "Open", "Low", 3, None),
    ("Follow up on support escalation", -2, "Open", "High", 0, "Follow-up"),
    ("Plan onboarding workshop", 5, "Open", "Medium", 1, "Meeting"),
    ("Collect NPS feedback", -1, "Complete", "Low", 2, "Email"),
]


@dataclass
class DemoResult:
    created: bool
    password: str


@transaction.atomic
def demo_load(*, password: str | None = None) -> DemoResult:
    """Create the demo CSMs, companies and tasks unless they exist already."""
    if User.objects.filter(username=CSMS[0][0]).exists():
        return DemoResult(created=False, password="")
    password = password or secrets.token_urlsafe(9)
    companies = [Company.objects.get_or_create(name=name)[0] for name in COMPANIES]
    for username, email, first, last, time_zone in CSMS:
        csm = user_create(
            username=username,
            email=email,
            password=password,
            first_name=first,
            last_name=last,
            time_zone=time_zone,
        )
        today = user_today(csm)
        for name, days, status, priority, company, task_type in TASKS:
            task_create(
                owner=csm,
                name=name,
                due_date=today + dt.timedelta(days=days),
                status=Status.objects.get(value=status),
                priority=Priority.objects.get(value=priority),
                company=companies[company],
                type=TaskType.objects.get(name=task_type) if task_type else None,
                details=f"Demo task for {first}.",
            )
    return DemoResult(created=True, password=password)


def demo_connection_create(
    *, login_url: str, client_id: str, client_secret: str, ca_bundle: str
) -> bool:
    """Point the demo at the local Salesforce emulator, once; the admin tests it and
    switches sync on."""
    if SalesforceConnection.objects.exists():
        return False
    connection_create(
        name="Local Salesforce emulator",
        login_url=login_url,
        client_id=client_id,
        client_secret=client_secret,
        ca_bundle=ca_bundle,
        is_primary=True,
    )
    return True
