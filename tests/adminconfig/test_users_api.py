import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db
URL = "/api/v1/users/"
User = get_user_model()


def test_an_admin_creates_a_csm_who_can_then_get_a_token(admin_api, api):
    response = admin_api.post(
        URL,
        {
            "username": "dana",
            "email": "dana@example.com",
            "first_name": "Dana",
            "last_name": "Diaz",
            "password": "a-long-enough-secret",
            "time_zone": "Asia/Tokyo",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert "password" not in body
    assert body["time_zone"] == "Asia/Tokyo"
    assert body["is_staff"] is False
    token = api.post(
        "/api/v1/auth/token/", {"username": "dana", "password": "a-long-enough-secret"}
    )
    assert token.status_code == 200
    assert token.json()["token"]


def test_an_admin_lists_csms(admin_api, csm, other_csm):
    usernames = [u["username"] for u in admin_api.get(URL).json()["results"]]

    assert {"alice", "bob"} <= set(usernames)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "e", "email": "e@example.com"}, "password"),
        ({"username": "e", "email": "e@example.com", "password": "123"}, "password"),
        ({"username": "e", "email": "", "password": "a-long-enough-secret"}, "email"),
        ({"username": "e", "email": "nope", "password": "a-long-enough-secret"}, "email"),
        (
            {"username": "alice", "email": "a@example.com", "password": "a-long-enough-secret"},
            "username",
        ),
        (
            {
                "username": "e",
                "email": "e@example.com",
                "password": "a-long-enough-secret",
                "time_zone": "Mars/Olympus",
            },
            "time_zone",
        ),
    ],
)
def test_bad_csm_input_answers_400_naming_the_field(admin_api, csm, payload, field):
    response = admin_api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.filter(username="e").exists()


def test_csms_cannot_list_or_create_users(csm_api, api):
    assert csm_api.get(URL).status_code == 403
    assert csm_api.post(URL, {"username": "x"}).status_code == 403
    assert api.get(URL).status_code == 401


def test_an_admin_changes_a_csms_time_zone_and_password(admin_api, csm, api):
    response = admin_api.patch(
        f"{URL}{csm.pk}/",
        {"time_zone": "Europe/London", "password": "another-long-secret"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["time_zone"] == "Europe/London"
    token = api.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "another-long-secret"}
    )
    assert token.status_code == 200
