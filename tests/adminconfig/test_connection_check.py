"""The 'Test connection' and 'Match users by email' actions against the real emulator."""

import datetime as dt
import logging

import pytest

from adminconfig import services
from adminconfig.models import SalesforceConnection, SalesforceUser, UserMapping
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def emulator_connection(sfemu_clean):
    return services.connection_create(
        name="Emulator",
        login_url=sfemu_clean.login_url,
        client_id=sfemu_clean.client_id,
        client_secret=sfemu_clean.client_secret,
        ca_bundle=sfemu_clean.ca_path,
    )


def test_testing_a_good_connection_reads_limits_and_the_task_describe(
    emulator_connection, sfemu_clean
):
    report = services.connection_test(connection=emulator_connection)

    emulator_connection.refresh_from_db()
    assert report.ok, report.message
    assert report.message.startswith("Connected.")
    assert "external id field Cockpit_Task_Id__c found" in report.message
    assert emulator_connection.state == SalesforceConnection.State.CONNECTED
    fields = {f["name"]: f for f in emulator_connection.task_describe["fields"]}
    assert fields["Subject"]["type"] in ("string", "combobox")
    assert fields["OwnerId"]["type"] == "reference"
    assert "Not Started" in [v["value"] for v in fields["Status"]["picklistValues"]]
    # The org's own address, for links to its records (the emulator answers with its own).
    assert emulator_connection.instance_url == sfemu_clean.base_url


def test_the_emulators_describe_drives_the_mapping_rules(emulator_connection):
    from django.core.exceptions import ValidationError

    services.connection_test(connection=emulator_connection)

    with pytest.raises(ValidationError) as exc:
        services.field_mapping_save(
            connection=emulator_connection, cockpit_field="details", salesforce_field="WhatId"
        )
    assert "Lookups cannot be mapped" in exc.value.message_dict["salesforce_field"][0]


def test_a_wrong_secret_says_unauthorized_and_never_logs_the_secret(emulator_connection, caplog):
    caplog.set_level(logging.DEBUG)
    services.connection_update(connection=emulator_connection, client_secret="wrong-secret-xyz")

    report = services.connection_test(connection=emulator_connection)

    assert not report.ok
    assert report.state == SalesforceConnection.State.UNAUTHORIZED
    assert "invalid_grant" in report.message or "invalid_client" in report.message
    emulator_connection.refresh_from_db()
    assert emulator_connection.last_error == report.message
    assert "wrong-secret-xyz" not in caplog.text


def test_an_untrusted_certificate_is_an_error_with_the_reason(emulator_connection):
    services.connection_update(connection=emulator_connection, ca_bundle="")

    report = services.connection_test(connection=emulator_connection)

    assert not report.ok
    assert report.state == SalesforceConnection.State.ERROR
    assert "TLS verification failed" in report.message


def test_an_unreachable_org_is_an_error_with_the_reason(emulator_connection):
    services.connection_update(
        connection=emulator_connection, login_url="https://127.0.0.1:9", client_secret="s3cret"
    )

    report = services.connection_test(connection=emulator_connection)

    assert not report.ok
    assert "unreachable" in report.message


def test_csms_are_matched_to_salesforce_users_by_email(emulator_connection):
    alice = UserFactory(username="alice", email="Alice@Example.com")
    UserFactory(username="bob", email="bob@example.com")
    UserFactory(username="zed", email="zed@example.com")
    services.user_mapping_set(user=alice, salesforce_user_id="005000000000009AAA")  # by hand

    result = services.users_match_by_email(connection=emulator_connection)

    assert result.matched == ["bob"]
    assert result.unmatched == ["zed"]
    assert UserMapping.objects.get(user=alice).salesforce_user_id == "005000000000009AAA"
    bob = UserMapping.objects.get(user__username="bob")
    assert bob.salesforce_user_id.startswith("005")
    assert bob.source == UserMapping.Source.EMAIL


def test_testing_the_connection_records_the_orgs_api_usage_at_once(emulator_connection):
    report = services.connection_test(connection=emulator_connection)

    emulator_connection.refresh_from_db()
    assert report.ok and report.api_usage is not None
    assert (emulator_connection.api_usage, emulator_connection.api_limit) == report.api_usage
    assert emulator_connection.api_usage_checked_at is not None
    # Its own two calls (limits, describe) count against Cockpit's daily budget.
    assert emulator_connection.cockpit_calls_on(dt.datetime.now(dt.UTC).date()) == 2


def test_matching_users_keeps_the_orgs_user_names_for_owners_without_a_cockpit_account(
    emulator_connection,
):
    SalesforceUser.objects.create(salesforce_id="005000000000099AAA", name="Gone Away")

    services.users_match_by_email(connection=emulator_connection)

    names = dict(SalesforceUser.objects.values_list("email", "name"))
    assert names["dave@example.com"] == "Dave Davis"  # no Cockpit user has his email
    assert not SalesforceUser.objects.filter(name="Gone Away").exists()  # left the org


def test_the_test_endpoint_reports_what_it_found(admin_api, emulator_connection):
    ok = admin_api.post(f"/api/v1/sync/connections/{emulator_connection.pk}/test/")

    assert ok.status_code == 200
    assert ok.json()["state"] == "connected"
    assert (
        admin_api.get(f"/api/v1/sync/connections/{emulator_connection.pk}/").json()["state"]
        == "connected"
    )
