"""The Streaming API: Bayeux over HTTPS with requests, and change events of Task writes.

Each test shortens the long poll (`set_streaming(timeout_ms=...)`) after the fixture's reset.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from sfemulator.sftime import parse_datetime
from tests.sfemu import EmulatorProcess, SalesforceEmulator, trusting_session

CHANNEL = "/data/TaskChangeEvent"
INVALID_REPLAY = (
    "400::The replayId {%s} you provided was invalid.  Please provide a valid ID, -2 to "
    "replay all events, or -1 to replay only new events."
)


class Bayeux:
    """A minimal long-polling Bayeux client over requests, to check the wire format."""

    def __init__(self, emulator: SalesforceEmulator, token: str | None = None) -> None:
        self.emulator = emulator
        self.url = emulator.cometd_url()
        self.http = emulator.requests_session()
        self.token = token if token is not None else emulator.token()["access_token"]
        self.client_id: str | None = None
        self._ids = 0

    def send(self, message: dict[str, Any], timeout: float = 30) -> list[dict[str, Any]]:
        self._ids += 1
        message = {"id": str(self._ids), **message}
        if self.client_id and message["channel"] != "/meta/handshake":
            message.setdefault("clientId", self.client_id)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.http.post(self.url, json=[message], headers=headers, timeout=timeout)
        assert response.status_code == 200, response.text
        return response.json()

    def reply(self, messages: list[dict[str, Any]], channel: str) -> dict[str, Any]:
        return next(m for m in messages if m["channel"] == channel)

    def handshake(self) -> dict[str, Any]:
        reply = self.reply(
            self.send(
                {
                    "channel": "/meta/handshake",
                    "version": "1.0",
                    "supportedConnectionTypes": ["long-polling"],
                }
            ),
            "/meta/handshake",
        )
        if reply["successful"]:
            self.client_id = reply["clientId"]
        return reply

    def subscribe(self, channel: str = CHANNEL, replay: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"channel": "/meta/subscribe", "subscription": channel}
        if replay is not None:
            message["ext"] = {"replay": {channel: replay}}
        return self.reply(self.send(message), "/meta/subscribe")

    def connect(self, timeout: float = 30) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(events, the /meta/connect reply)."""
        messages = self.send(
            {"channel": "/meta/connect", "connectionType": "long-polling"}, timeout=timeout
        )
        events = [m for m in messages if not m["channel"].startswith("/meta/")]
        return events, self.reply(messages, "/meta/connect")

    def events(self, count: int, within: float = 10) -> list[dict[str, Any]]:
        """Connect until `count` events arrived (and no more came with them)."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        while len(found) < count and time.monotonic() < deadline:
            events, reply = self.connect()
            assert reply["successful"], reply
            found.extend(events)
        assert len(found) == count, found
        return found


@pytest.fixture
def emu(sfemu_clean: SalesforceEmulator) -> SalesforceEmulator:
    sfemu_clean.set_streaming(timeout_ms=300)
    return sfemu_clean


@pytest.fixture
def sf(emu):
    return emu.simple_salesforce()


def subscribed(emu: SalesforceEmulator, replay: Any = None, channel: str = CHANNEL) -> Bayeux:
    client = Bayeux(emu)
    assert client.handshake()["successful"]
    assert client.subscribe(channel, replay)["successful"]
    return client


def header(event: dict[str, Any]) -> dict[str, Any]:
    return event["data"]["payload"]["ChangeEventHeader"]


def body(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event["data"]["payload"].items() if k != "ChangeEventHeader"}


def epoch_ms(stamp: str) -> int:
    moment = parse_datetime(stamp)
    assert moment is not None
    return int(moment.timestamp() * 1000)


def _task(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Task"}, **fields}


# The Bayeux exchange ---------------------------------------------------------------------------


def test_the_handshake_offers_long_polling_a_client_id_and_salesforces_advice(emu):
    emu.set_streaming(timeout_ms=110_000)
    reply = Bayeux(emu).handshake()

    assert reply["successful"] is True
    assert reply["supportedConnectionTypes"] == ["long-polling"]
    assert reply["version"] == "1.0"
    assert len(reply["clientId"]) >= 20
    assert reply["advice"] == {"timeout": 110_000, "interval": 0, "reconnect": "retry"}
    assert reply["ext"]["replay"] is True


def test_a_handshake_without_a_valid_token_is_denied_with_the_reason_in_ext(emu):
    bad = Bayeux(emu, token="00D000000000001!nope").handshake()
    missing = Bayeux(emu, token="").handshake()

    assert bad["successful"] is False
    assert bad["error"] == "403::Handshake denied"
    assert bad["ext"]["sfdc"]["failureReason"] == "401::Authentication invalid"
    assert bad["advice"]["reconnect"] == "none"
    assert missing["ext"]["sfdc"]["failureReason"] == "401::Request requires authentication"


def test_a_connect_after_the_token_expired_answers_401_authentication_invalid(emu):
    client = subscribed(emu)
    emu.expire_tokens()

    events, reply = client.connect()

    assert events == []
    assert reply["successful"] is False
    assert reply["error"] == "401::Authentication invalid"
    assert reply["advice"] == {"reconnect": "none", "interval": 0}


def test_an_unknown_client_is_told_to_handshake_again(emu):
    client = Bayeux(emu)
    client.client_id = "nosuchclient"

    reply = client.subscribe()

    assert reply["successful"] is False
    assert reply["error"] == "403::Unknown client"
    assert reply["advice"]["reconnect"] == "handshake"


def test_a_client_that_stops_polling_is_forgotten_after_the_max_interval(emu):
    emu.set_streaming(max_interval_ms=200)
    client = subscribed(emu)
    time.sleep(0.4)

    _, reply = client.connect()

    assert reply["error"] == "403::Unknown client"


def test_a_connect_with_nothing_to_deliver_is_held_until_the_timeout(emu):
    client = subscribed(emu)

    started = time.monotonic()
    events, reply = client.connect()

    assert 0.25 <= time.monotonic() - started < 3
    assert events == []
    assert reply["successful"] is True
    assert reply["advice"]["timeout"] == 300


def test_a_connect_that_asks_for_timeout_0_is_answered_at_once(emu):
    emu.set_streaming(timeout_ms=20_000)
    client = subscribed(emu)

    started = time.monotonic()
    messages = client.send(
        {"channel": "/meta/connect", "connectionType": "long-polling", "advice": {"timeout": 0}}
    )

    assert time.monotonic() - started < 2
    assert client.reply(messages, "/meta/connect")["successful"] is True


def test_a_reset_sends_a_held_connect_back_to_handshake(emu):
    emu.set_streaming(timeout_ms=20_000)
    client = subscribed(emu)
    timer = threading.Timer(0.3, emu.reset)
    timer.start()

    started = time.monotonic()
    _, reply = client.connect()
    timer.join()

    assert time.monotonic() - started < 3
    assert reply["error"] == "403::Unknown client"
    assert reply["advice"]["reconnect"] == "handshake"


def test_a_held_connect_returns_as_soon_as_a_task_commits(emu, sf):
    emu.set_streaming(timeout_ms=20_000)
    client = subscribed(emu)
    timer = threading.Timer(0.3, lambda: sf.Task.create({"Subject": "wake up"}))
    timer.start()

    started = time.monotonic()
    events, reply = client.connect()
    timer.join()

    assert time.monotonic() - started < 3
    assert reply["successful"] is True
    assert [body(e)["Subject"] for e in events] == ["wake up"]


def test_one_commit_wakes_every_held_connect(emu, sf):
    emu.set_streaming(timeout_ms=20_000)
    clients = [subscribed(emu) for _ in range(4)]
    results: list[list[dict[str, Any]]] = []
    threads = [threading.Thread(target=lambda c=c: results.append(c.connect()[0])) for c in clients]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while emu.streaming()["held_connects"] < 4 and time.monotonic() < deadline:
        time.sleep(0.02)

    started = time.monotonic()
    sf.Task.create({"Subject": "for everyone"})
    for thread in threads:
        thread.join(timeout=10)

    assert time.monotonic() - started < 3
    assert [[body(e)["Subject"] for e in events] for events in results] == [["for everyone"]] * 4


def test_a_client_that_hangs_up_during_a_held_connect_is_let_go_and_loses_nothing(emu, sf):
    emu.set_streaming(timeout_ms=20_000)
    client = subscribed(emu)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.connect(timeout=0.3)
    deadline = time.monotonic() + 5
    while emu.streaming()["held_connects"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emu.streaming()["held_connects"] == 0

    sf.Task.create({"Subject": "after the hang-up"})

    assert [body(e)["Subject"] for e in client.events(1)] == ["after the hang-up"]


def test_unsubscribe_stops_delivery_and_disconnect_forgets_the_client(emu, sf):
    client = subscribed(emu)
    assert client.send({"channel": "/meta/unsubscribe", "subscription": CHANNEL})[0]["successful"]
    sf.Task.create({"Subject": "nobody listens"})

    events, _ = client.connect()
    assert events == []

    assert client.send({"channel": "/meta/disconnect"})[0]["successful"] is True
    _, reply = client.connect()
    assert reply["error"] == "403::Unknown client"


def test_subscribing_to_a_channel_that_does_not_exist_is_refused(emu):
    client = Bayeux(emu)
    client.handshake()

    reply = client.subscribe("/data/AccountChangeEvent")

    assert reply["successful"] is False
    assert reply["error"] == (
        "400::The channel you requested to subscribe to does not exist {/data/AccountChangeEvent}"
    )


def test_the_endpoint_needs_a_supported_api_version(emu):
    session = emu.requests_session()
    message = [{"channel": "/meta/handshake", "id": "1"}]

    missing = session.post(f"{emu.base_url}/cometd", json=message, timeout=10)
    old = session.post(f"{emu.base_url}/cometd/30.0", json=message, timeout=10)

    assert missing.status_code == 400
    assert missing.json()[0]["error"].startswith("400::API version in the URI is mandatory.")
    assert old.json()[0]["error"].startswith("400::Unsupported API version.")


def test_streaming_costs_no_api_calls_but_the_handshake(emu, sf):
    before = emu.request_log()
    client = subscribed(emu)
    sf.Task.create({"Subject": "counted once"})
    client.events(1)
    client.connect()
    after = emu.request_log()

    # The create is one REST call; the handshake the other. Subscribe and connects: none.
    assert after["api_usage"] - before["api_usage"] == 2
    assert after["by_endpoint"]["POST cometd/meta/handshake"] == 1


# Event shapes -------------------------------------------------------------------------------


def test_a_create_event_carries_every_non_null_field_and_salesforces_header(emu, sf):
    client = subscribed(emu)
    task_id = sf.Task.create({"Subject": "Call Acme", "ActivityDate": "2026-12-01"})["id"]
    record = sf.Task.get(task_id)

    (event,) = client.events(1)

    assert event["channel"] == CHANNEL
    assert set(event["data"]) == {"schema", "payload", "event"}
    assert isinstance(event["data"]["event"]["replayId"], int)
    assert header(event) == {
        "entityName": "Task",
        "recordIds": [task_id],
        "changeType": "CREATE",
        "changedFields": [],
        "changeOrigin": "com/salesforce/api/rest/59.0",
        "transactionKey": header(event)["transactionKey"],
        "sequenceNumber": 1,
        "commitTimestamp": epoch_ms(record["SystemModstamp"]),
        "commitNumber": header(event)["commitNumber"],
        "commitUser": emu.integration_user_id,
    }
    fields = body(event)
    assert fields["Subject"] == "Call Acme"
    assert fields["ActivityDate"] == "2026-12-01"
    assert fields["Status"] == "Not Started"
    assert fields["IsClosed"] is False
    assert fields["OwnerId"] == emu.integration_user_id
    assert fields["CreatedDate"] == record["CreatedDate"].replace(".000+0000", ".000Z")
    assert not {"Id", "IsDeleted", "SystemModstamp", "Description"} & set(fields)


def test_an_update_event_carries_only_the_changed_fields_and_last_modified_date(emu, sf):
    task_id = sf.Task.create({"Subject": "Call Acme"})["id"]
    client = subscribed(emu)

    sf.Task.update(task_id, {"Status": "Completed", "Subject": "Call Acme"})
    (event,) = client.events(1)

    record = sf.Task.get(task_id)
    assert header(event)["changeType"] == "UPDATE"
    assert header(event)["changedFields"] == [
        "Status",
        "IsClosed",
        "CompletedDateTime",
        "LastModifiedDate",
    ]
    assert body(event) == {
        "Status": "Completed",
        "IsClosed": True,
        "CompletedDateTime": record["CompletedDateTime"].replace("+0000", "Z"),
        "LastModifiedDate": record["LastModifiedDate"].replace("+0000", "Z"),
    }


def test_an_update_that_clears_a_field_sends_it_as_null(emu, sf):
    task_id = sf.Task.create({"Subject": "Call Acme", "Description": "notes"})["id"]
    client = subscribed(emu)

    sf.Task.update(task_id, {"Description": None})
    (event,) = client.events(1)

    assert header(event)["changedFields"] == ["Description", "LastModifiedDate"]
    assert body(event)["Description"] is None


def test_delete_sends_only_the_header_and_undelete_every_field(emu, sf):
    task_id = sf.Task.create({"Subject": "Call Acme"})["id"]
    client = subscribed(emu)

    sf.Task.delete(task_id)
    emu.undelete([task_id])
    deleted, undeleted = client.events(2)

    assert header(deleted)["changeType"] == "DELETE"
    assert header(deleted)["recordIds"] == [task_id]
    assert body(deleted) == {}
    assert header(undeleted)["changeType"] == "UNDELETE"
    assert header(undeleted)["changeOrigin"] == ""
    assert body(undeleted)["Subject"] == "Call Acme"
    assert sf.Task.get(task_id)["IsDeleted"] is False


def test_the_changes_of_one_call_share_a_transaction_key_and_count_their_sequence(emu, sf):
    client = subscribed(emu)

    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": True, "records": [_task(Subject=f"task {n}") for n in range(3)]},
    )
    events = client.events(3)

    headers = [header(e) for e in events]
    assert [h["recordIds"] for h in headers] == [[r["id"]] for r in results]
    assert len({h["transactionKey"] for h in headers}) == 1
    assert [h["sequenceNumber"] for h in headers] == [1, 2, 3]
    assert len({h["commitTimestamp"] for h in headers}) == 1
    assert len({h["commitNumber"] for h in headers}) == 1
    replay_ids = [e["data"]["event"]["replayId"] for e in events]
    assert replay_ids == sorted(replay_ids) and len(set(replay_ids)) == 3


def test_the_same_change_to_several_records_in_one_call_is_one_event(emu, sf):
    ids = [sf.Task.create({"Subject": f"task {n}"})["id"] for n in range(2)]
    client = subscribed(emu)

    sf.restful(f"composite/sobjects?ids={','.join(ids)}", method="DELETE")
    (event,) = client.events(1)

    assert header(event)["changeType"] == "DELETE"
    assert header(event)["recordIds"] == ids


def test_a_rolled_back_write_publishes_nothing(emu, sf):
    client = subscribed(emu)

    sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": True, "records": [_task(Subject="ok"), _task(Status="Bogus")]},
    )
    sf.Task.create({"Subject": "after"})

    assert [body(e)["Subject"] for e in client.events(1)] == ["after"]


def test_a_rolled_back_part_of_a_composite_call_leaves_the_calls_other_events_whole(emu, sf):
    # The emulator keeps what a transaction has published between its changes: a subrequest
    # rolled back in the middle (an allOrNone collection) must take back only its own part of
    # an event it had merged into, and the sequence goes on from what is left.
    ids = [sf.Task.create({"Subject": f"task {n}"})["id"] for n in range(4)]
    client = subscribed(emu)
    data = "/services/data/v59.0/"

    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "DELETE",
                    "url": f"{data}composite/sobjects?ids={ids[0]}&allOrNone=false",
                    "referenceId": "first",
                },
                {
                    "method": "DELETE",
                    "url": f"{data}composite/sobjects?ids={ids[1]},001000000000000AAA"
                    "&allOrNone=true",
                    "referenceId": "rolledBack",
                },
                {
                    "method": "DELETE",
                    "url": f"{data}composite/sobjects?ids={ids[2]}&allOrNone=false",
                    "referenceId": "third",
                },
                {
                    "method": "POST",
                    "url": f"{data}sobjects/Task",
                    "referenceId": "created",
                    "body": {"Subject": "made"},
                },
            ],
        },
    )
    assert [a["body"][0]["success"] for a in answer["compositeResponse"][:3]] == [
        True,
        False,
        True,
    ]
    deleted, created = client.events(2)

    assert header(deleted)["recordIds"] == [ids[0], ids[2]]
    assert [header(deleted)["sequenceNumber"], header(created)["sequenceNumber"]] == [1, 2]
    assert body(created)["Subject"] == "made"
    assert sf.Task.get(ids[1])["IsDeleted"] is False


def test_the_sforce_call_options_client_is_named_in_the_change_origin(emu):
    session = emu.requests_session()
    token = emu.token()["access_token"]
    client = subscribed(emu)

    session.post(
        emu.data_url("sobjects/Task/"),
        json={"Subject": "from cockpit"},
        headers={"Authorization": f"Bearer {token}", "Sforce-Call-Options": "client=cockpit"},
        timeout=10,
    ).raise_for_status()
    (event,) = client.events(1)

    assert header(event)["changeOrigin"] == "com/salesforce/api/rest/59.0;client=cockpit"


def test_the_commit_user_is_the_user_whose_session_wrote(emu):
    alice = emu.simple_salesforce(username="alice@example.com.sfemu", password="sfemu-Passw0rd")
    client = subscribed(emu)

    alice.Task.create({"Subject": "mine"})
    (event,) = client.events(1)

    alice_id = alice.query("SELECT Id FROM User WHERE Username = 'alice@example.com.sfemu'")
    assert header(event)["commitUser"] == alice_id["records"][0]["Id"]


def test_the_all_changes_channel_carries_task_events_too(emu, sf):
    client = subscribed(emu, channel="/data/ChangeEvents")

    sf.Task.create({"Subject": "everywhere"})
    (event,) = client.events(1)

    assert event["channel"] == "/data/ChangeEvents"
    assert header(event)["entityName"] == "Task"


# Replay -------------------------------------------------------------------------------------


def test_replay_minus_one_gets_only_new_events_and_minus_two_every_retained_one(emu, sf):
    sf.Task.create({"Subject": "old"})
    new_only = subscribed(emu, replay=-1)
    everything = subscribed(emu, replay=-2)
    sf.Task.create({"Subject": "new"})

    assert [body(e)["Subject"] for e in new_only.events(1)] == ["new"]
    assert [body(e)["Subject"] for e in everything.events(2)] == ["old", "new"]


def test_a_stored_replay_id_resumes_after_that_event(emu, sf):
    for n in range(3):
        sf.Task.create({"Subject": f"task {n}"})
    first = subscribed(emu, replay=-2).events(3)[0]

    resumed = subscribed(emu, replay=first["data"]["event"]["replayId"])

    assert [body(e)["Subject"] for e in resumed.events(2)] == ["task 1", "task 2"]


def test_a_replay_id_that_is_not_available_is_refused_with_salesforces_error(emu, sf):
    sf.Task.create({"Subject": "one"})
    latest = emu.latest_replay_id()
    client = Bayeux(emu)
    client.handshake()

    future = client.subscribe(CHANNEL, latest + 100)
    not_a_number = client.subscribe(CHANNEL, "abc")
    missing = client.send(
        {"channel": "/meta/subscribe", "subscription": CHANNEL, "ext": {"replay": {"/x": 1}}}
    )[0]

    assert future == {
        "channel": "/meta/subscribe",
        "id": future["id"],
        "clientId": client.client_id,
        "subscription": CHANNEL,
        "successful": False,
        "error": INVALID_REPLAY % (latest + 100),
    }
    assert not_a_number["error"] == INVALID_REPLAY % "abc"
    assert missing["error"].startswith("400::The replayId for channel {/data/TaskChangeEvent}")


def test_events_are_kept_72_hours_by_the_emulators_clock(emu, sf):
    sf.Task.create({"Subject": "old"})
    old_replay_id = emu.latest_replay_id()
    emu.set_clock_offset(71 * 3600)
    emu.simple_salesforce().Task.create({"Subject": "recent"})  # tokens live 2 hours
    assert subscribed(emu, replay=old_replay_id - 1).events(2)

    emu.set_clock_offset(73 * 3600)
    client = Bayeux(emu)
    client.handshake()

    assert client.subscribe(CHANNEL, old_replay_id - 1)["error"] == INVALID_REPLAY % (
        old_replay_id - 1
    )
    assert client.subscribe(CHANNEL, old_replay_id)["successful"] is True
    assert emu.streaming()["retained_events"] == 1


def test_only_the_newest_max_events_are_retained(emu, sf):
    emu.set_streaming(max_events=2)
    for n in range(3):
        sf.Task.create({"Subject": f"task {n}"})

    retained = subscribed(emu, replay=-2).events(2)

    assert [body(e)["Subject"] for e in retained] == ["task 1", "task 2"]
    assert emu.streaming()["earliest_replay_id"] == retained[0]["data"]["event"]["replayId"]


# Gaps, overflow and late commits --------------------------------------------------------------


def test_the_gap_fault_turns_the_next_change_events_into_gap_events(emu, sf):
    task_id = sf.Task.create({"Subject": "Call Acme"})["id"]
    client = subscribed(emu)
    emu.set_faults(stream_gap_next=1)

    sf.Task.update(task_id, {"Subject": "changed"})
    sf.Task.update(task_id, {"Subject": "changed again"})
    gap, normal = client.events(2)

    assert header(gap)["changeType"] == "GAP_UPDATE"
    assert header(gap)["recordIds"] == [task_id]
    assert header(gap)["changedFields"] == []
    assert body(gap) == {}
    assert header(normal)["changeType"] == "UPDATE"


def test_the_admin_hook_publishes_a_gap_event(emu, sf):
    task_id = sf.Task.create({"Subject": "Call Acme"})["id"]
    client = subscribed(emu)

    emu.force_stream_gap([task_id], change_type="DELETE")
    (event,) = client.events(1)

    assert header(event)["changeType"] == "GAP_DELETE"
    assert header(event)["recordIds"] == [task_id]
    assert header(event)["sequenceNumber"] == 1


def test_changes_past_the_overflow_threshold_become_one_overflow_event(emu, sf):
    emu.set_streaming(overflow_threshold=2)
    client = subscribed(emu)

    sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [_task(Subject=f"task {n}") for n in range(4)]},
    )
    events = client.events(3)

    assert [header(e)["changeType"] for e in events] == ["CREATE", "CREATE", "GAP_OVERFLOW"]
    overflow = header(events[2])
    assert overflow["recordIds"] == []
    assert overflow["entityName"] == "Task"
    assert overflow["transactionKey"] == header(events[0])["transactionKey"]
    assert body(events[2]) == {}


def test_a_late_commit_is_published_when_it_commits_with_its_older_timestamp(emu, sf):
    emu.set_faults(late_commit_next=1, late_commit_ms=1000)
    client = subscribed(emu)
    late_client = emu.simple_salesforce()
    late = threading.Thread(target=lambda: late_client.Task.create({"Subject": "late"}))
    late.start()
    try:
        emu.wait_for_waiting_writes(1)
        emu.set_clock_offset(10)
        sf.Task.create({"Subject": "early"})
        events = client.events(2)
    finally:
        late.join(timeout=10)
        emu.wait_for_waiting_writes(0)

    assert [body(e)["Subject"] for e in events] == ["early", "late"]
    assert header(events[1])["commitTimestamp"] < header(events[0])["commitTimestamp"]


# Restart -------------------------------------------------------------------------------------


def test_a_client_resumes_from_its_replay_id_after_the_emulator_restarts(tmp_path):
    process = EmulatorProcess(tmp_path)
    process.start()
    try:
        emu = SalesforceEmulator(process)
        emu.set_streaming(timeout_ms=300)
        sf = emu.simple_salesforce()
        sf.Task.create({"Subject": "before"})
        seen = subscribed(emu, replay=-2).events(1)[0]["data"]["event"]["replayId"]
        sf.Task.create({"Subject": "while away"})

        emu.restart()
        emu.set_streaming(timeout_ms=300)
        stale = Bayeux(emu)
        stale.client_id = "from-before-the-restart"
        assert stale.subscribe()["error"] == "403::Unknown client"
        resumed = subscribed(emu, replay=seen)

        assert [body(e)["Subject"] for e in resumed.events(1)] == ["while away"]
    finally:
        process.stop()


def test_the_emulator_session_uses_a_trusting_https_session(emu):
    # The CometD endpoint is served over the same TLS as REST: the CA alone is trusted.
    response = trusting_session(emu.ca_path).post(
        emu.cometd_url(), json=[{"channel": "/meta/handshake"}], timeout=10
    )
    assert response.json()[0]["error"] == "403::Handshake denied"
