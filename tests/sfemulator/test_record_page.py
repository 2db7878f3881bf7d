"""The read-only record page at Salesforce's Lightning path, behind the emulator's login, so
Cockpit's "Open in Salesforce" link works against the demo emulator."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.sfemu import SEED_PASSWORD


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


@pytest.fixture
def task_id(sf):
    account = sf.Account.create({"Name": "Acme <Corp> & Sons"})["id"]
    return sf.Task.create(
        {
            "Subject": "Renewal <script>alert(1)</script>",
            "WhatId": account,
            "ActivityDate": "2026-12-01",
            "Priority": "High",
        }
    )["id"]


def _record_path(record_id: str) -> str:
    return f"/lightning/r/Task/{record_id}/view"


def _log_in(sfemu, session, start_url: str, password: str = SEED_PASSWORD):
    return session.post(
        f"{sfemu.base_url}/",
        data={"username": "alice@example.com.sfemu", "password": password, "startURL": start_url},
        allow_redirects=False,
        timeout=10,
    )


def test_the_open_in_salesforce_link_asks_for_a_login_first(sfemu_clean, task_id):
    session = sfemu_clean.requests_session()

    response = session.get(
        sfemu_clean.base_url + _record_path(task_id), allow_redirects=False, timeout=10
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/?startURL={quote(_record_path(task_id), safe='')}"
    form = session.get(sfemu_clean.base_url + response.headers["Location"], timeout=10)
    assert form.status_code == 200
    assert form.headers["Content-Type"] == "text/html;charset=UTF-8"
    assert f"value='{_record_path(task_id)}'" in form.text
    assert "Renewal" not in form.text


def test_after_logging_in_the_link_shows_the_record_escaped_and_read_only(sfemu_clean, task_id):
    session = sfemu_clean.requests_session()

    login = _log_in(sfemu_clean, session, _record_path(task_id))
    assert login.status_code == 302
    assert login.headers["Location"] == _record_path(task_id)
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    # requests keeps a Secure cookie for https only, which the emulator is.
    page = session.get(sfemu_clean.base_url + _record_path(task_id), timeout=10)

    assert page.status_code == 200
    assert "<title>Renewal &lt;script&gt;alert(1)&lt;/script&gt; | Salesforce emulator" in page.text
    assert "<script>" not in page.text
    assert "Acme &lt;Corp&gt; &amp; Sons (001" in page.text
    assert "<th scope='row'>Priority</th><td>High</td>" in page.text
    assert "logged in as alice@example.com.sfemu" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<form" not in page.text
    posted = session.post(sfemu_clean.base_url + _record_path(task_id), timeout=10)
    assert posted.status_code == 405


def test_a_wrong_password_gets_the_form_again_and_no_session(sfemu_clean, task_id):
    session = sfemu_clean.requests_session()

    response = _log_in(sfemu_clean, session, _record_path(task_id), password="wrong")

    assert response.status_code == 200
    assert "Please check your username and password." in response.text
    assert "Set-Cookie" not in response.headers
    again = session.get(
        sfemu_clean.base_url + _record_path(task_id), allow_redirects=False, timeout=10
    )
    assert again.status_code == 302


def test_the_login_never_redirects_outside_the_record_pages(sfemu_clean):
    session = sfemu_clean.requests_session()

    response = _log_in(sfemu_clean, session, "https://evil.example/phish")

    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You are logged in" in response.text


def test_a_deleted_record_is_a_404_page(sfemu_clean, sf, task_id):
    session = sfemu_clean.requests_session()
    _log_in(sfemu_clean, session, _record_path(task_id))
    sf.Task.delete(task_id)

    page = session.get(sfemu_clean.base_url + _record_path(task_id), timeout=10)

    assert page.status_code == 404
    assert "doesn't exist or was deleted" in page.text


def test_page_views_are_not_api_calls(sfemu_clean, task_id):
    session = sfemu_clean.requests_session()
    _log_in(sfemu_clean, session, _record_path(task_id))
    sfemu_clean.reset_request_log()
    used = sfemu_clean.admin("GET", "api-usage")["used"]

    session.get(sfemu_clean.base_url + _record_path(task_id), timeout=10)

    assert sfemu_clean.request_log()["total"] == 0
    assert sfemu_clean.admin("GET", "api-usage")["used"] == used
