"""The save preview through the config API (issue 18): `?dry_run=true` on a mapping write
answers what saving it would re-sync, in the admin's own numbers, and saves nothing. (That the
numbers are what the re-sync then writes is tests/sync/test_save_preview.py.)"""

import re

import pytest

from adminconfig.models import FieldMapping, PicklistMapping, ResyncRun
from tests.adminconfig.test_admin import CONNECTION_FIELDS, change_url, current_formsets
from tests.factories import AdminFactory, SyncRecordFactory, api_as

pytestmark = pytest.mark.django_db

PICKLISTS = "/api/v1/sync/picklist-mappings/"
FIELDS = "/api/v1/sync/field-mappings/"


@pytest.fixture
def boss(db):
    return AdminFactory(username="boss")


def admin_preview(client, connection, **changes) -> str:
    """The sentence the admin's save preview shows for the same change."""
    response = client.post(change_url(connection), {**CONNECTION_FIELDS, **changes})
    assert response.status_code == 200
    found = re.search(r"<strong>(Re-syncs [^<]*)</strong>", response.content.decode())
    assert found, "the admin asked nothing"
    return found.group(1)


def test_a_dry_run_answers_the_admins_preview_and_saves_nothing(client, boss, connection):
    SyncRecordFactory.create_batch(3, linked=True)
    open_row = PicklistMapping.objects.get(
        connection=connection, picklist="status", cockpit_value="Open"
    )
    client.force_login(boss)
    in_admin = admin_preview(
        client,
        connection,
        **current_formsets(
            connection, status_rows={0: {"salesforce_values": "Waiting on someone else"}}
        ),
    )

    response = api_as(boss).patch(
        f"{PICKLISTS}{open_row.pk}/?dry_run=true",
        {"salesforce_values": ["Waiting on someone else"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["dry_run"] is True and body["saved"] is False
    # Records with no agreement yet: everything Cockpit holds goes out.
    assert body["resync"]["sentence"] == in_admin
    assert (body["resync"]["total"], body["resync"]["written"]) == (3, 3)
    assert body["resync"]["by_field"]["Status"] == 3
    assert "Status changes in Salesforce for 3" in in_admin
    open_row.refresh_from_db()
    assert open_row.salesforce_values == ["Not Started"]
    assert not ResyncRun.objects.exists()

    # The same write without dry_run saves and re-syncs.
    saved = api_as(boss).patch(
        f"{PICKLISTS}{open_row.pk}/",
        {"salesforce_values": ["Waiting on someone else"]},
        format="json",
    )
    assert saved.status_code == 200
    assert saved.json()["salesforce_values"] == ["Waiting on someone else"]
    assert ResyncRun.objects.get().total == 3


def test_a_default_status_change_previews_through_the_connection(client, boss, connection):
    SyncRecordFactory.create_batch(2, linked=True)
    client.force_login(boss)
    in_admin = admin_preview(
        client, connection, **current_formsets(connection), default_status="Deferred"
    )

    response = api_as(boss).patch(
        f"/api/v1/sync/connections/{connection.pk}/?dry_run=1",
        {"default_status": "Deferred"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["resync"]["sentence"] == in_admin
    connection.refresh_from_db()
    assert connection.default_status == "Not Started"
    assert not ResyncRun.objects.exists()


def test_new_and_removed_field_mappings_preview_too(boss, connection):
    SyncRecordFactory(linked=True)
    api = api_as(boss)
    description = FieldMapping.objects.get(connection=connection, salesforce_field="Description")

    removed = api.delete(f"{FIELDS}{description.pk}/?dry_run=true")
    assert removed.status_code == 200
    assert removed.json()["resync"]["total"] == 1
    assert "Description" not in removed.json()["resync"]["by_field"]
    assert FieldMapping.objects.filter(pk=description.pk).exists()

    description.delete()
    added = api.post(
        f"{FIELDS}?dry_run=true",
        {"cockpit_field": "details", "salesforce_field": "Description", "direction": "both"},
        format="json",
    )
    assert added.status_code == 200, added.json()
    assert added.json()["resync"]["total"] == 1
    assert not FieldMapping.objects.filter(salesforce_field="Description").exists()
    assert not ResyncRun.objects.exists()


def test_a_refused_change_answers_400_in_a_dry_run_as_in_a_save(boss, connection):
    response = api_as(boss).post(
        f"{PICKLISTS}?dry_run=true",
        {"picklist": "status", "cockpit_value": "Open", "salesforce_values": ["Bogus"]},
        format="json",
    )
    assert response.status_code == 400
    assert api_as(boss).get(f"{PICKLISTS}?dry_run=maybe").status_code == 200  # reads ignore it
    bad = api_as(boss).post(f"{PICKLISTS}?dry_run=maybe", {}, format="json")
    assert bad.status_code == 400
    assert "dry_run" in bad.json()
