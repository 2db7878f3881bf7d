"""Finding 3 of issue 9: inputs that answered 500 answer 400 with a message per field."""

import pytest
from django.db import IntegrityError, transaction

from adminconfig import services as config
from cockpit.exceptions import exception_handler
from tasks import services as tasks
from tasks.models import Company, CustomField, Task
from tests.factories import CompanyFactory, CustomFieldFactory, TaskFactory
from tests.security.conftest import client_for

pytestmark = pytest.mark.django_db


def test_a_users_post_with_a_json_null_body_is_a_400(superuser):
    response = client_for(superuser).post("/api/v1/users/", "null", content_type="application/json")

    assert response.status_code == 400


@pytest.mark.parametrize("body", ["[]", '"text"', "17", "{bad json"])
def test_a_body_that_is_not_an_object_is_a_400_on_every_write(superuser, body):
    client = client_for(superuser)
    for path in ("/api/v1/users/", "/api/v1/tasks/", "/api/v1/companies/"):
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 400, (path, response.content)


def test_companies_without_a_salesforce_account_can_be_many(superuser):
    client = client_for(superuser)

    first = client.post(
        "/api/v1/companies/", {"name": "A", "salesforce_account_id": ""}, format="json"
    )
    second = client.post(
        "/api/v1/companies/", {"name": "B", "salesforce_account_id": ""}, format="json"
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["salesforce_account_id"] is None
    assert list(Company.objects.values_list("salesforce_account_id", flat=True)) == [None, None]


def test_a_taken_salesforce_account_id_is_a_400_naming_the_field(superuser):
    CompanyFactory(name="A", salesforce_account_id="001000000000001AAA")

    response = client_for(superuser).post(
        "/api/v1/companies/",
        {"name": "B", "salesforce_account_id": "001000000000001AAA"},
        format="json",
    )

    assert response.status_code == 400
    assert "salesforce_account_id" in response.json()


def test_a_unique_violation_that_slips_past_validation_is_a_400_naming_the_field(csm):
    # Two concurrent creates both pass validation; the database refuses the second INSERT.
    CompanyFactory(name="Acme")
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        Company.objects.create(name="Acme")

    response = exception_handler(raised.value, {})

    assert response.status_code == 400
    assert response.data == {"name": ["Company with this name already exists."]}


def test_any_other_integrity_error_is_left_a_500(csm):
    # A broken check or foreign key is a bug in Cockpit, not the client's fault.
    settings_row = config.sync_settings_get()
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        type(settings_row).objects.update(pull_interval_seconds=1)

    assert exception_handler(raised.value, {}) is None


def test_a_service_validation_error_is_a_400_with_field_messages(superuser):
    config.connection_create(
        name="Org", login_url="https://127.0.0.1:9", client_id="cid", client_secret="s3cret"
    )

    response = client_for(superuser).patch(
        "/api/v1/sync/settings/", {"bidirectional_sync": True}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["bidirectional_sync"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sync/field-mappings/?connection=abc",
        "/api/v1/sync/picklist-mappings/?connection=abc",
        "/api/v1/sync/picklist-mappings/?picklist=colour",
        "/api/v1/sync/field-mappings/?connection=99999999999999999999999",
        "/api/v1/tasks/?owner=abc",
        "/api/v1/tasks/?company=1.5",
        "/api/v1/tasks/?owner=99999999999999999999999",
        "/api/v1/tasks/?due_before=2026-02-30",
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(superuser, path):
    response = client_for(superuser).get(path)

    assert response.status_code == 400, response.content
    name = path.split("?")[1].split("=")[0]
    assert name in response.json()


def test_filters_by_connection_still_select(superuser):
    connection = config.connection_create(
        name="Org", login_url="https://127.0.0.1:9", client_id="cid", client_secret="s3cret"
    )
    client = client_for(superuser)

    mine = client.get(f"/api/v1/sync/field-mappings/?connection={connection.pk}").json()
    none = client.get(f"/api/v1/sync/field-mappings/?connection={connection.pk + 1}").json()
    status = client.get("/api/v1/sync/picklist-mappings/?picklist=status").json()

    assert mine["count"] > 0
    assert none["count"] == 0
    assert status["count"] > 0
    assert {row["picklist"] for row in status["results"]} == {"status"}


def test_the_filters_are_documented_in_the_schema(superuser):
    schema = client_for(superuser).get("/api/schema/", {"format": "json"}).json()

    def parameters(path):
        return {p["name"] for p in schema["paths"][path]["get"]["parameters"]}

    assert {"status", "due", "sync_state", "ordering", "search"} <= parameters("/api/v1/tasks/")
    assert "connection" in parameters("/api/v1/sync/field-mappings/")
    assert {"connection", "picklist"} <= parameters("/api/v1/sync/picklist-mappings/")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sync/events/?kind=%00",
        "/api/v1/tasks/?search=a%00b",
        "/api/v1/tasks/?%00=x",
        "/?text=%00",
    ],
)
def test_a_null_byte_in_a_query_is_a_400(superuser, path):
    client = client_for(superuser)
    client.force_login(superuser)

    assert client.get(path).status_code == 400


def test_a_null_byte_in_a_json_body_is_a_400(superuser, csm):
    task = TaskFactory(owner=csm)
    client = client_for(superuser)

    for body in ('{"name": "a\\u0000b"}', '{"custom_fields": {"a\\u0000": "x"}}'):
        response = client.patch(f"/api/v1/tasks/{task.pk}/", body, content_type="application/json")
        assert response.status_code == 400, response.content
    lone_surrogate = client.patch(
        f"/api/v1/tasks/{task.pk}/", '{"details": "\\ud800"}', content_type="application/json"
    )
    assert lone_surrogate.status_code == 400


def test_a_custom_field_value_with_a_null_byte_is_a_400_through_the_api(csm, csm_api):
    # PostgreSQL's jsonb cannot store it: a DataError, so a 500, before the fix.
    CustomFieldFactory(key="notes", field_type=CustomField.FieldType.TEXT)
    task = TaskFactory(owner=csm)

    response = csm_api.patch(
        f"/api/v1/tasks/{task.pk}/",
        '{"custom_fields": {"notes": "a\\u0000b"}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    task.refresh_from_db()
    assert task.custom_fields == {}


def test_a_custom_field_value_with_a_null_byte_is_refused_by_the_service(csm):
    CustomFieldFactory(key="notes", field_type=CustomField.FieldType.TEXT)
    task = TaskFactory(owner=csm)

    with pytest.raises(Exception) as raised:
        tasks.task_update(task=task, custom_fields={"notes": "a\x00b"})

    assert "Null characters" in str(raised.value)
    task.refresh_from_db()
    assert task.custom_fields == {}


def test_a_null_byte_in_a_form_is_refused(csm, client):
    client.force_login(csm)

    response = client.post(
        "/tasks/new/", {"name": "a\x00b", "status": 1, "priority": 1}, follow=False
    )

    assert response.status_code == 200  # the form again, with the error
    assert "Null characters are not allowed" in response.content.decode()
    assert not Task.objects.exists()


# ---- issue 17, item 7: input that answered 500 ----------------------------------------------


@pytest.mark.parametrize("depth", [33, 5_000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_500(csm, depth):
    body = "[" * depth + "]" * depth

    response = client_for(csm).post("/api/v1/tasks/", body, content_type="application/json")

    assert response.status_code == 400
    assert "nested deeper than 32" in response.json()["detail"]


def test_json_nested_as_deep_as_a_body_needs_is_read(csm):
    body = {"name": "Call", "custom_fields": {}, "details": "x"}

    response = client_for(csm).post("/api/v1/tasks/", body, format="json")

    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deletion_window_days", 2_147_483_648),
        ("deletion_window_days", 16),
        ("deletion_window_days", 0),
        ("initial_import_hours", 2**40),
        ("initial_import_hours", 721),
        ("pull_interval_seconds", 86_401),
        ("pull_interval_seconds", 9),
        ("pull_interval_seconds", 10**30),
    ],
)
def test_sync_settings_out_of_bounds_are_a_400_naming_the_field(superuser, field, value):
    from adminconfig.selectors import sync_settings

    before = getattr(sync_settings(), field)

    response = client_for(superuser).patch("/api/v1/sync/settings/", {field: value}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert getattr(sync_settings(), field) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deletion_window_days", 15),
        ("initial_import_hours", 720),
        ("pull_interval_seconds", 86_400),
    ],
)
def test_sync_settings_at_their_bounds_are_accepted(superuser, field, value):
    response = client_for(superuser).patch("/api/v1/sync/settings/", {field: value}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()[field] == value


@pytest.mark.parametrize("action", ["sync-errors-retry", "sync-errors-skip"])
@pytest.mark.parametrize("up_to", ["²", "١٢", "9" * 40])
def test_a_group_action_with_a_bad_bound_is_refused_with_a_message(
    superuser, client, action, up_to
):
    from django.urls import reverse

    client.force_login(superuser)

    response = client.post(
        reverse(action), {"kind": "STRING_TOO_LONG", "up_to": up_to}, follow=True
    )

    assert response.status_code == 200
    assert "not valid: reload the page" in response.content.decode()


# ---- issue 17, item 10: the API answers JSON always ----------------------------------------


def test_a_body_over_the_upload_limit_is_a_json_400(csm, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = '{"name": "' + "x" * 2_000 + '"}'

    response = client_for(csm).post("/api/v1/tasks/", body, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "too large" in response.json()["detail"]


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug (make run)"])
def test_an_unknown_api_path_is_a_json_404(csm, settings, debug):
    # Under DEBUG Django answers an unknown path with its own HTML page (handler404 is not
    # used): an integrator trying the API on `make run` gets JSON all the same.
    settings.DEBUG = debug

    response = client_for(csm).get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug (make run)"])
def test_pages_keep_their_html_errors(client, csm, settings, debug):
    settings.DEBUG = debug
    client.force_login(csm)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("value", [10**18, -(10**18), 10**400, 1e300])
def test_a_custom_number_past_what_salesforce_holds_is_a_400(csm, value):
    CustomFieldFactory(key="seats", field_type=CustomField.FieldType.NUMBER)

    response = client_for(csm).post(
        "/api/v1/tasks/", {"name": "Call", "custom_fields": {"seats": value}}, format="json"
    )

    assert response.status_code == 400
    assert "at most 18 digits" in str(response.json())
    assert not Task.objects.exists()


def test_a_custom_number_of_18_digits_is_stored(csm):
    CustomFieldFactory(key="seats", field_type=CustomField.FieldType.NUMBER)

    response = client_for(csm).post(
        "/api/v1/tasks/", {"name": "Call", "custom_fields": {"seats": 10**18 - 1}}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert Task.objects.get().custom_fields == {"seats": 10**18 - 1}
