"""Users need the fields Salesforce requires, and Profile exists as an object of its own."""

from __future__ import annotations

import sqlite3

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.sfemu import EmulatorProcess, SalesforceEmulator

REQUIRED = [
    "Username",
    "LastName",
    "Email",
    "Alias",
    "TimeZoneSidKey",
    "LocaleSidKey",
    "EmailEncodingKey",
    "ProfileId",
    "LanguageLocaleKey",
]


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _error(raised: pytest.ExceptionInfo) -> dict:
    return raised.value.content[0]


def test_it_names_every_missing_required_field_of_a_new_user(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.User.create({"FirstName": "Nobody"})

    assert _error(raised) == {
        "message": f"Required fields are missing: [{', '.join(REQUIRED)}]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": REQUIRED,
    }


def test_it_names_only_the_fields_still_missing(sf):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.User.create({"Username": "gil@example.com", "LastName": "G", "Email": "gil@ex.io"})

    assert _error(raised)["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert _error(raised)["fields"] == REQUIRED[3:]


def test_it_creates_a_user_with_every_required_field(sf, sfemu_clean):
    body = sfemu_clean.user_body("gil@example.com", last_name="Gilfoyle", FirstName="Bertram")

    user_id = sf.User.create(body)["id"]

    [user] = sf.query(
        f"SELECT Name, Alias, TimeZoneSidKey, Profile.Name FROM User WHERE Id = '{user_id}'"
    )["records"]
    assert user["Name"] == "Bertram Gilfoyle"
    assert user["Alias"] == "gilfoyle"
    assert user["TimeZoneSidKey"] == "America/Los_Angeles"
    assert user["Profile"]["Name"] == "Standard User"


def test_it_refuses_clearing_a_required_field_of_a_user(sf, sfemu_clean):
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.User.update(sfemu_clean.integration_user_id, {"TimeZoneSidKey": None})

    assert _error(raised)["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert _error(raised)["fields"] == ["TimeZoneSidKey"]
    assert sf.User.update(sfemu_clean.integration_user_id, {"Title": "Robot"}) == 204


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"TimeZoneSidKey": "Mars/Olympus_Mons"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"ProfileId": "00eWs0000009999"}, "INVALID_CROSS_REFERENCE_KEY"),
        ({"ProfileId": "005Ws0000000001"}, "FIELD_INTEGRITY_EXCEPTION"),
        ({"Username": "alice@example.com.sfemu"}, "DUPLICATE_USERNAME"),
    ],
)
def test_it_checks_a_new_users_values(sf, sfemu_clean, fields, code):
    body = sfemu_clean.user_body("new@example.com", last_name="New")

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.User.create({**body, **fields})

    assert _error(raised)["errorCode"] == code


def test_it_seeds_the_standard_profiles_and_gives_seeded_users_them(sf):
    profiles = sf.query("SELECT Id, Name FROM Profile WHERE Name = 'Standard User'")["records"]
    users = sf.query(f"SELECT {', '.join(REQUIRED)}, Profile.Name FROM User ORDER BY Username")[
        "records"
    ]

    [standard] = profiles
    assert standard["Id"].startswith("00e")
    assert standard["Name"] == "Standard User"
    by_profile = {u["Username"]: u["Profile"]["Name"] for u in users}
    assert by_profile == {
        "alice@example.com.sfemu": "Standard User",
        "bob@example.com.sfemu": "Standard User",
        "carol@example.com.sfemu": "Standard User",
        "dave@example.com.sfemu": "Standard User",
        "integration@sfemu.example": "System Administrator",
    }
    assert all(user[name] for user in users for name in REQUIRED)
    assert {u["Alias"] for u in users} == {"integ", "aadam", "bbrow", "cchen", "ddavi"}


def test_it_seeds_the_profiles_without_users_too(sfemu_clean):
    sfemu_clean.reset(seed="none")
    sf = sfemu_clean.simple_salesforce()

    names = {r["Name"] for r in sf.query("SELECT Name FROM Profile")["records"]}
    [integration] = sf.query("SELECT Profile.Name FROM User")["records"]

    assert names == {"System Administrator", "Standard User"}
    assert integration["Profile"]["Name"] == "System Administrator"


def test_it_describes_profile(sf):
    describe = sf.Profile.describe()
    fields = {field["name"]: field for field in describe["fields"]}

    assert describe["keyPrefix"] == "00e"
    assert describe["queryable"] is True
    assert fields["Name"]["nillable"] is False
    assert fields["UserLicenseId"]["nillable"] is True
    assert fields["UserLicenseId"]["type"] == "reference"
    user_fields = {field["name"]: field for field in sf.User.describe()["fields"]}
    assert user_fields["ProfileId"]["referenceTo"] == ["Profile"]
    assert user_fields["ProfileId"]["relationshipName"] == "Profile"
    assert user_fields["TimeZoneSidKey"]["restrictedPicklist"] is True


def test_it_reads_a_profile_by_id(sf, sfemu_clean):
    profile = sf.Profile.get(sfemu_clean.profile_id("System Administrator"))

    assert profile["Name"] == "System Administrator"
    assert profile["UserLicenseId"].startswith("100")


def test_it_fills_the_new_required_fields_of_users_from_an_older_state_file(tmp_path):
    process = EmulatorProcess(tmp_path, seed="users")
    process.start()
    process.stop()
    # What a state file written before User had these fields holds.
    with sqlite3.connect(process.state_path) as db:
        db.execute(
            "UPDATE records SET data = json_remove(data, '$.ProfileId', '$.TimeZoneSidKey', "
            "'$.LocaleSidKey', '$.EmailEncodingKey', '$.LanguageLocaleKey') "
            "WHERE sobject = 'User'"
        )
    db.close()

    process.start()
    try:
        emulator = SalesforceEmulator(process)
        sf = emulator.simple_salesforce()
        users = sf.query("SELECT Id, Profile.Name, TimeZoneSidKey FROM User")["records"]
        alice = sf.query("SELECT Id FROM User WHERE Alias = 'aadam'")["records"][0]["Id"]
        assert sf.User.update(alice, {"Title": "Head of Sales"}) == 204
    finally:
        process.stop()

    assert len(users) == 5
    assert all(u["Profile"] and u["TimeZoneSidKey"] for u in users)
