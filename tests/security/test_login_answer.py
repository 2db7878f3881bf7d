"""Issue 17, items 4 and 5: what a login answers is checked before Cockpit uses it.

A real HTTPS server on loopback plays a login host that answers the token request with
whatever the test says (the emulator answers well-formed tokens only); nothing is patched.
"""

import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import override_settings
from django.views.debug import ExceptionReporter

from adminconfig import services as config
from adminconfig.models import SalesforceConnection
from sfemulator.certs import ensure_certificates
from sync.client import Credentials, token_fetch
from sync.gateway import client_for
from tests.security.conftest import client_for as api_client_for

pytestmark = pytest.mark.django_db
SECRET = "the-decrypted-client-secret-9"


class LoginHost:
    """An HTTPS server whose /services/oauth2/token answers `self.answer` (status, body)."""

    def __init__(self, cert_dir: Path) -> None:
        cert, key = ensure_certificates(cert_dir, "127.0.0.1")
        self.ca_path = str(cert_dir / "ca.pem")
        self.answer: tuple[int, str] = (200, "{}")
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = host.answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for serve_forever's poll: 0.5 s a test by default.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def token(self, instance_url: str) -> None:
        self.answer = (200, json.dumps({"access_token": "00Dtoken", "instance_url": instance_url}))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def login_host(tmp_path):
    host = LoginHost(tmp_path / "certs")
    yield host
    host.close()


@pytest.fixture
def connection(login_host):
    return config.connection_create(
        name="Org",
        login_url=login_host.url,
        client_id="cid",
        client_secret=SECRET,
        ca_bundle=login_host.ca_path,
    )


# ---- item 4: a malformed token answer -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"access_token": "00Dtoken"}', "no instance_url"),
        ('{"access_token": "00Dtoken", "instance_url": null}', "no instance_url"),
        (
            '{"access_token": "00Dtoken", "instance_url": ["https://a.salesforce.com"]}',
            "no instance_url",
        ),
        ('{"instance_url": "https://a.salesforce.com"}', "no access_token"),
        ("null", "not a JSON object"),
        ('["access_token"]', "not a JSON object"),
        ("17", "not a JSON object"),
        ("not json", "no access_token"),
    ],
)
def test_test_connection_says_what_was_wrong_with_a_malformed_login_answer(
    login_host, connection, superuser, body, says
):
    login_host.answer = (200, body)

    response = api_client_for(superuser).post(f"/api/v1/sync/connections/{connection.pk}/test/")

    assert response.status_code == 502
    assert says in response.json()["message"]
    connection.refresh_from_db()
    assert connection.state == SalesforceConnection.State.UNAUTHORIZED
    assert says in connection.last_error
    assert SECRET not in response.content.decode()


def test_the_admins_test_button_shows_the_problem_instead_of_a_500(
    login_host, connection, superuser, client
):
    login_host.answer = (200, "null")
    client.force_login(superuser)

    response = client.post(
        f"/admin/adminconfig/salesforceconnection/{connection.pk}/test/", follow=True
    )

    assert response.status_code == 200
    assert "not a JSON object" in response.content.decode()


def test_a_debug_page_of_an_error_inside_the_login_shows_no_secret(connection):
    # The login's frames hold the decrypted secret; Django's debug page prints frames' locals.
    creds = Credentials(login_url="https://127.0.0.1:9", client_id="cid", client_secret=SECRET)
    client = client_for(connection)
    try:
        token_fetch(creds, client.session)
    except Exception:  # noqa: BLE001 - the debug page of whatever it was
        html = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    else:
        pytest.fail("a login to a closed port succeeded")

    assert "token_fetch" in html
    assert SECRET not in html


def test_credentials_print_without_their_secret():
    creds = Credentials(login_url="https://login", client_id="cid", client_secret=SECRET)

    assert SECRET not in repr(creds)


# ---- item 5: instance_url is checked -------------------------------------------------------


@pytest.mark.parametrize(
    "instance_url",
    [
        "https://evil.example.com",
        "http://acme.my.salesforce.com",
        "https://salesforce.com.evil.example",
        "https://acme.my.salesforce.com:8443",
        "https://user:pw@acme.my.salesforce.com",
        "https://acme.my.salesforce.com/steal",
        "javascript:alert(1)",
        "https://127.0.0.1:1",
    ],
)
def test_an_untrusted_instance_url_is_refused_with_a_message(login_host, connection, instance_url):
    login_host.token(instance_url)

    report = config.connection_test(connection=connection)

    assert not report.ok
    assert "untrusted instance_url" in report.message
    connection.refresh_from_db()
    assert connection.instance_url == ""
    assert "untrusted instance_url" in connection.last_error


@pytest.mark.parametrize(
    "instance_url",
    [
        "https://acme.my.salesforce.com",
        "https://na1.salesforce.com/",
        "https://acme.lightning.force.com",
    ],
)
def test_salesforce_hosts_are_trusted(instance_url):
    from sync.client import instance_url_trusted

    assert instance_url_trusted(instance_url, "https://login.salesforce.com")


def test_the_login_hosts_own_address_is_trusted(login_host, connection):
    login_host.token(login_host.url)

    token, instance_url, _ = token_fetch(
        Credentials(
            login_url=login_host.url,
            client_id="cid",
            client_secret=SECRET,
            ca_bundle=login_host.ca_path,
        ),
        client_for(connection).session,
    )

    assert (token, instance_url) == ("00Dtoken", login_host.url)


@pytest.mark.parametrize(
    ("allowed", "instance_url", "trusted"),
    [
        (["sfemu.internal:8443"], "https://sfemu.internal:8443", True),
        (["sfemu.internal:8443"], "https://sfemu.internal", False),
        (["acme.example.com"], "https://acme.example.com", True),
        ([".example.com"], "https://acme.example.com", True),
        ([".example.com"], "https://acme.example.org", False),
        ([".example.com"], "http://acme.example.com", False),
    ],
)
def test_the_allow_list_setting_names_more_hosts(allowed, instance_url, trusted):
    from sync.client import instance_url_trusted

    with override_settings(SYNC_TRUSTED_INSTANCE_HOSTS=allowed):
        assert instance_url_trusted(instance_url, "https://login.salesforce.com") is trusted


def test_the_client_secret_posted_to_the_admin_or_the_api_is_marked_for_debug_pages(
    superuser, client
):
    client.force_login(superuser)
    form = {"name": "Org", "login_url": "https://127.0.0.1:9", "client_secret": SECRET}

    page = client.post("/admin/adminconfig/salesforceconnection/add/", form)
    api = api_client_for(superuser).post("/api/v1/sync/connections/", form)

    assert page.wsgi_request.sensitive_post_parameters == ("client_secret",)
    assert api.wsgi_request.sensitive_post_parameters == ("client_secret",)
