"""Issue 17, item 8: the external id field and the default Status/Priority are the org's.

The external id field goes into SOQL and the upsert's URL: only a Task field that the org's
describe marks as an external id is accepted (the emulator's describe marks
Cockpit_Task_Id__c); the defaults only values of the org's Status and Priority picklists.
"""

import pytest

from adminconfig import services
from adminconfig.models import SalesforceConnection
from tests.security.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def tested_connection(sfemu_clean):
    connection = services.connection_create(
        name="Emulator",
        login_url=sfemu_clean.login_url,
        client_id=sfemu_clean.client_id,
        client_secret=sfemu_clean.client_secret,
        ca_bundle=sfemu_clean.ca_path,
    )
    assert services.connection_test(connection=connection).ok
    return connection


def patch(user, connection, **changes):
    return client_for(user).patch(
        f"/api/v1/sync/connections/{connection.pk}/", changes, format="json"
    )


@pytest.mark.parametrize(
    "value",
    [
        "Id FROM User WHERE Name != null OR Id",
        "Cockpit_Task_Id__c; DROP",
        "Cockpit_Task_Id__c/../../sobjects/User",
        "",
    ],
)
def test_free_text_is_never_an_external_id_field(admin_user, tested_connection, value):
    response = patch(admin_user, tested_connection, external_id_field=value)

    assert response.status_code == 400
    assert "external_id_field" in response.json()
    tested_connection.refresh_from_db()
    assert tested_connection.external_id_field == "Cockpit_Task_Id__c"


def test_a_field_the_describe_does_not_mark_as_external_id_is_refused(
    admin_user, tested_connection
):
    response = patch(admin_user, tested_connection, external_id_field="Subject")
    missing = patch(admin_user, tested_connection, external_id_field="No_Such_Field__c")

    assert (response.status_code, missing.status_code) == (400, 400)
    assert "its external id fields: Cockpit_Task_Id__c" in response.json()["external_id_field"][0]


def test_free_text_is_refused_before_the_org_is_known(admin_user, db):
    response = client_for(admin_user).post(
        "/api/v1/sync/connections/",
        {
            "name": "Org",
            "login_url": "https://login.salesforce.com",
            "client_id": "cid",
            "client_secret": "s3cret",
            "external_id_field": "Id FROM User WHERE Name != null OR Id",
        },
        format="json",
    )

    assert response.status_code == 400
    assert "external_id_field" in response.json()
    assert not SalesforceConnection.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("default_status", "Shipped"), ("default_priority", "Urgent' OR '1")]
)
def test_a_default_outside_the_orgs_picklist_is_refused(
    admin_user, tested_connection, field, value
):
    response = patch(admin_user, tested_connection, **{field: value})

    assert response.status_code == 400
    assert "Not a " in response.json()[field][0]


@pytest.mark.parametrize(
    ("field", "value"), [("default_status", "Deferred"), ("default_priority", "High")]
)
def test_a_default_from_the_orgs_picklist_is_accepted(admin_user, tested_connection, field, value):
    response = patch(admin_user, tested_connection, **{field: value})

    assert response.status_code == 200, response.json()
    tested_connection.refresh_from_db()
    assert getattr(tested_connection, field) == value


def test_the_admin_form_shows_the_problem(admin_user, tested_connection, client):
    client.force_login(admin_user)
    url = f"/admin/adminconfig/salesforceconnection/{tested_connection.pk}/change/"
    page = client.get(url)
    form = page.context["adminform"].form
    data = {
        name: form.initial.get(name, "")
        for name in form.fields
        if form.initial.get(name) is not None
    }
    data.update(external_id_field="Subject", is_primary="on")
    for prefix in ("field_mappings", "status_mappings", "priority_mappings", "type_mappings"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})

    response = client.post(url, data)

    assert response.status_code == 200
    assert "no external id field Subject" in response.content.decode()
