"""Issue 18's save preview in real Chromium: a mapping save that re-syncs first says what it
will write and saves once confirmed; the page fits 1400 and 390 px with no serious axe finding.
(That the counts equal the re-sync's writes is tests/sync/test_save_preview.py.)"""

import pytest

from adminconfig import services as config
from adminconfig.models import PicklistMapping, ResyncRun
from tests.e2e.test_live_truth import copy_screens, fits
from tests.e2e.test_sync_health_page import admin_log_in, sam  # noqa: F401
from tests.factories import SyncRecordFactory
from tests.orgs import emulator_connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_mapping_save_shows_its_preview_and_saves_once_confirmed(
    sam,  # noqa: F811
    page,
    live_server,
    artifacts,
    sfemu_clean,
):
    connection = emulator_connection(sfemu_clean, name="Local emulator", is_primary=True)
    assert config.connection_test(connection=connection).ok
    SyncRecordFactory.create_batch(2, linked=True)
    path = f"/admin/adminconfig/salesforceconnection/{connection.pk}/change/"

    admin_log_in(page, live_server, path)
    page.fill("#id_status_mappings-0-salesforce_values", "Waiting on someone else")
    page.click("input[name=_continue]")

    page.get_by_text("Re-syncs 2 synced tasks;").wait_for()
    assert "Status changes in Salesforce for 2" in page.locator("#resync-preview").inner_text()
    assert not ResyncRun.objects.exists()
    fits(page, "save-preview", artifacts)

    # "No, go back": the form again, with the edit as the admin typed it, and nothing saved.
    page.get_by_role("button", name="No, go back (nothing is saved)").click()
    page.get_by_text("Nothing was saved. Your changes are still in the form").wait_for()
    assert page.input_value("#id_status_mappings-0-salesforce_values") == "Waiting on someone else"
    assert page.input_value("#id_default_status") == "Not Started"
    assert not ResyncRun.objects.exists()
    assert PicklistMapping.objects.get(
        connection=connection, picklist="status", cockpit_value="Open"
    ).salesforce_values != ["Waiting on someone else"]
    # The connection form itself is Django's admin form (its inline tables have axe findings
    # of their own, outside this page's scope): it fits both widths.
    for width in (1400, 390):
        page.set_viewport_size({"width": width, "height": 900})
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"the form after going back scrolls sideways at {width} px"
        page.screenshot(path=str(artifacts / f"issue18-save-preview-back-{width}.png"))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.select_option("#id_default_status", "Deferred")
    page.click("input[name=_continue]")
    page.get_by_text("Re-syncs 2 synced tasks;").wait_for()

    page.get_by_role("button", name="Yes, save and re-sync").click()
    page.locator(".messagelist").wait_for()
    assert "Re-syncing 2 synced tasks" in page.locator(".messagelist").inner_text()
    row = PicklistMapping.objects.get(
        connection=connection, picklist="status", cockpit_value="Open"
    )
    assert row.salesforce_values == ["Waiting on someone else"]
    connection.refresh_from_db()
    assert connection.default_status == "Deferred"
    copy_screens(artifacts)
