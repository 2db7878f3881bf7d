"""OAuth token endpoint and bearer tokens, through plain requests and simple-salesforce."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceExpiredSession

from tests.sfemu import SEED_PASSWORD, SalesforceEmulator


def _token(sfemu: SalesforceEmulator, **form: str):
    return sfemu.session.post(sfemu.token_url, data=form, timeout=10)


def test_it_issues_a_client_credentials_token_for_the_integration_user(sfemu_clean):
    token = sfemu_clean.token()

    assert set(token) >= {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert token["token_type"] == "Bearer"
    assert token["instance_url"] == sfemu_clean.base_url
    assert token["id"].endswith("/" + sfemu_clean.integration_user_id)
    assert token["issued_at"].isdigit()


def test_it_logs_in_a_stored_user_with_the_password_grant(sfemu_clean):
    sf = sfemu_clean.simple_salesforce(username="alice@example.com.sfemu", password=SEED_PASSWORD)

    created = sf.Task.create({"Subject": "Made by Alice"})
    task = sf.Task.get(created["id"])

    alice = sf.query("SELECT Id FROM User WHERE Email = 'alice@example.com'")["records"][0]
    assert task["CreatedById"] == alice["Id"]
    assert task["LastModifiedById"] == alice["Id"]
    assert task["OwnerId"] == alice["Id"]


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "nope"}, "invalid_client_id"),
        ({"grant_type": "client_credentials", "client_secret": "wrong"}, "invalid_client"),
        (
            {"grant_type": "password", "username": "alice@example.com.sfemu", "password": "x"},
            "invalid_grant",
        ),
        ({"grant_type": "password", "username": "nobody@example.com"}, "invalid_grant"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ],
)
def test_it_refuses_bad_credentials_with_a_json_object(sfemu_clean, form, error):
    credentials = {"client_id": sfemu_clean.client_id, "client_secret": sfemu_clean.client_secret}
    response = _token(sfemu_clean, **{**credentials, **form})

    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, dict)
    assert body["error"] == error
    assert body["error_description"]


def test_it_answers_the_password_grant_failure_as_salesforce_does(sfemu_clean):
    response = _token(
        sfemu_clean,
        grant_type="password",
        client_id=sfemu_clean.client_id,
        client_secret=sfemu_clean.client_secret,
        username="alice@example.com.sfemu",
        password="wrong-password1",
    )

    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


def test_it_answers_an_unknown_token_with_a_json_array_and_401(sfemu_clean):
    response = sfemu_clean.session.get(
        sfemu_clean.data_url("limits/"), headers={"Authorization": "Bearer bogus"}, timeout=10
    )

    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_it_answers_a_missing_token_with_401(sfemu_clean):
    response = sfemu_clean.session.get(sfemu_clean.data_url("sobjects/"), timeout=10)

    assert response.status_code == 401


def test_it_raises_expired_session_in_simple_salesforce_once_tokens_expire(sfemu_clean):
    sf = sfemu_clean.simple_salesforce()
    sf.query("SELECT Id FROM User")

    sfemu_clean.expire_tokens()

    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")
    # A new token works again.
    assert sfemu_clean.simple_salesforce().query("SELECT COUNT() FROM User")["totalSize"] == 5


def test_it_expires_tokens_after_their_time_to_live(sfemu_clean):
    sf = sfemu_clean.simple_salesforce()

    sfemu_clean.set_clock_offset(3 * 60 * 60)  # past the default two-hour TTL

    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")


def test_it_lets_a_client_set_a_users_password_and_act_as_that_user(sfemu_clean):
    sf = sfemu_clean.simple_salesforce()
    user = sf.User.create(
        sfemu_clean.user_body("erin@example.com.sfemu", last_name="Evans", email="erin@example.com")
    )

    assert sf.set_password(user["id"], "Secret-pass42") is None

    as_erin = sfemu_clean.simple_salesforce(
        username="erin@example.com.sfemu", password="Secret-pass42"
    )
    created = as_erin.Task.create({"Subject": "Erin's task"})
    assert as_erin.Task.get(created["id"])["CreatedById"] == user["id"]
