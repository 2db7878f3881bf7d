"""Companies and Salesforce Accounts: matching imported Accounts, and linking by name."""

import pytest

from sync import inbound
from sync.accounts import accounts_refresh
from sync.models import SalesforceAccount
from tasks.models import Company, TaskSyncRecord
from tests.factories import AdminFactory

pytestmark = pytest.mark.django_db


def imported_with_account(sf, alice_sf_id, account_name):
    account = sf.Account.create({"Name": account_name})["id"]
    salesforce_id = sf.Task.create(
        {"OwnerId": alice_sf_id, "Subject": f"Call {account_name}", "WhatId": account}
    )["id"]
    assert inbound.pull_run(force=True).ran
    return account, TaskSyncRecord.objects.get(salesforce_id=salesforce_id).task


def test_an_imported_account_links_the_company_of_the_same_name(bidi, sf, alice_sf_id):
    acme = Company.objects.create(name="Acme Corp")

    account, task = imported_with_account(sf, alice_sf_id, "Acme Corp")

    acme.refresh_from_db()
    assert task.company == acme
    assert acme.salesforce_account_id == account
    assert Company.objects.count() == 1


def test_a_name_taken_by_another_accounts_company_gets_a_number_not_an_id(bidi, sf, alice_sf_id):
    Company.objects.create(name="Globex", salesforce_account_id="001000000000001AAA")

    account, task = imported_with_account(sf, alice_sf_id, "Globex")

    assert task.company.name == "Globex (2)"
    assert task.company.salesforce_account_id == account


def test_refreshing_accounts_reads_every_account_of_the_org(bidi, sf):
    SalesforceAccount.objects.create(salesforce_id="001000000000009AAA", name="Gone Inc")
    for name in ("Initech", "Umbrella", "Hooli"):
        sf.Account.create({"Name": name})

    from adminconfig.models import SalesforceConnection

    count = accounts_refresh(connection=SalesforceConnection.objects.get())

    names = set(SalesforceAccount.objects.values_list("name", flat=True))
    assert {"Initech", "Umbrella", "Hooli"} <= names
    assert "Gone Inc" not in names
    assert count == len(names)


@pytest.fixture
def admin_client(client):
    client.force_login(AdminFactory(username="boss"))
    return client


def test_an_admin_links_a_company_by_picking_the_account_by_name(admin_client):
    SalesforceAccount.objects.create(salesforce_id="001Ws0000000001IAA", name="Initech")
    company = Company.objects.create(name="Initech Ltd")
    url = f"/admin/tasks/company/{company.pk}/change/"

    form = admin_client.get(url).content.decode()
    assert '<option value="Initech (001Ws0000000001IAA)">' in form

    response = admin_client.post(
        url, {"name": "Initech Ltd", "salesforce_account_id": "Initech (001Ws0000000001IAA)"}
    )

    assert response.status_code == 302
    company.refresh_from_db()
    assert company.salesforce_account_id == "001Ws0000000001IAA"
    listing = admin_client.get("/admin/tasks/company/").content.decode()
    assert "Initech" in listing and "001Ws0000000001IAA" not in listing


def test_an_account_nobody_knows_is_a_form_error_and_nothing_is_saved(admin_client):
    company = Company.objects.create(name="Nowhere")

    response = admin_client.post(
        f"/admin/tasks/company/{company.pk}/change/",
        {"name": "Nowhere", "salesforce_account_id": "Not an account"},
    )

    assert response.status_code == 200
    assert "No Salesforce Account by that name is known" in response.content.decode()
    company.refresh_from_db()
    assert company.salesforce_account_id is None


def test_an_exact_account_name_links_the_company_when_one_account_has_it(admin_client):
    SalesforceAccount.objects.create(salesforce_id="001Ws0000000001IAA", name="Acme Corp")
    company = Company.objects.create(name="Acme")

    response = admin_client.post(
        f"/admin/tasks/company/{company.pk}/change/",
        {"name": "Acme", "salesforce_account_id": "Acme Corp"},
    )

    assert response.status_code == 302
    company.refresh_from_db()
    assert company.salesforce_account_id == "001Ws0000000001IAA"


def test_a_name_two_accounts_share_asks_which_one_and_saves_nothing(admin_client):
    SalesforceAccount.objects.create(salesforce_id="001Ws0000000001IAA", name="Acme Corp")
    SalesforceAccount.objects.create(salesforce_id="001Ws0000000002IAA", name="Acme Corp")
    company = Company.objects.create(name="Acme")

    response = admin_client.post(
        f"/admin/tasks/company/{company.pk}/change/",
        {"name": "Acme", "salesforce_account_id": "Acme Corp"},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "2 Salesforce Accounts are named “Acme Corp”: pick the one you mean" in page
    assert "Acme Corp (001Ws0000000002IAA)" in page
    company.refresh_from_db()
    assert company.salesforce_account_id is None
