"""A CSM signed in before the session backend changed stays signed in (issue 19 moved sign-in to
cockpit.authentication.SessionUserBackend; sessions made before it name Django's ModelBackend)."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _client_with_session(user, backend: str) -> Client:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = backend
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    client = Client()
    client.cookies["sessionid"] = session.session_key
    return client


@pytest.mark.parametrize(
    "backend",
    ["django.contrib.auth.backends.ModelBackend", "cockpit.authentication.SessionUserBackend"],
)
def test_a_session_signed_in_under_either_backend_opens_the_task_list(backend):
    alice = UserFactory(username="alice")
    answer = _client_with_session(alice, backend).get("/")
    assert answer.status_code == 200
    assert answer.wsgi_request.user == alice


def test_a_new_sign_in_goes_through_the_session_backend(client):
    UserFactory(username="bob", password="a-long-pass-phrase")
    client.post("/accounts/login/", {"username": "bob", "password": "a-long-pass-phrase"})
    assert client.session[BACKEND_SESSION_KEY] == "cockpit.authentication.SessionUserBackend"
