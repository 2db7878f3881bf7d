"""HTTPS transport: a threaded http.server whose handler turns requests into `Request`s for
the emulator and writes its `Response`s back. The TLS handshake happens in the worker thread,
so a slow or broken client never blocks the accept loop."""

from __future__ import annotations

import select
import socket
import ssl
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sfemulator.app import Emulator, error_response
from sfemulator.errors import SalesforceError
from sfemulator.protocol import Request, Response

# Far above any body the REST API takes (200 records of 32,000-character fields).
MAX_BODY_BYTES = 64 * 1024 * 1024
_MAX_LINE = 65537


class _BadRequest(Exception):
    """A request whose body cannot be read: framing the emulator cannot follow."""


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], emulator: Emulator, context: ssl.SSLContext
    ) -> None:
        self.emulator = emulator
        self.ssl_context = context
        super().__init__(address, EmulatorHandler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        wrapped = self.ssl_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLError | ConnectionError | TimeoutError | socket.timeout):
            return  # a client that hung up or refused our certificate
        super().handle_error(request, client_address)


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sfemulator"
    sys_version = ""
    server: EmulatorServer
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120
    # Buffer the response so headers and body leave in one TLS record; written separately
    # they meet Nagle's algorithm and the client's delayed ACK, costing ~40 ms a call.
    wbufsize = 1 << 16

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header is Salesforce's clock, as its stamps are: the emulator's, which tests
        # shift. (Clients bound Salesforce's time with it: Cockpit's conditional writes do.)
        if timestamp is None:
            timestamp = self.server.emulator.clock.now().timestamp()
        return super().date_time_string(timestamp)

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.connection.settimeout(self.timeout)
        self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.emulator.config.log_requests:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        """The request body, sent with Content-Length or `Transfer-Encoding: chunked` (jsforce
        posts its OAuth token request chunked). Read to its end either way: an unread body
        would be parsed as the next request on this keep-alive connection."""
        encodings = [
            part.strip().lower()
            for part in (self.headers.get("Transfer-Encoding") or "").split(",")
            if part.strip()
        ]
        if encodings:
            if encodings[-1] != "chunked":
                raise _BadRequest("unsupported Transfer-Encoding")
            return self._read_chunked()
        length_text = (self.headers.get("Content-Length") or "0").strip()
        if not length_text.isdigit():
            raise _BadRequest("invalid Content-Length")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise _BadRequest("request body too large")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        """RFC 9112 chunked coding: `<hex size>[;extensions]CRLF <data> CRLF`, ..., a zero
        size, optional trailer fields, and an empty line."""
        body = bytearray()
        while True:
            line = self.rfile.readline(_MAX_LINE)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest("invalid chunk size") from None
            if size == 0:
                break
            if len(body) + size > MAX_BODY_BYTES:
                raise _BadRequest("request body too large")
            body += self.rfile.read(size)
            if self.rfile.readline(_MAX_LINE).strip():
                raise _BadRequest("chunk not followed by CRLF")
        while self.rfile.readline(_MAX_LINE).strip():  # trailer fields, ignored
            pass
        return bytes(body)

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as error:
            # The connection's framing is lost: answer and close it.
            self.close_connection = True
            response = error_response(SalesforceError(400, "BAD_REQUEST", f"Bad request: {error}"))
            response.headers["Connection"] = "close"
            self._write(response)
            return
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query_string=query,
            headers=self.headers,
            body=body,
            host=self.headers.get("Host", ""),
            connection_lost=self._connection_lost,
        )
        try:
            response = self.server.emulator.handle(request)
        except Exception:  # noqa: BLE001 - a bug must answer 500, not kill the connection
            traceback.print_exc()
            response = error_response(
                SalesforceError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")
            )
        if response.drop_connection:
            # The write was applied; its answer is lost: close without writing a byte, and
            # the client sees the connection end with no response (a ConnectionError).
            self.close_connection = True
            return
        self._write(response)

    def _connection_lost(self) -> bool:
        """While a request waits for its answer the client sends nothing more on this
        connection (HTTP/1.1 without pipelining): anything readable now is its TLS
        close_notify or the end of the stream, so it has gone."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def _write(self, response: Response) -> None:
        payload = response.encoded()
        self.send_response(response.status)
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PATCH = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch
    do_HEAD = _dispatch


def make_server(
    emulator: Emulator, host: str, port: int, cert_path: str, key_path: str
) -> EmulatorServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return EmulatorServer((host, port), emulator, context)
