"""The emulator: its parts, and the pipeline every request goes through.

REST calls: version check, routing, bearer token (401), daily limit (403), injected latency
and errors, counting, the write-call faults (late commit, late apply, lost answer), the
resource handler, then the Sforce-Limit-Info header and the request log. OAuth token calls
and the admin endpoint have pipelines of their own.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from sfemulator import pages
from sfemulator.admin import PREFIX as ADMIN_PREFIX
from sfemulator.admin import Admin
from sfemulator.api.call import Call
from sfemulator.api.meta import versions
from sfemulator.api.routes import WRITE_HANDLERS, Handler, resolve, unknown_endpoint
from sfemulator.auth import Auth
from sfemulator.changes import ChangeEvents
from sfemulator.cometd import PREFIX as COMETD_PREFIX
from sfemulator.cometd import Streaming
from sfemulator.config import MAX_VERSION, MIN_VERSION, Config, StreamSettings
from sfemulator.cursors import Cursors
from sfemulator.errors import OAuthError, SalesforceError, not_found, request_limit_exceeded
from sfemulator.faults import FaultPlan, Faults, WriteFaults
from sfemulator.protocol import Request, Response
from sfemulator.records import CallStamp, InFlight, Records
from sfemulator.seed import seed
from sfemulator.sftime import Clock, format_datetime
from sfemulator.soql import QueryEngine
from sfemulator.store import Store
from sfemulator.usage import ApiUsage, RequestLog

_VERSION_RE = re.compile(r"^v(\d+)\.0$")
TOKEN_PATH = "/services/oauth2/token"
DATA_PATH = "/services/data"
RECYCLE_BIN_DAYS = 15
_PURGE_EVERY = timedelta(minutes=1)


def error_response(error: SalesforceError) -> Response:
    return Response(error.status, error.body())


def injected_error(status: int) -> SalesforceError:
    if status == 503:
        return SalesforceError(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
    return SalesforceError(
        500,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1234567890-12345 (-1234567890)",
    )


class Emulator:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.clock = Clock()
        self.store = Store(config.state)
        self.records = Records(self.store, self.clock)
        self.query_engine = QueryEngine(self.store, self.clock)
        self.cursors = Cursors(self.clock)
        self.faults = Faults(config.faults)
        # One mutable settings object, shared by the change events and the CometD server.
        self.stream_settings = StreamSettings(**config.stream.to_json())
        self.changes = ChangeEvents(self.store, self.clock, self.faults, self.stream_settings)
        self.records.changes = self.changes
        self.usage = ApiUsage(config.api_limit)
        self.log = RequestLog()
        self.auth = Auth(
            self.store,
            self.records,
            self.clock,
            config.client_id,
            config.client_secret,
            config.token_ttl,
        )
        self.admin = Admin(self)
        self.streaming = Streaming(self)
        self.in_flight = InFlight()
        self._waiting_writes = 0
        self._waiting_lock = threading.Lock()
        self._last_purge: datetime | None = None
        self._purge_lock = threading.Lock()
        seed(config.seed, self.store, self.records)

    def close(self) -> None:
        self.store.close()

    def reset(self, seed_name: str) -> None:
        """Wipe data (change events too), faults, the request log, usage, the clock offset,
        streaming clients and settings; then seed."""
        self.store.wipe()
        self.streaming.reset()
        self.set_stream_settings(self.config.stream)
        self.cursors.clear()
        self.faults.set(FaultPlan())
        self.log.reset()
        self.usage.set(self.clock.today(), 0, self.config.api_limit)
        self.clock.set_offset(0)
        seed(seed_name, self.store, self.records)

    def set_stream_settings(self, settings: StreamSettings) -> None:
        for name, value in settings.to_json().items():
            setattr(self.stream_settings, name, value)

    def purge_recycle_bin(self) -> None:
        """At most once a minute of emulator time (the admin clock can jump it forward)."""
        now = self.clock.now()
        with self._purge_lock:
            last = self._last_purge
            if last is not None and last <= now < last + _PURGE_EVERY:
                return
            self._last_purge = now
        self.store.purge_recycle_bin(format_datetime(now - timedelta(days=RECYCLE_BIN_DAYS)))

    # Dispatch ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return self.admin.handle(request)
        if path.rstrip("/") == TOKEN_PATH:
            return self.handle_token(request)
        if path == COMETD_PREFIX or path.startswith(COMETD_PREFIX + "/"):
            return self.streaming.handle(request)
        if path.rstrip("/") == DATA_PATH or path.startswith(DATA_PATH + "/"):
            response = self.handle_rest(request)
            if "Sforce-Limit-Info" not in response.headers:
                self._with_usage(response)
            return response
        if pages.handles(path):
            return pages.handle(self, request)
        return error_response(not_found())

    def instance_url(self, request: Request) -> str:
        host = request.host or f"{self.config.host}:{self.config.port}"
        return f"https://{host}"

    def handle_token(self, request: Request) -> Response:
        endpoint = "POST oauth2/token"
        latency = self.faults.latency_seconds(oauth=True)
        if latency:
            time.sleep(latency)
        status = self.faults.error_status(oauth=True)
        if status:
            self.log.record(endpoint, None, status, login=True)
            return error_response(injected_error(status))
        form = {k: v[0] for k, v in parse_qs(request.query_string).items()}
        if request.body:
            body_form = parse_qs(request.body.decode("utf-8", "replace"))
            form.update({k: v[0] for k, v in body_form.items()})
        try:
            if request.method != "POST":
                raise OAuthError("invalid_request", "must use HTTP POST")
            response = Response(200, self.auth.issue(form, self.instance_url(request)))
        except OAuthError as error:
            response = Response(error.status, error.body())
        self.log.record(endpoint, None, response.status, login=True)
        return response

    def handle_rest(self, request: Request) -> Response:
        segments = [s for s in request.path.split("/") if s][2:]
        if not segments:
            return Response(200, versions())
        match = _VERSION_RE.match(segments[0])
        if not match or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
            return error_response(not_found())
        version = f"{match.group(1)}.0"
        method = request.method

        route_error: SalesforceError | None = None
        try:
            route, args, handler = resolve(method, segments[1:])
            endpoint = route.endpoint(method, args)
        except SalesforceError as error:
            route_error = error
            endpoint = unknown_endpoint(method, error)

        today = self.clock.today()
        try:
            principal = self.auth.authenticate(request.header("Authorization"))
        except SalesforceError as error:
            self.log.record(endpoint, None, error.status)
            return self._with_usage(error_response(error))
        username = principal.username

        if self.faults.api_limit_reached() or self.usage.exhausted(today):
            response = error_response(request_limit_exceeded())
        elif route_error is not None:
            self.usage.count(today)
            response = error_response(route_error)
        else:
            latency = self.faults.latency_seconds()
            if latency:
                time.sleep(latency)
            status = self.faults.error_status()
            if status:
                response = error_response(injected_error(status))
            else:
                self.usage.count(today)
                call = Call(
                    request, version, principal, self, args, CallStamp(self.store, self.clock)
                )
                write = self.faults.write_faults() if handler in WRITE_HANDLERS else WriteFaults()
                response = self._respond(handler, call, write)
        self.log.record(endpoint, username, response.status)
        return self._with_usage(response)

    def _respond(self, handler: Handler, call: Call, write: WriteFaults) -> Response:
        """Run the handler, with the write-call faults around it. The waits hold no lock:
        each request has its own thread, and other calls go on meanwhile."""
        with ExitStack() as stack:
            if write.late_commit_ms:
                # The transaction starts now: it is stamped on arrival, and getUpdated and
                # getDeleted know it is in flight until it commits.
                stack.enter_context(self.in_flight.holding(call.stamp.take()))
            delay_ms = write.late_commit_ms + write.apply_late_ms
            if delay_ms:
                stack.enter_context(self._waiting())
                time.sleep(delay_ms / 1000)
            try:
                response = handler(call)
            except SalesforceError as error:
                response = error_response(error)
        # Applied and committed; only the answer goes missing.
        response.drop_connection = write.lose_answer
        return response

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        with self._waiting_lock:
            self._waiting_writes += 1
        try:
            yield
        finally:
            with self._waiting_lock:
                self._waiting_writes -= 1

    @property
    def waiting_writes(self) -> int:
        """Write calls held back by late_commit or apply_late right now."""
        with self._waiting_lock:
            return self._waiting_writes

    def _with_usage(self, response: Response) -> Response:
        response.headers["Sforce-Limit-Info"] = self.usage.header(self.clock.today())
        return response
