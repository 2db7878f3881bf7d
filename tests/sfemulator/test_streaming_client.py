"""A real third-party CometD client against the emulator's Streaming API: aiosfstream-ng
(over aiocometd-ng and aiohttp), unmodified but for where it logs in and which CA it trusts,
as simple-salesforce is for the REST API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
from typing import Any

import pytest
from aiohttp import ClientSession
from aiosfstream_ng import Client, ReplayMarker, ReplayOption
from aiosfstream_ng.auth import AuthenticatorBase

from tests.sfemu import SalesforceEmulator

CHANNEL = "/data/TaskChangeEvent"


def run_apart(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own: the browser tests' Playwright keeps an event loop
    running in the test thread for the rest of the session, where asyncio.run refuses to."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class EmulatorAuthenticator(AuthenticatorBase):
    """The client-credentials flow against the emulator's token endpoint, trusting its CA.
    (aiosfstream's own authenticators post to login.salesforce.com with the system CAs.)"""

    def __init__(self, emulator: SalesforceEmulator, context: ssl.SSLContext) -> None:
        super().__init__()
        self.emulator = emulator
        self.context = context

    async def _authenticate(self) -> tuple[int, dict[str, Any]]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.emulator.client_id,
            "client_secret": self.emulator.client_secret,
        }
        async with ClientSession() as session:
            response = await session.post(self.emulator.token_url, data=form, ssl=self.context)
            return response.status, await response.json()


@pytest.fixture
def emu(sfemu_clean: SalesforceEmulator) -> SalesforceEmulator:
    # aiocometd gives a request the server's advised timeout plus 20%: 500 ms left 100 ms for
    # a long poll's answer to come back, which a loaded machine exceeded (CI: TimeoutError);
    # 2.5 s leaves 500 ms. Events end a long poll at once, but closing a client waits for its
    # held connect to time out: each client costs the test one whole long poll.
    sfemu_clean.set_streaming(timeout_ms=2500)
    return sfemu_clean


def streaming_client(emu: SalesforceEmulator, **options: Any) -> Client:
    context = ssl.create_default_context(cafile=emu.ca_path)
    client = Client(EmulatorAuthenticator(emu, context), **options)
    client.ssl = context  # aiocometd's transports take it from here
    return client


async def receive(client: Client, count: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(client.receive(), timeout=10) for _ in range(count)]


def subjects(messages: list[dict[str, Any]]) -> list[str]:
    return [m["data"]["payload"]["Subject"] for m in messages]


def test_aiosfstream_receives_the_change_event_of_a_task_created_with_simple_salesforce(emu):
    sf = emu.simple_salesforce()

    async def scenario() -> list[dict[str, Any]]:
        async with streaming_client(emu, replay=ReplayOption.NEW_EVENTS) as client:
            await client.subscribe(CHANNEL)
            await asyncio.to_thread(sf.Task.create, {"Subject": "streamed"})
            return await receive(client, 1)

    (message,) = run_apart(scenario())

    assert message["channel"] == CHANNEL
    header = message["data"]["payload"]["ChangeEventHeader"]
    assert header["changeType"] == "CREATE"
    assert header["entityName"] == "Task"
    assert message["data"]["payload"]["Subject"] == "streamed"
    assert emu.streaming()["sessions"] == 0  # closing the client disconnected it


def test_aiosfstream_resumes_from_its_stored_replay_id(emu):
    sf = emu.simple_salesforce()
    markers: dict[str, ReplayMarker] = {}

    async def first() -> list[dict[str, Any]]:
        async with streaming_client(emu, replay=markers) as client:
            await client.subscribe(CHANNEL)
            await asyncio.to_thread(sf.Task.create, {"Subject": "seen"})
            return await receive(client, 1)

    async def second() -> list[dict[str, Any]]:
        # The mapping holds the replay id of "seen": it subscribes with it.
        async with streaming_client(emu, replay=markers) as client:
            await client.subscribe(CHANNEL)
            return await receive(client, 2)

    seen = run_apart(first())
    sf.Task.create({"Subject": "missed 1"})
    sf.Task.create({"Subject": "missed 2"})
    resumed = run_apart(second())

    assert subjects(seen) == ["seen"]
    assert markers[CHANNEL].replay_id == resumed[-1]["data"]["event"]["replayId"]
    assert subjects(resumed) == ["missed 1", "missed 2"]


def test_aiosfstream_falls_back_when_its_replay_id_is_no_longer_retained(emu):
    sf = emu.simple_salesforce()
    sf.Task.create({"Subject": "retained"})
    too_old = {CHANNEL: ReplayMarker(date="0", replay_id=emu.latest_replay_id() + 50)}

    async def scenario() -> list[dict[str, Any]]:
        options = {"replay": too_old, "replay_fallback": ReplayOption.ALL_EVENTS}
        async with streaming_client(emu, **options) as client:
            # The emulator refuses the replay id with 400::The replayId {...}; aiosfstream
            # retries the subscription with -2.
            await client.subscribe(CHANNEL)
            return await receive(client, 1)

    assert subjects(run_apart(scenario())) == ["retained"]
