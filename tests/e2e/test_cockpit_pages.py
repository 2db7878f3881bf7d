"""A CSM works through their day in the cockpit, in real Chromium."""

import datetime as dt

import pytest

from tasks.models import Task, TaskSyncRecord
from tasks.selectors import user_today
from tests.factories import CompanyFactory, TaskFactory, UserFactory, status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def section(page, title: str):
    """The list section under the heading `title` (Overdue, Today, Tomorrow)."""
    return page.locator("section", has=page.get_by_role("heading", name=title, level=2))


def row(page, name: str):
    return page.locator("table.tasks tr", has=page.get_by_role("link", name=name, exact=True))


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    # Every page needs a login; the cockpit sends the visitor there and back.
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="My tasks").wait_for()


def test_a_csm_works_through_their_day_in_the_cockpit(page, live_server, artifacts):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Ng")
    today = user_today(alice)
    tomorrow = today + dt.timedelta(days=1)
    acme = CompanyFactory(name="Acme Corp")
    CompanyFactory(name="Globex")
    TaskFactory(owner=alice, name="Call Acme about renewal", company=acme, due_date=today)
    TaskFactory(owner=alice, name="Prepare QBR deck", due_date=today)
    TaskFactory(owner=alice, name="Send onboarding email", due_date=today)
    late = TaskFactory(owner=alice, name="Chase unpaid invoice", due_date=today - dt.timedelta(3))
    TaskSyncRecord.objects.create(
        task=late, state=TaskSyncRecord.State.ERROR, last_error="INVALID_SESSION_ID: expired"
    )
    TaskFactory(owner=alice, name="Sent welcome pack", status=status("Complete"), due_date=today)
    bob = UserFactory(username="bob")
    TaskFactory(owner=bob, name="Bob's private task", due_date=today)

    log_in(page, live_server, "alice")

    # The cockpit opens on today's work, overdue work above it, and nobody else's.
    assert today.strftime("%-d %B %Y") in page.locator("main").inner_text()
    today_rows = section(page, "Today").inner_text()
    assert "Call Acme about renewal" in today_rows
    assert "Acme Corp" in today_rows
    assert "Prepare QBR deck" in today_rows
    overdue = section(page, "Overdue")
    assert "Chase unpaid invoice" in overdue.inner_text()
    # The failure in a CSM's words, not Salesforce's error code.
    assert "Cockpit could not sign in to Salesforce" in overdue.inner_text()
    assert "Bob's private task" not in page.content()

    # A new task due tomorrow.
    page.get_by_role("link", name="New task").click()
    page.get_by_label("Name").fill("Follow up with Globex")
    page.get_by_label("Due date").fill(tomorrow.isoformat())
    page.get_by_label("Priority").select_option(label="High")
    page.get_by_label("Company").select_option(label="Globex")
    page.get_by_label("Details").fill("Send the pricing sheet.")
    page.get_by_role("button", name="Create task").click()
    assert "Created “Follow up with Globex”." in page.locator(".messages").inner_text()
    tomorrow_rows = section(page, "Tomorrow").inner_text()
    assert "Follow up with Globex" in tomorrow_rows
    assert "High" in tomorrow_rows

    # Complete one: it stays in Today, struck through, with Reopen offered.
    # In place (htmx): wait for the list to come back rather than for a page load.
    row(page, "Call Acme about renewal").get_by_role("button", name="Complete").click()
    page.locator(".messages", has_text="Completed “Call Acme about renewal”.").wait_for()
    done = row(page, "Call Acme about renewal")
    assert done.get_by_role("button", name="Reopen").is_visible()
    assert "Complete" in done.locator("td[data-label=Status]").inner_text()

    # Edit one.
    row(page, "Prepare QBR deck").get_by_role("link", name="Edit").click()
    page.get_by_role("heading", name="Edit task").wait_for()
    assert "Not synced" in page.locator("#sync").inner_text()
    page.screenshot(path=str(artifacts / "cockpit-edit.png"), full_page=True)
    page.get_by_label("Name").fill("")
    page.get_by_role("button", name="Save changes").click()
    assert "Nothing was saved." in page.locator("main").inner_text()
    assert "This field is required." in page.locator("main").inner_text()
    page.get_by_label("Name").fill("Prepare QBR deck for Acme")
    page.get_by_label("Status").select_option(label="In Progress")
    page.get_by_role("button", name="Save changes").click()
    assert "Saved “Prepare QBR deck for Acme”." in page.locator(".messages").inner_text()
    assert "In Progress" in row(page, "Prepare QBR deck for Acme").inner_text()

    # Delete one, through the confirmation page.
    row(page, "Send onboarding email").get_by_role("link", name="Delete").click()
    assert page.get_by_role("heading", name="Delete this task?").is_visible()
    assert "Send onboarding email" in page.locator("main").inner_text()
    page.get_by_role("button", name="Yes, delete it").click()
    assert "Deleted “Send onboarding email”." in page.locator(".messages").inner_text()
    assert row(page, "Send onboarding email").count() == 0

    page.screenshot(path=str(artifacts / "cockpit-list.png"), full_page=True)

    # The other views.
    page.get_by_role("link", name="Completed").click()
    completed = page.locator("main").inner_text()
    assert "Call Acme about renewal" in completed
    assert "Sent welcome pack" in completed
    assert "Prepare QBR deck for Acme" not in completed
    page.get_by_role("link", name="All open").click()
    page.get_by_label("Search").fill("globex")
    page.get_by_role("button", name="Apply").click()
    found = page.locator("main table").inner_text()
    assert "Follow up with Globex" in found
    assert "Chase unpaid invoice" not in found

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="My tasks").click()
    page.screenshot(path=str(artifacts / "cockpit-list-mobile.png"), full_page=True)

    created = Task.objects.get(name="Follow up with Globex")
    assert created.owner == alice
    assert created.due_date == tomorrow
    assert created.priority.value == "High"
    assert Task.objects.get(name="Call Acme about renewal").completed_at is not None
    assert not Task.objects.filter(name="Send onboarding email").exists()
    assert (artifacts / "cockpit-list.png").stat().st_size > 10_000


def test_a_csm_pages_through_a_long_overdue_backlog_with_today_in_view(page, live_server):
    alice = UserFactory(username="alice")
    today = user_today(alice)
    for n in range(30):
        TaskFactory(owner=alice, name=f"Late {n:02d}", due_date=today - dt.timedelta(days=60 - n))
    TaskFactory(owner=alice, name="Call Acme about renewal", due_date=today)

    log_in(page, live_server, "alice")

    overdue = section(page, "Overdue")
    assert overdue.get_by_role("link", name="Late 00", exact=True).is_visible()
    assert overdue.get_by_role("link", name="Late 25", exact=True).count() == 0
    assert "Page 1 of 2 · 30 overdue" in overdue.inner_text()
    assert "Call Acme about renewal" in section(page, "Today").inner_text()
    assert page.locator("#count-today").inner_text() == "31"

    overdue.get_by_role("link", name="Next →").click()
    page.wait_for_url("**page=2")
    overdue = section(page, "Overdue")
    assert "Page 2 of 2 · 30 overdue" in overdue.inner_text()
    assert overdue.get_by_role("link", name="Late 29", exact=True).is_visible()
    assert overdue.get_by_role("link", name="Late 00", exact=True).count() == 0
    # The day's work stays on every page of the backlog.
    assert "Call Acme about renewal" in section(page, "Today").inner_text()

    # Completing one in place keeps the CSM on the page they were on.
    row(page, "Late 29").get_by_role("button", name="Complete").click()
    page.locator(".messages", has_text="Completed “Late 29”.").wait_for()
    assert "Page 2 of 2 · 29 overdue" in section(page, "Overdue").inner_text()
    assert page.locator("#count-today").inner_text() == "30"
