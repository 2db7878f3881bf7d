"""Issue 10 in real Chromium: the task page, bulk actions and row refresh without reloads,
the API docs with no internet, and an axe-core accessibility check of every CSM page."""

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone

from adminconfig import services as config
from adminconfig.models import SyncSettings, UserMapping
from sync.context import applying_inbound
from tasks.models import CustomField, Task, TaskSyncRecord
from tasks.selectors import user_today
from tasks.services import task_update
from tests.e2e.test_cockpit_pages import log_in, row
from tests.factories import CompanyFactory, CustomFieldFactory, TaskFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SALESFORCE_ID = "00T000000000042AAA"
WIDTHS = {"desktop": 1400, "phone": 390}
AXE = Axe()


def axe_check(page, name: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    results = AXE.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"axe on {name}:\n" + "\n".join(bad)


def screenshots(page, artifacts: Path, name: str) -> None:
    """The page at desktop and phone width, each checked by axe, then back to desktop."""
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        axe_check(page, f"{name} at {width} px")
        page.screenshot(path=str(artifacts / f"issue10-{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def mark_page(page) -> None:
    """A value that lives as long as the document: it is gone after any navigation."""
    page.evaluate("window.__noReload = 'still here'")


def not_reloaded(page) -> bool:
    return page.evaluate("window.__noReload") == "still here"


@pytest.fixture
def world(db):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Ng")
    UserFactory(username="bob")
    today = user_today(alice)
    UserMapping.objects.create(user=alice, salesforce_user_id="005000000000001AAA")
    config.connection_create(
        name="Production org",
        login_url="https://acme.my.salesforce.com",
        client_id="cid",
        client_secret="s3cret",
        is_primary=True,
    )
    # Sync on since "tomorrow": nothing made here is pushed on its own (there is no org).
    SyncSettings.objects.update_or_create(
        pk=1,
        defaults={"auto_sync": True, "first_enabled_at": timezone.now() + dt.timedelta(days=1)},
    )
    seats = CustomFieldFactory(key="seats", label="Seats", field_type=CustomField.FieldType.NUMBER)
    acme = CompanyFactory(name="Acme Corp")
    renewal = TaskFactory(
        owner=alice,
        name="Call Acme about renewal",
        company=acme,
        due_date=today,
        details="Bring the new pricing.",
    )
    Task.objects.filter(pk=renewal.pk).update(custom_fields={seats.key: 40})
    TaskSyncRecord.objects.create(
        task=renewal,
        salesforce_id=SALESFORCE_ID,
        state=TaskSyncRecord.State.PENDING,
        last_error="Will retry: Salesforce unreachable: HTTPSConnectionPool(host='acme.my."
        "salesforce.com', port=443): Max retries exceeded (Caused by NewConnectionError)",
    )
    TaskFactory(owner=alice, name="Prepare QBR deck", due_date=today)
    TaskFactory(owner=alice, name="Send onboarding email", due_date=today)
    TaskFactory(owner=alice, name="Chase unpaid invoice", due_date=today - dt.timedelta(days=2))
    return {"alice": alice, "renewal": renewal, "today": today}


def test_a_csm_opens_a_task_and_works_the_list_in_place(page, live_server, artifacts, world):
    log_in(page, live_server, "alice")
    renewal = world["renewal"]

    # The tabs count their tasks.
    assert "Today & tomorrow 4" in page.get_by_role("navigation", name="Task views").inner_text()
    screenshots(page, artifacts, "list")

    # A CSM opens a task from the list: fields, the Salesforce link, the state in words.
    page.get_by_role("link", name="Call Acme about renewal", exact=True).click()
    page.get_by_role("heading", name="Call Acme about renewal", level=1).wait_for()
    main = page.locator("main").inner_text()
    assert "Acme Corp" in main
    assert "Seats" in main and "40" in main
    assert "Salesforce could not be reached; Cockpit will retry." in main
    assert "HTTPSConnectionPool" not in page.content()
    link = page.get_by_role("link", name="Open in Salesforce")
    expected = f"https://acme.my.salesforce.com/lightning/r/Task/{SALESFORCE_ID}/view"
    assert link.get_attribute("href") == expected
    screenshots(page, artifacts, "task-page")

    # Stop syncing it, then sync it again.
    page.get_by_role("button", name="Stop syncing this task").click()
    assert "Stopped syncing" in page.locator("#messages").inner_text()
    assert TaskSyncRecord.objects.get(task=renewal).desynced_at is not None
    page.get_by_role("button", name="Sync again").click()
    assert "syncs with Salesforce again" in page.locator("#messages").inner_text()
    assert TaskSyncRecord.objects.get(task=renewal).desynced_at is None

    # Edit opens the form.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_role("heading", name="Edit task").wait_for()
    screenshots(page, artifacts, "task-form")
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("heading", name="Call Acme about renewal", level=1).wait_for()
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("heading", name="Delete this task?").wait_for()
    screenshots(page, artifacts, "delete-confirm")
    page.get_by_role("link", name="No, keep it").click()

    # Bulk-complete two tasks: the list updates in place, the page is never reloaded.
    page.get_by_role("link", name="My tasks").click()
    page.get_by_role("heading", name="My tasks").wait_for()
    page.wait_for_function("window.htmx !== undefined")
    mark_page(page)
    url = page.url
    page.get_by_label("Select Prepare QBR deck").check()
    page.get_by_label("Select Send onboarding email").check()
    page.get_by_role("form", name="Selected tasks").get_by_role("button", name="Complete").click()
    page.locator("#messages", has_text="Completed 2 tasks.").wait_for()
    assert row(page, "Prepare QBR deck").get_by_role("button", name="Reopen").is_visible()
    assert row(page, "Send onboarding email").get_by_role("button", name="Reopen").is_visible()
    assert not_reloaded(page)
    assert page.url == url
    assert Task.objects.filter(status__is_closed=True).count() == 2

    # A Salesforce edit, applied as the pull applies it, shows up without a reload; a box
    # ticked in the same table stays ticked when its rows are refreshed.
    page.get_by_label("Select Call Acme about renewal").check()
    with applying_inbound():
        task_update(task=Task.objects.get(name="Prepare QBR deck"), name="Prepare QBR deck v2")
    page.get_by_role("link", name="Prepare QBR deck v2", exact=True).wait_for(timeout=25_000)
    assert not_reloaded(page)
    assert page.get_by_label("Select Call Acme about renewal").is_checked()


def test_every_action_on_the_list_works_without_javascript(chromium, live_server, world):
    context = chromium.new_context(
        java_script_enabled=False, viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    try:
        log_in(page, live_server, "alice")
        page.get_by_label("Select Prepare QBR deck").check()
        page.get_by_label("Select Send onboarding email").check()
        page.get_by_role("form", name="Selected tasks").get_by_role(
            "button", name="Delete…"
        ).click()
        page.get_by_role("heading", name="Delete these tasks?").wait_for()
        page.get_by_role("button", name="Yes, delete 2 tasks").click()
        assert "Deleted 2 tasks." in page.locator("#messages").inner_text()
        row(page, "Chase unpaid invoice").get_by_role("button", name="Complete").click()
        assert "Completed “Chase unpaid invoice”." in page.locator("#messages").inner_text()
    finally:
        context.close()
    assert set(Task.objects.values_list("name", flat=True)) == {
        "Call Acme about renewal",
        "Chase unpaid invoice",
    }


def test_the_api_docs_render_with_the_network_cut_off(page, live_server, artifacts, world):
    outside: list[str] = []

    def only_this_machine(route):
        host = urlsplit(route.request.url).hostname
        if host in ("localhost", "127.0.0.1", "::1"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_machine)
    page.goto(f"{live_server.url}/api/docs/")
    assert "/accounts/login/" in page.url  # a login page, not a JSON 401
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()

    page.locator(".swagger-ui .info .title", has_text="Cockpit API").wait_for()
    page.locator(".opblock-summary-path", has_text="/api/v1/tasks/{id}/desync/").wait_for()
    page.screenshot(path=str(artifacts / "issue10-api-docs-desktop.png"), full_page=False)

    page.goto(f"{live_server.url}/api/redoc/")
    page.locator("h1", has_text="Cockpit API").wait_for()
    page.wait_for_load_state("networkidle")
    # Not even ReDoc's "API docs by Redocly" badge, an image from Redocly's CDN: the page's
    # Content-Security-Policy keeps the browser from asking for it.
    assert outside == []
    page.screenshot(path=str(artifacts / "issue10-api-redoc-desktop.png"), full_page=False)


def test_the_login_page_passes_the_accessibility_check(page, live_server, artifacts, world):
    page.goto(f"{live_server.url}/accounts/login/")
    screenshots(page, artifacts, "login")
