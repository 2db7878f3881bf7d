"""The Streaming API: a Bayeux 1.0 (CometD) server at `/cometd/<version>`, long-polling only.

Handshake, connect, subscribe, unsubscribe and disconnect, with Salesforce's `replay`
extension and error strings. A /meta/connect with nothing to deliver is held until an event
commits (the change events' condition wakes it) or until the timeout; each held connect blocks
its own server thread only (the server is a ThreadingHTTPServer). A client that closes its
connection while its connect is held is noticed within half a second, and the events that
would have gone to it stay undelivered (its session's cursors do not move).

Authentication is the REST API's: `Authorization: Bearer <token>` (or `OAuth <token>`) on
every request. Only a successful handshake counts against the daily API allowance, and it is
the only streaming call the request log shows; connects, subscribes and deliveries cost
nothing, as in Salesforce.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sfemulator.auth import Principal
from sfemulator.changes import InvalidReplayId, channel_entities
from sfemulator.config import MAX_VERSION
from sfemulator.errors import SalesforceError
from sfemulator.protocol import Request, Response

if TYPE_CHECKING:
    from sfemulator.app import Emulator

PREFIX = "/cometd"
MIN_STREAMING_VERSION = 37
LONG_POLLING = "long-polling"
# At most this many events in one /meta/connect answer; the rest go in the next one.
MAX_BATCH = 1000
# How often a held connect looks whether its client is still there.
_LIVENESS_CHECK_SECONDS = 0.5
_VERSION_RE = re.compile(r"^(\d+)\.0$")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

Message = dict[str, Any]


def _uri_format() -> str:
    return f"URI format: '/cometd/{MAX_VERSION}.0'"


def invalid_replay_error(replay_id: Any) -> str:
    return (
        f"400::The replayId {{{replay_id}}} you provided was invalid.  Please provide a valid "
        "ID, -2 to replay all events, or -1 to replay only new events."
    )


@dataclass
class Session:
    client_id: str
    user_id: str
    # Channel -> the replay id of the last event delivered (or skipped) on it.
    subscriptions: dict[str, int] = field(default_factory=dict)
    # Monotonic time of the end of the client's last request.
    last_seen: float = field(default_factory=time.monotonic)
    held_connects: int = 0
    # Each connect takes the next generation; an older connect still held then returns.
    generation: int = 0
    # Ended by the client (/meta/disconnect), or forgotten by the server (expired, reset).
    disconnected: bool = False
    forgotten: bool = False


class Streaming:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.changes = emulator.changes
        self.settings = emulator.stream_settings
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._handshakes = 0
        self._delivered = 0
        self._hung_up = 0

    def reset(self) -> None:
        """Forget every client (their next message gets 403::Unknown client)."""
        with self._lock:
            for session in self._sessions.values():
                session.forgotten = True
            self._sessions.clear()
        self._wake_all()

    def info(self) -> dict[str, Any]:
        with self._lock:
            self._expire()
            return {
                "sessions": len(self._sessions),
                "held_connects": sum(s.held_connects for s in self._sessions.values()),
                "handshakes": self._handshakes,
                "delivered_events": self._delivered,
                # Held connects whose client closed the connection before the answer.
                "hung_up_connects": self._hung_up,
                "subscriptions": {
                    s.client_id: dict(s.subscriptions) for s in self._sessions.values()
                },
            }

    # The HTTP exchange ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        messages = self._messages(request)
        if isinstance(messages, Response):
            return messages
        version = self._version_error(request.path)
        if version is not None:
            return Response(400, [self._failure(m, version) for m in messages])
        authorization = request.header("Authorization")
        auth_error: str | None = None
        principal: Principal | None = None
        try:
            principal = self.emulator.auth.authenticate(authorization)
        except SalesforceError:
            auth_error = (
                "401::Authentication invalid"
                if authorization
                else "401::Request requires authentication"
            )
        replies: list[Message] = []
        connects = [m for m in messages if m.get("channel") == "/meta/connect"]
        for message in [m for m in messages if m.get("channel") != "/meta/connect"] + connects:
            if principal is None:
                replies.append(self._auth_failure(message, auth_error or ""))
                continue
            reply = self._dispatch(message, principal, request)
            if reply is None:  # the client went away while its connect was held
                return Response(200, drop_connection=True)
            replies.extend(reply)
        return Response(200, replies)

    def _messages(self, request: Request) -> list[Message] | Response:
        if request.method != "POST":
            return Response(400, [{"successful": False, "error": "400::Only POST is supported"}])
        try:
            body = request.json()
        except SalesforceError:
            return Response(400, [{"successful": False, "error": "400::Invalid JSON message"}])
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not all(isinstance(m, dict) for m in body):
            return Response(400, [{"successful": False, "error": "400::Invalid JSON message"}])
        return body

    def _version_error(self, path: str) -> str | None:
        rest = path[len(PREFIX) :].strip("/")
        if not rest:
            return f"400::API version in the URI is mandatory. {_uri_format()}"
        match = _VERSION_RE.match(rest)
        if not match or not MIN_STREAMING_VERSION <= int(match.group(1)) <= MAX_VERSION:
            return (
                f"400::Unsupported API version. Only API versions "
                f"'{MIN_STREAMING_VERSION}.0' and later are supported. {_uri_format()}"
            )
        return None

    def _dispatch(
        self, message: Message, principal: Principal, request: Request
    ) -> list[Message] | None:
        channel = message.get("channel")
        if channel == "/meta/handshake":
            return [self._handshake(message, principal)]
        session = self._session(message.get("clientId"))
        if session is None:
            return [self._unknown_client(message)]
        try:
            if channel == "/meta/connect":
                return self._connect(message, session, request)
            if channel == "/meta/subscribe":
                return [self._subscribe(message, session)]
            if channel == "/meta/unsubscribe":
                return [self._unsubscribe(message, session)]
            if channel == "/meta/disconnect":
                return [self._disconnect(message, session)]
            return [self._failure(message, "403::Publish denied", session)]
        finally:
            with self._lock:
                session.last_seen = time.monotonic()

    # Meta channels ------------------------------------------------------------------------

    def _handshake(self, message: Message, principal: Principal) -> Message:
        client_id = "".join(secrets.choice(_ALPHABET) for _ in range(27))
        with self._lock:
            self._expire()
            self._sessions[client_id] = Session(client_id, principal.user_id)
            self._handshakes += 1
        emulator = self.emulator
        # Salesforce counts the handshake as an API call; nothing else of streaming.
        emulator.usage.count(emulator.clock.today())
        emulator.log.record("POST cometd/meta/handshake", principal.username, 200)
        return {
            **_echo(message),
            "version": "1.0",
            "minimumVersion": "1.0",
            "supportedConnectionTypes": [LONG_POLLING],
            "clientId": client_id,
            "successful": True,
            "advice": self._advice(),
            "ext": {"replay": True, "payload.format": True},
        }

    def _subscribe(self, message: Message, session: Session) -> Message:
        channel = message.get("subscription")
        if not isinstance(channel, str) or not channel:
            return self._failure(message, "400::Channel name not specified", session)
        if not channel.startswith("/"):
            return self._failure(
                message, "400::Channel subscriptions must start with a leading '/'", session
            )
        if channel_entities(channel) is None:
            return self._failure(
                message,
                f"400::The channel you requested to subscribe to does not exist {{{channel}}}",
                session,
            )
        ext = message.get("ext")
        replay_map = ext.get("replay") if isinstance(ext, dict) else None
        replay: Any = -1
        if isinstance(replay_map, dict):
            if channel not in replay_map:
                shown = ", ".join(f"{k}={v}" for k, v in replay_map.items())
                return self._failure(
                    message,
                    f"400::The replayId for channel {{{channel}}} wasn't found using the "
                    f"provided replay ID map {{{{{shown}}}}}. Ensure that the channel name you "
                    "provided in the replay map is valid and matches the channel name used "
                    "for subscribing.",
                    session,
                )
            replay = replay_map[channel]
        if not isinstance(replay, int) or isinstance(replay, bool):
            return self._failure(message, invalid_replay_error(replay), session)
        with self._lock:
            try:
                cursor = self.changes.cursor_for(replay)
            except InvalidReplayId:
                return self._failure(message, invalid_replay_error(replay), session)
            session.subscriptions[channel] = cursor
        self._wake_all()
        return {**_echo(message), "clientId": session.client_id, "subscription": channel,
                "successful": True}  # fmt: skip

    def _unsubscribe(self, message: Message, session: Session) -> Message:
        channel = message.get("subscription")
        with self._lock:
            if isinstance(channel, str):
                session.subscriptions.pop(channel, None)
        return {**_echo(message), "clientId": session.client_id, "subscription": channel,
                "successful": True}  # fmt: skip

    def _disconnect(self, message: Message, session: Session) -> Message:
        with self._lock:
            session.disconnected = True
            self._sessions.pop(session.client_id, None)
        self._wake_all()
        return {**_echo(message), "clientId": session.client_id, "successful": True}

    def _connect(
        self, message: Message, session: Session, request: Request
    ) -> list[Message] | None:
        connection_type = message.get("connectionType")
        if connection_type != LONG_POLLING:
            return [
                self._failure(message, f"400::Invalid connection type {connection_type}", session)
            ]
        with self._lock:
            session.generation += 1
            generation = session.generation
            session.held_connects += 1
        self._wake_all()  # an older connect of this client still held now returns
        advice = message.get("advice")
        # A client may ask not to be held (CometD's first connect sends timeout 0).
        hold = not (isinstance(advice, dict) and advice.get("timeout") == 0)
        try:
            events = self._wait_for_events(session, generation, request, hold)
        finally:
            with self._lock:
                session.held_connects -= 1
        if events is None:
            return None
        if session.forgotten:
            return [*events, self._unknown_client(message)]
        # The token may have been revoked while the connect was held.
        try:
            self.emulator.auth.authenticate(request.header("Authorization"))
        except SalesforceError:
            return [self._auth_failure(message, "401::Authentication invalid")]
        reply = {**_echo(message), "clientId": session.client_id, "successful": True,
                 "advice": self._advice()}  # fmt: skip
        if session.disconnected:
            reply["advice"] = {"reconnect": "none", "interval": 0}
        return [*events, reply]

    def _wait_for_events(
        self, session: Session, generation: int, request: Request, hold: bool
    ) -> list[Message] | None:
        """The events to deliver, as soon as there are some or at the timeout ([]), or None
        if the client went away meanwhile."""
        deadline = time.monotonic() + (self.settings.timeout_ms / 1000 if hold else 0)
        condition = self.changes.condition
        while True:
            with condition:
                seen = self.changes.version
            with self._lock:
                if session.disconnected or session.forgotten or session.generation != generation:
                    return []
                events = self._take_events(session)
            if events:
                return events
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if request.connection_lost():
                with self._lock:
                    self._hung_up += 1
                return None
            with condition:
                if self.changes.version == seen:
                    condition.wait(min(remaining, _LIVENESS_CHECK_SECONDS))

    def _take_events(self, session: Session) -> list[Message]:
        """Called with the lock held: the next events on every subscription, cursors moved."""
        out: list[Message] = []
        for channel, cursor in list(session.subscriptions.items()):
            entities = channel_entities(channel)
            if entities is None:
                continue
            rows = self.changes.after(cursor, entities, MAX_BATCH - len(out))
            for replay_id, _entity, data in rows:
                out.append({"data": data, "channel": channel})
                session.subscriptions[channel] = replay_id
            if len(out) >= MAX_BATCH:
                break
        self._delivered += len(out)
        return out

    # Helpers ------------------------------------------------------------------------------

    def _session(self, client_id: Any) -> Session | None:
        with self._lock:
            self._expire()
            return self._sessions.get(client_id) if isinstance(client_id, str) else None

    def _expire(self) -> None:
        """Called with the lock held: forget clients that stopped polling."""
        limit = time.monotonic() - self.settings.max_interval_ms / 1000
        for client_id, session in list(self._sessions.items()):
            if not session.held_connects and session.last_seen < limit:
                session.forgotten = True
                del self._sessions[client_id]

    def _wake_all(self) -> None:
        condition = self.changes.condition
        with condition:
            condition.notify_all()

    def _advice(self) -> dict[str, Any]:
        return {"timeout": self.settings.timeout_ms, "interval": 0, "reconnect": "retry"}

    def _failure(self, message: Message, error: str, session: Session | None = None) -> Message:
        reply: Message = {**_echo(message), "successful": False, "error": error}
        if session is not None:
            reply["clientId"] = session.client_id
        if "subscription" in message:
            reply["subscription"] = message["subscription"]
        return reply

    def _unknown_client(self, message: Message) -> Message:
        reply = self._failure(message, "403::Unknown client")
        if "clientId" in message:
            reply["clientId"] = message["clientId"]
        reply["advice"] = {"reconnect": "handshake", "interval": 0}
        return reply

    def _auth_failure(self, message: Message, error: str) -> Message:
        if message.get("channel") == "/meta/handshake":
            return {
                **_echo(message),
                "successful": False,
                "error": "403::Handshake denied",
                "ext": {"sfdc": {"failureReason": error}},
                "advice": {"reconnect": "none"},
            }
        reply = self._failure(message, error)
        if "clientId" in message:
            reply["clientId"] = message["clientId"]
        reply["advice"] = {"reconnect": "none", "interval": 0}
        return reply


def _echo(message: Message) -> Message:
    """The fields every reply repeats: its channel and, when given, the message id."""
    out: Message = {"channel": message.get("channel")}
    if "id" in message:
        out["id"] = message["id"]
    return out
