"""A newcomer configures the connection to the Salesforce emulator in the admin, in Chromium."""

import pytest

from adminconfig.models import SalesforceConnection, SyncSettings
from tests.factories import AdminFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_connects_to_the_emulator_and_switches_sync_on(
    page, live_server, sfemu_clean, artifacts
):
    AdminFactory(username="newcomer", password="a-long-admin-secret")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", "a-long-admin-secret")
    page.click("input[type=submit]")

    page.click("text=Salesforce connections")
    page.click("text=Add Salesforce connection")
    page.fill("#id_name", "Local emulator")
    page.fill("#id_login_url", sfemu_clean.login_url)
    page.fill("#id_client_id", sfemu_clean.client_id)
    page.fill("#id_client_secret", sfemu_clean.client_secret)
    page.fill("#id_ca_bundle", sfemu_clean.ca_path)
    page.click("input[name=_continue]")

    page.click("#test-connection")
    message = page.locator(".messagelist").inner_text()
    assert "Local emulator: Connected." in message
    assert "Cockpit_Task_Id__c found" in message
    # The field mapping rows now offer the org's Task fields with their types.
    assert page.locator("#id_field_mappings-0-salesforce_field option", has_text="Subject").count()
    page.screenshot(path=str(artifacts / "admin-connection.png"), full_page=True)

    page.click("text=Sync settings")
    page.check("#id_auto_sync")
    page.check("#id_bidirectional_sync")
    page.click("input[name=_save]")
    assert "Sync is on" in page.locator(".messagelist").inner_text()
    page.screenshot(path=str(artifacts / "admin-sync-settings.png"), full_page=True)

    connection = SalesforceConnection.objects.get()
    assert connection.state == SalesforceConnection.State.CONNECTED
    assert connection.is_primary
    assert SyncSettings.objects.get().first_enabled_at is not None
    assert (artifacts / "admin-connection.png").stat().st_size > 10_000


def test_a_wrong_secret_shows_what_failed(page, live_server, sfemu_clean):
    from adminconfig import services

    AdminFactory(username="newcomer", password="a-long-admin-secret")
    connection = services.connection_create(
        name="Typo",
        login_url=sfemu_clean.login_url,
        client_id=sfemu_clean.client_id,
        client_secret="not-the-secret",
        ca_bundle=sfemu_clean.ca_path,
    )

    page.goto(
        f"{live_server.url}/admin/login/?next=/admin/adminconfig/salesforceconnection/{connection.pk}/change/"
    )
    page.fill("#id_username", "newcomer")
    page.fill("#id_password", "a-long-admin-secret")
    page.click("input[type=submit]")
    page.click("#test-connection")

    error = page.locator(".messagelist .error").inner_text()
    assert "Connection failed: Login refused" in error
