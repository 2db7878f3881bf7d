"""Finding 2 of issue 9: the write-only client secret cannot be read back by redirecting it."""

import socket
import threading

import pytest

from adminconfig import services as config
from adminconfig.models import SalesforceConnection
from tests.security.conftest import client_for

pytestmark = pytest.mark.django_db
SECRET = "the-stored-client-secret-7"


class Listener:
    """A plain TCP listener on a free loopback port that keeps whatever it is sent."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
                    if b"\r\n\r\n" in self.received and SECRET.encode() in self.received:
                        break
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def connection(db):
    return config.connection_create(
        name="Org", login_url="https://127.0.0.1:9", client_id="cid", client_secret=SECRET
    )


def test_a_sync_admin_cannot_send_the_stored_secret_to_their_own_listener(
    sync_admin, connection, listener
):
    client = client_for(sync_admin)
    url = f"/api/v1/sync/connections/{connection.pk}/"

    for login_url in (f"http://127.0.0.1:{listener.port}", f"https://127.0.0.1:{listener.port}"):
        changed = client.patch(url, {"login_url": login_url}, format="json")
        assert changed.status_code == 400, changed.json()
    client.post(f"{url}test/")

    assert SalesforceConnection.objects.get().login_url == "https://127.0.0.1:9"
    assert SECRET.encode() not in listener.received
    assert listener.received == b""


def test_a_plain_http_login_url_is_refused(sync_admin):
    response = client_for(sync_admin).post(
        "/api/v1/sync/connections/",
        {
            "name": "x",
            "login_url": "http://login.salesforce.com",
            "client_id": "c",
            "client_secret": "s",
        },
        format="json",
    )

    assert response.status_code == 400
    assert "https" in response.json()["login_url"][0]


def test_http_is_allowed_only_by_the_development_setting_and_still_with_the_secret(
    sync_admin, connection, settings
):
    settings.SYNC_ALLOW_HTTP_LOGIN_URL = True
    client = client_for(sync_admin)
    url = f"/api/v1/sync/connections/{connection.pk}/"

    without = client.patch(url, {"login_url": "http://127.0.0.1:8000"}, format="json")
    with_secret = client.patch(
        url, {"login_url": "http://127.0.0.1:8000", "client_secret": "typed-again"}, format="json"
    )

    assert without.status_code == 400
    assert "client_secret" in without.json()
    assert with_secret.status_code == 200


@pytest.mark.parametrize(
    "change", [{"login_url": "https://test.salesforce.com"}, {"client_id": "another-app"}]
)
def test_changing_where_the_secret_goes_needs_the_secret_again(sync_admin, connection, change):
    client = client_for(sync_admin)
    url = f"/api/v1/sync/connections/{connection.pk}/"

    refused = client.patch(url, change, format="json")
    accepted = client.patch(url, {**change, "client_secret": "typed-again"}, format="json")

    assert refused.status_code == 400
    assert "client_secret" in refused.json()
    assert accepted.status_code == 200, accepted.json()


def test_other_changes_keep_the_stored_secret_without_asking(sync_admin, connection):
    before = SalesforceConnection.objects.get().client_secret_encrypted

    response = client_for(sync_admin).patch(
        f"/api/v1/sync/connections/{connection.pk}/",
        {"name": "Renamed", "login_url": "https://127.0.0.1:9", "client_id": "cid"},
        format="json",
    )

    assert response.status_code == 200
    assert SalesforceConnection.objects.get().client_secret_encrypted == before


def test_the_admin_form_asks_for_the_secret_when_the_login_url_changes(
    sync_admin, connection, client
):
    client.force_login(sync_admin)
    form = {
        "name": "Org",
        "is_primary": "on",
        "login_url": "https://evil.example.com",
        "client_id": "cid",
        "client_secret": "",
        "api_version": connection.api_version,
        "ca_bundle": "",
        "default_status": connection.default_status,
        "default_priority": connection.default_priority,
        "external_id_field": connection.external_id_field,
        "daily_api_budget": connection.daily_api_budget,
    }
    for prefix in ("field_mappings", "adminconfig-statusmapping-connection"):
        form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    form.update(
        {
            "adminconfig-prioritymapping-connection-TOTAL_FORMS": "0",
            "adminconfig-prioritymapping-connection-INITIAL_FORMS": "0",
        }
    )

    response = client.post(f"/admin/adminconfig/salesforceconnection/{connection.pk}/change/", form)

    assert response.status_code == 200  # the form again
    assert "Enter the client secret again to change the login url." in response.content.decode()
    assert SalesforceConnection.objects.get().login_url == "https://127.0.0.1:9"
