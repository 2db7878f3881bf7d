import pytest
from django.db import connection
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_token_authenticates_api_calls_until_it_is_revoked(csm):
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "correct-horse-battery"}
    )
    token = response.json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/tasks/").status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get("/api/v1/tasks/").status_code == 401


def test_a_wrong_password_gets_no_token(csm, api):
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"})

    assert response.status_code == 400
    assert "token" not in response.json()


def test_healthz_answers_200_when_the_database_is_up(client):
    response = client.get("/healthz?check=database")

    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_healthz_answers_503_when_the_database_is_down(client, monkeypatch):
    from django.db import DatabaseError

    def broken_cursor(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_the_openapi_schema_and_docs_are_served_to_signed_in_users(csm_api, api):
    schema = csm_api.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/tasks/" in text
    assert "/api/v1/auth/token/" in text
    assert csm_api.get("/api/docs/").status_code == 200
    assert api.get("/api/schema/").status_code == 401


def test_the_cockpit_page_needs_a_login_and_shows_todays_tasks(client, csm):
    from tests.factories import TaskFactory

    TaskFactory(owner=csm, name="Due today call")

    assert client.get("/").status_code == 302
    client.force_login(csm)
    page = client.get("/").content.decode()
    assert "Due today call" in page
    assert "Not synced" in page
