"""Issue 17, item 2: one login policy for the pages, the admin and auth/token/ (django-axes).

Five wrong passwords for one username from one address lock that pair out for 15 minutes:
the right password does not get in meanwhile, the answer says so (429), superusers see the
attempts in the admin, and the lockout ends by itself or when a superuser removes it.
"""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"  # the factories' password
ADDRESS = "203.0.113.50"


def page_login(path: str, username: str, password: str, ip: str = ADDRESS):
    client = Client(REMOTE_ADDR=ip)
    response = client.post(path, {"username": username, "password": password})
    return response, client


def token_login(username: str, password: str, ip: str = ADDRESS):
    return APIClient(REMOTE_ADDR=ip).post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


def logged_in(response, client) -> bool:
    return response.status_code == 302 and "_auth_user_id" in client.session


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_after_five_wrong_passwords_the_right_one_does_not_log_in(path):
    UserFactory(username="alice", is_staff=True)
    answers = [page_login(path, "alice", f"guess-{n}")[0].status_code for n in range(5)]

    response, client = page_login(path, "alice", PASSWORD)

    assert answers == [200, 200, 200, 200, 429]  # the form again with its error, then locked
    assert response.status_code == 429
    assert not logged_in(response, client)
    assert "Too many failed logins" in response.content.decode()
    assert int(response["Retry-After"]) == 15 * 60


def test_the_api_token_endpoint_shares_the_policy_and_answers_json():
    UserFactory(username="alice")
    for n in range(3):
        page_login("/accounts/login/", "alice", f"guess-{n}")
    fourth, fifth = token_login("alice", "guess-3"), token_login("alice", "guess-4")

    response = token_login("alice", PASSWORD)

    assert (fourth.status_code, fifth.status_code) == (400, 429)
    assert response.status_code == 429
    assert "Too many failed logins" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    # The pages refuse it too: one count for the pair, wherever it was tried.
    page, client = page_login("/accounts/login/", "alice", PASSWORD)
    assert page.status_code == 429 and not logged_in(page, client)


def test_the_lockout_is_per_username_and_address():
    UserFactory(username="alice")
    UserFactory(username="bob")
    for n in range(5):
        page_login("/accounts/login/", "alice", f"guess-{n}")

    elsewhere, elsewhere_client = page_login(
        "/accounts/login/", "alice", PASSWORD, ip="198.51.100.7"
    )
    colleague, colleague_client = page_login("/accounts/login/", "bob", PASSWORD)

    assert logged_in(elsewhere, elsewhere_client)
    assert logged_in(colleague, colleague_client)


def test_the_lockout_ends_after_fifteen_minutes():
    UserFactory(username="alice")
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), tick=False):
        for n in range(5):
            page_login("/accounts/login/", "alice", f"guess-{n}")
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 14, tzinfo=dt.UTC), tick=False):
        still, _ = page_login("/accounts/login/", "alice", PASSWORD)
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 16, tzinfo=dt.UTC), tick=False):
        later, client = page_login("/accounts/login/", "alice", PASSWORD)

    assert still.status_code == 429
    assert logged_in(later, client)


def test_a_right_password_before_the_limit_resets_the_count():
    UserFactory(username="alice")
    for n in range(4):
        page_login("/accounts/login/", "alice", f"guess-{n}")
    page_login("/accounts/login/", "alice", PASSWORD)
    for n in range(4):
        page_login("/accounts/login/", "alice", f"again-{n}")

    response, client = page_login("/accounts/login/", "alice", PASSWORD)

    assert logged_in(response, client)


def test_superusers_see_the_failed_attempts_and_unlock_by_deleting_one(client):
    from axes.models import AccessAttempt

    from tests.factories import AdminFactory

    root = AdminFactory(username="root")
    staff = UserFactory(username="stella", is_staff=True)
    UserFactory(username="alice")
    for n in range(5):
        page_login("/accounts/login/", "alice", f"guess-{n}")
    attempt = AccessAttempt.objects.get(username="alice")

    client.force_login(staff)
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    client.force_login(root)
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode() and ADDRESS in listing.content.decode()
    assert PASSWORD not in str(AccessAttempt.objects.values())
    assert "guess-" not in str(AccessAttempt.objects.values())

    client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    response, login_client = page_login("/accounts/login/", "alice", PASSWORD)

    assert logged_in(response, login_client)
