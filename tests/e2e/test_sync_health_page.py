"""An admin runs the sync from the sync health page and the admin, in real Chromium (issue 10,
items 3 and 4): error groups, conflicts, a budget pause, a re-sync's progress, the checklist,
and admin pages readable at 1400 and 1024 px."""

import datetime as dt

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import Group
from django.utils import timezone

from adminconfig import services as config
from adminconfig.models import ResyncRun, SalesforceConnection
from adminconfig.permissions import SYNC_ADMIN_GROUP
from sync import usage
from sync.models import Conflict, OutboxEntry, SyncEvent
from tasks.models import TaskSyncRecord
from tests.factories import OutboxEntryFactory, TaskFactory, UserFactory, status
from tests.orgs import emulator_connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def sam(db):
    user = UserFactory(username="sam", first_name="Sam", last_name="Admin", is_staff=True)
    user.groups.add(Group.objects.get(name=SYNC_ADMIN_GROUP))
    return user


def log_in(page, live_server, username: str = "sam", path: str = "/sync/") -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def admin_log_in(page, live_server, path: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={path}")
    page.fill("#id_username", "sam")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def primary_connection(**fields) -> SalesforceConnection:
    connection = config.connection_create(
        name="Production org",
        login_url="https://127.0.0.1:9",
        client_id="cid",
        client_secret="s3cret",
        is_primary=True,
    )
    if fields:
        SalesforceConnection.objects.filter(pk=connection.pk).update(**fields)
        connection.refresh_from_db()
    return connection


def failed(task_id: int, error: str) -> OutboxEntry:
    return OutboxEntryFactory(task_id=task_id, last_error=error, failed=True)


def axe_check(page, name: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"axe on {name}:\n" + "\n".join(bad)


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_an_admin_retries_a_group_settles_a_conflict_and_lifts_a_budget_pause(
    sam, page, live_server, artifacts
):
    connection = primary_connection(state="connected")
    alice = UserFactory(username="alice")
    tasks = [TaskFactory(owner=alice, name=f"Renewal call {i}") for i in range(3)]
    for task in tasks:
        failed(task.pk, "STRING_TOO_LONG: Subject: data value too large (Subject)")
    unmapped = TaskFactory(owner=alice, name="Onboarding kickoff")
    failed(unmapped.pk, "alice has no Salesforce user: map it in User mappings, then retry.")
    clash = TaskFactory(owner=alice, name="QBR with Acme", status=status("In Progress"))
    TaskSyncRecord.objects.create(task=clash, salesforce_id="00T000000000001AAA", state="synced")
    Conflict.objects.create(
        task_id=clash.pk,
        salesforce_id="00T000000000001AAA",
        salesforce_field="Status",
        cockpit_value="In Progress",
        salesforce_value="Completed",
        winner="cockpit",
        policy="latest",
    )
    for i in range(6):
        SyncEvent.objects.create(kind="pushed", task_id=tasks[i % 3].pk, message="pushed")
    SyncEvent.objects.create(kind="error", task_id=unmapped.pk, message="no Salesforce user")
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        push_paused_until=timezone.now() + dt.timedelta(minutes=15)
    )
    usage.api_usage_record(connection, (91_001, 100_000))

    page.set_viewport_size(DESKTOP)
    log_in(page, live_server)
    page.get_by_role("heading", name="Sync health", level=1).wait_for()
    main = page.locator("main")

    # Figures people can read, the pause with its reason, the checklist, the chart.
    budget = page.locator("#budget")
    assert "91,001 of 100,000" in budget.inner_text()
    assert "Pushing is paused until" in budget.inner_text()
    assert "91,001 of 100,000 is past 90%" in budget.locator(".pause-reason").inner_text()
    assert page.get_by_role("img", name="Pushes, pulls, skips and failures per hour").is_visible()
    assert "Match users by email" in page.locator("#getting-started").inner_text()
    log = page.locator("#log")
    assert log.get_by_role("link", name="Onboarding kickoff").count() == 1
    axe_check(page, "sync health at 1400 px")
    page.screenshot(path=str(artifacts / "sync-health-1400.png"), full_page=True)

    # The too-long group: three tasks, retried at once.
    card = page.locator("article.error-card", has_text="too long for its Salesforce field")
    assert "3" in card.locator(".count").inner_text()
    for task in tasks:
        assert card.get_by_role("link", name=task.name).count() == 1
    card.get_by_role("button", name="Retry all 3").click()
    assert "3 failed pushes queued again" in page.locator(".messages").inner_text()
    assert OutboxEntry.objects.filter(state="failed").count() == 1
    assert page.locator("article.error-card", has_text="too long").count() == 0

    # The owner without a Salesforce user: skipped, with the skip logged.
    page.locator("article.error-card", has_text="no Salesforce user").get_by_role(
        "button", name="Skip"
    ).click()
    assert "1 failed push skipped" in page.locator(".messages").inner_text()
    assert "Nothing failed." in page.locator("#errors").inner_text()
    assert "skipped by sam" in page.locator("#log").inner_text()

    # The conflict: take Salesforce's value, as a Cockpit edit would.
    row = page.locator("#conflicts tr", has_text="QBR with Acme")
    assert row.get_by_role("link", name="QBR with Acme").count() == 1
    row.get_by_role("button", name="Take Salesforce's").click()
    assert "Conflict settled" in page.locator(".messages").inner_text()
    assert "No open conflicts." in page.locator("#conflicts").inner_text()
    clash.refresh_from_db()
    assert clash.status.value == "Complete"

    # Resume now lifts the pause.
    page.get_by_role("button", name="Resume now").click()
    assert "Pushing resumed" in page.locator(".messages").inner_text()
    assert "Pushing is paused" not in page.locator("#budget").inner_text()
    connection.refresh_from_db()
    assert connection.push_paused_until is None
    assert "Pushing resumed by sam" in main.inner_text()

    page.set_viewport_size(PHONE)
    page.reload()
    axe_check(page, "sync health at 390 px")
    page.screenshot(path=str(artifacts / "sync-health-390.png"), full_page=True)
    # Nothing wider than the phone's screen.
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"], scroll_width


def test_an_admin_watches_a_resync_reach_100_percent_without_reloading(
    sam, page, live_server, artifacts
):
    connection = primary_connection(state="connected")
    run = ResyncRun.objects.create(connection=connection, reason="Mappings saved", total=4)

    page.set_viewport_size(DESKTOP)
    log_in(page, live_server)
    progress = page.locator("#sync-progress")
    assert "0 of 4" in progress.inner_text()
    assert progress.get_attribute("data-running") == "true"
    page.evaluate("window.__sameDocument = true")

    ResyncRun.objects.filter(pk=run.pk).update(done=2)
    page.locator("#sync-progress .run-count", has_text="2 of 4").wait_for(timeout=10_000)
    ResyncRun.objects.filter(pk=run.pk).update(done=4, finished_at=timezone.now())
    page.locator("#sync-progress .run-percent", has_text="100%").wait_for(timeout=10_000)

    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.locator("#sync-progress progress").get_attribute("value") == "100"
    assert (
        "Tasks are now synced with the new mapping" in page.locator("#sync-progress").inner_text()
    )
    page.screenshot(path=str(artifacts / "sync-health-resync-done-1400.png"), full_page=True)


def test_a_csm_is_refused_the_sync_health_page(page, live_server):
    UserFactory(username="alice")
    log_in(page, live_server, "alice")
    page.get_by_role("heading", name="You cannot open this page").wait_for()


@pytest.mark.parametrize("width", [1400, 1024])
def test_the_connection_page_keeps_the_mapping_tables_inside_the_window(
    sam, page, live_server, artifacts, sfemu_clean, width
):
    connection = emulator_connection(sfemu_clean, name="Local emulator", is_primary=True)
    config.connection_test(connection=connection)

    page.set_viewport_size({"width": width, "height": 900})
    path = f"/admin/adminconfig/salesforceconnection/{connection.pk}/change/"
    admin_log_in(page, live_server, path)
    page.locator("#field_mappings-group").wait_for()
    # The widest the table gets: a new row refused with a message, long field names in it.
    page.get_by_role("button", name="Add another Task field mapping").click()
    page.select_option("#id_field_mappings-3-cockpit_field", label="Name (text)")
    page.select_option("#id_field_mappings-3-salesforce_field", index=5)
    page.click("input[name=_continue]")
    page.locator(".errornote").wait_for()

    page.screenshot(path=str(artifacts / f"admin-connection-{width}.png"), full_page=True)
    for group in ("field_mappings-group", "picklist_mappings-group", "picklist_mappings-2-group"):
        table = page.locator(f"#{group} table")
        if not table.count():
            continue
        delete = table.locator("th", has_text="Delete")
        assert delete.count() == 1, group
        # Not scrolled into view: a table that only fits by scrolling sideways does not fit.
        assert in_viewport(page, delete), (group, delete.bounding_box())
    # The getting-started checklist is on the connection page too.
    assert "Match users by email" in page.locator(".getting-started").inner_text()


def test_the_admin_index_shows_the_getting_started_checklist(sam, page, live_server, artifacts):
    primary_connection()
    page.set_viewport_size({"width": 1024, "height": 900})
    admin_log_in(page, live_server, "/admin/")
    checklist = page.locator(".getting-started")
    assert "Test the connection" in checklist.inner_text()
    assert "Switch on Auto Sync and Bi-directional Sync" in checklist.inner_text()
    page.screenshot(path=str(artifacts / "admin-index-1024.png"), full_page=True)


@pytest.mark.parametrize("width", [1400, 1024])
def test_the_sync_admin_pages_fit_the_window(sam, page, live_server, artifacts, width):
    connection = primary_connection()
    task = TaskFactory(name="Quarterly business review with a rather long name")
    failed(
        task.pk,
        "HTTPSConnectionPool(host='login.example.my.salesforce.com', port=443): Max retries "
        "exceeded with url: /services/data/v59.0/composite/sobjects?allOrNone=false (Caused by "
        "NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f0c3e2ee610>'))",
    )
    SyncEvent.objects.create(kind="error", task_id=task.pk, message="x" * 300)
    ResyncRun.objects.create(connection=connection, reason="Field mapping name ↔ Subject saved")
    page.set_viewport_size({"width": width, "height": 900})
    admin_log_in(page, live_server, "/admin/")
    for name, path in [
        ("index", "/admin/"),
        ("settings", "/admin/adminconfig/syncsettings/"),
        ("users", "/admin/adminconfig/usermapping/"),
        ("resyncs", "/admin/adminconfig/resyncrun/"),
        ("outbox", "/admin/sync/outboxentry/"),
        ("events", "/admin/sync/syncevent/"),
    ]:
        page.goto(f"{live_server.url}{path}")
        page.screenshot(path=str(artifacts / f"admin-{name}-{width}.png"), full_page=True)
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (name, scroll_width)
        # A list that fits only by scrolling its own box sideways does not fit either.
        hidden = page.evaluate(
            "[...document.querySelectorAll('#changelist .results')]"
            ".map(box => box.scrollWidth - box.clientWidth)"
        )
        assert all(extra <= 4 for extra in hidden), (name, hidden)  # a border's width at most
