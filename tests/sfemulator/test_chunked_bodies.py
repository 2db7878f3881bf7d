"""Request bodies sent with `Transfer-Encoding: chunked`, as jsforce 3 posts its OAuth token
request: the emulator reads the whole body, and the next request on the same connection is
read as a request of its own."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

from tests.sfemu import SEED_PASSWORD


def _token_form(sfemu, **fields: str) -> bytes:
    return urlencode(
        {"client_id": sfemu.client_id, "client_secret": sfemu.client_secret, **fields}
    ).encode()


def _in_pieces(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_it_issues_a_token_for_a_chunked_password_grant(sfemu_clean):
    form = _token_form(
        sfemu_clean,
        grant_type="password",
        username="alice@example.com.sfemu",
        password=SEED_PASSWORD,
    )

    # requests sends a generator body with Transfer-Encoding: chunked and no Content-Length.
    response = sfemu_clean.session.post(
        sfemu_clean.token_url,
        data=_in_pieces(form, 7),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = sfemu_clean.session.get(
        sfemu_clean.data_url("query/"),
        params={"q": "SELECT Username FROM User WHERE Username = 'alice@example.com.sfemu'"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert me.json()["totalSize"] == 1


def test_it_creates_a_record_from_a_chunked_json_body(sfemu_clean):
    token = sfemu_clean.token()["access_token"]
    body = json.dumps({"Subject": "Sent in chunks", "Description": "x" * 5000}).encode()

    response = sfemu_clean.session.post(
        sfemu_clean.data_url("sobjects/Task/"),
        data=_in_pieces(body, 1000),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 201, response.text
    sf = sfemu_clean.simple_salesforce()
    assert sf.Task.get(response.json()["id"])["Description"] == "x" * 5000


def _raw_exchange(sfemu, payload: bytes) -> bytes:
    """Send raw bytes over one TLS connection and read until the server closes it."""
    url = urlsplit(sfemu.base_url)
    context = ssl.create_default_context(cafile=sfemu.ca_path)
    with (
        socket.create_connection((url.hostname, url.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=url.hostname) as tls,
    ):
        tls.sendall(payload)
        received = b""
        while chunk := tls.recv(65536):
            received += chunk
    return received


def test_it_reads_a_raw_chunked_body_with_extensions_and_trailers_then_the_next_request(
    sfemu_clean,
):
    form = _token_form(sfemu_clean, grant_type="client_credentials")
    first, second = form[:10], form[10:]
    host = urlsplit(sfemu_clean.base_url).netloc
    chunked = (
        b"POST /services/oauth2/token HTTP/1.1\r\n"
        b"Host: " + host.encode() + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(first):x}\r\n".encode()
        + first
        + b"\r\n"
        + f"{len(second):X};name=value\r\n".encode()
        + second
        + b"\r\n0\r\nX-Trailer: ignored\r\n\r\n"
    )
    follow_up = (
        b"GET /services/data/ HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n"
    )

    received = _raw_exchange(sfemu_clean, chunked + follow_up)

    responses = received.split(b"HTTP/1.1 ")[1:]
    assert len(responses) == 2
    assert responses[0].startswith(b"200 ")
    assert b'"access_token"' in responses[0]
    assert b"unsupported_grant_type" not in received
    assert responses[1].startswith(b"200 ")
    assert b'"version":"59.0"' in responses[1]


def test_it_refuses_a_malformed_chunk_size_with_400_and_closes_the_connection(sfemu_clean):
    host = urlsplit(sfemu_clean.base_url).netloc
    payload = (
        b"POST /services/oauth2/token HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    )

    received = _raw_exchange(sfemu_clean, payload)

    assert received.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in received
    assert b"invalid chunk size" in received
