"""A Bayeux (CometD) long-polling client for Salesforce's Streaming API: change events.

Only what the change-event listener needs: handshake, subscribe with the replay extension,
connect (long poll), disconnect. It rides on the connection's logged-in REST client (its
session, its CA bundle, its token), so no second login and no second trust store. Salesforce
counts only the handshake against the daily API limit.
"""

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import requests

from .client import AuthError, SalesforceClient, TransientError, UncertainError, classify
from .sf_types import TASK_SOBJECT

log = logging.getLogger(__name__)

CHANGE_EVENTS = f"/data/{TASK_SOBJECT}ChangeEvent"
# How long a connect may wait for an answer beyond the server's own long-poll timeout.
POLL_MARGIN = 15.0
DEFAULT_SERVER_TIMEOUT = 110.0


class ReplayUnavailableError(Exception):
    """The stored replay id is no longer retained (older than 72 hours, or unknown)."""


class UnknownClientError(Exception):
    """The server forgot this client (restart, expiry): handshake and subscribe again."""


@dataclass
class ChangeEvent:
    replay_id: int
    header: dict[str, Any]
    fields: dict[str, Any]

    @property
    def change_type(self) -> str:
        return str(self.header.get("changeType", ""))


class CometdSession:
    def __init__(self, client: SalesforceClient, *, channel: str = CHANGE_EVENTS) -> None:
        self.client = client
        self.channel = channel
        self.client_id = ""
        self.server_timeout = DEFAULT_SERVER_TIMEOUT
        self._ids = itertools.count(1)
        self._url = ""
        self._token = ""

    def _post(self, messages: list[dict[str, Any]], *, timeout: float) -> list[dict[str, Any]]:
        for message in messages:
            message["id"] = str(next(self._ids))
            if self.client_id and message["channel"] != "/meta/handshake":
                message["clientId"] = self.client_id
        try:
            response = self.client.session.post(
                self._url,
                json=messages,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=timeout,
            )
        except requests.exceptions.RequestException as exc:
            raise classify(exc) from exc
        if response.status_code == 401:
            raise AuthError("Streaming API: session refused", status=401)
        if response.status_code >= 500:
            raise TransientError(f"Streaming API answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise UncertainError("Streaming API sent an answer that is not JSON") from exc
        for reply in answer:
            error = str(reply.get("error") or "")
            if reply.get("channel", "").startswith("/meta/") and reply.get("successful") is False:
                if error.startswith("401::") or "401::" in str(reply.get("ext", "")):
                    raise AuthError(f"Streaming API: {error or 'authentication invalid'}")
                if error.startswith("403::Unknown client"):
                    raise UnknownClientError(error)
                if error.startswith("400::The replayId"):
                    raise ReplayUnavailableError(error)
                if error.startswith("403::Handshake denied"):
                    raise AuthError(f"Streaming API: {error}")
                raise TransientError(f"Streaming API {reply.get('channel')}: {error}")
        return list(answer)

    def handshake(self, *, fresh_token: bool = False) -> None:
        instance_url, self._token = self.client.bearer(fresh=fresh_token)
        self._url = f"{instance_url}/cometd/{self.client.creds.api_version}"
        self.client_id = ""
        reply = self._post(
            [
                {
                    "channel": "/meta/handshake",
                    "version": "1.0",
                    "minimumVersion": "1.0",
                    "supportedConnectionTypes": ["long-polling"],
                    "ext": {"replay": True},
                }
            ],
            timeout=self.client.creds.timeout,
        )[0]
        self.client_id = reply["clientId"]
        advice = reply.get("advice") or {}
        if advice.get("timeout"):
            self.server_timeout = float(advice["timeout"]) / 1000

    def subscribe(self, replay_id: int) -> None:
        """Subscribe from after `replay_id` (-1: new events only, -2: all retained)."""
        self._post(
            [
                {
                    "channel": "/meta/subscribe",
                    "subscription": self.channel,
                    "ext": {"replay": {self.channel: replay_id}},
                }
            ],
            timeout=self.client.creds.timeout,
        )

    def connect(self, *, wait: bool = True) -> list[ChangeEvent]:
        """The events that arrived (waits up to the server's long-poll timeout when `wait`)."""
        message: dict[str, Any] = {"channel": "/meta/connect", "connectionType": "long-polling"}
        if not wait:
            message["advice"] = {"timeout": 0}
        answer = self._post([message], timeout=self.server_timeout + POLL_MARGIN)
        events = []
        for item in answer:
            if item.get("channel") != self.channel:
                continue
            data = item.get("data") or {}
            payload = dict(data.get("payload") or {})
            header = payload.pop("ChangeEventHeader", {}) or {}
            events.append(ChangeEvent(int(data["event"]["replayId"]), header, payload))
        return events

    def disconnect(self) -> None:
        if not self.client_id:
            return
        try:
            self._post([{"channel": "/meta/disconnect"}], timeout=self.client.creds.timeout)
        except Exception:  # noqa: BLE001 - leaving anyway; the server forgets idle clients
            log.info("Streaming API disconnect failed; the server forgets the client later")
        self.client_id = ""
