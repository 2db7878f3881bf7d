"""Change Data Capture: every Task create, update, delete and undelete becomes a change event.

Events are written into the store inside the write's own transaction, so a rolled-back record
(a failed savepoint, an allOrNone rollback) publishes nothing, a late commit publishes when it
commits, and the events survive a restart with the state file. Their replay ids come from an
AUTOINCREMENT column: the store serialises transactions, so replay ids become visible in commit
order and never go backwards, while commitTimestamp is the record's SystemModstamp (older than
later commits' after a late commit, as in Salesforce).

The message shapes follow Salesforce's CometD (JSON) change events:

    {"schema": "<id>", "payload": {"ChangeEventHeader": {...}, <fields>}, "event": {"replayId": N}}

CREATE and UNDELETE carry every non-null field, UPDATE the changed fields and LastModifiedDate,
DELETE none. Id, IsDeleted and SystemModstamp are never in the body, as in Salesforce. The
changes of one API call share a transactionKey and count sequenceNumber 1..n; identical
changes to several records in one call are merged into one event with several recordIds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sfemulator.config import StreamSettings
from sfemulator.faults import Faults
from sfemulator.schema import SObjectType, sobject_type
from sfemulator.sftime import Clock, parse_datetime
from sfemulator.store import Record, Store

# Objects selected for Change Data Capture, and their channels.
CDC_ENTITIES = frozenset({"Task"})
ALL_CHANGES_CHANNEL = "/data/ChangeEvents"
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE")
OVERFLOW = "GAP_OVERFLOW"
# Never in a change event's body (Salesforce leaves out IsDeleted and SystemModstamp; the Id
# is in the header's recordIds).
_NOT_IN_BODY = frozenset({"Id", "IsDeleted", "SystemModstamp"})
_COMMIT_COUNTER = "counter:commit_number"
_FIRST_COMMIT_NUMBER = 10_969_146_000_000


def channel_entities(channel: str) -> frozenset[str] | None:
    """The objects whose events a channel carries, or None if there is no such channel."""
    if channel == ALL_CHANGES_CHANNEL:
        return CDC_ENTITIES
    prefix, suffix = "/data/", "ChangeEvent"
    if channel.startswith(prefix) and channel.endswith(suffix):
        entity = channel[len(prefix) : -len(suffix)]
        if entity in CDC_ENTITIES:
            return frozenset({entity})
    return None


def entity_channel(entity: str) -> str:
    return f"/data/{entity}ChangeEvent"


def schema_id(entity: str) -> str:
    """A stable id of the event's schema, shaped like Salesforce's (22 base64url characters)."""
    sobject = sobject_type(entity)
    names = ",".join(item.name for item in sobject.fields) if sobject else entity
    digest = hashlib.sha256(f"{entity}ChangeEvent:{names}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def new_transaction_key() -> str:
    return str(uuid.uuid4())


def change_origin(version: str, client: str | None) -> str:
    """Salesforce's changeOrigin of a REST call; `client` is the Sforce-Call-Options client."""
    origin = f"com/salesforce/api/rest/{version}"
    return f"{origin};client={client}" if client else origin


def _epoch_ms(stamp: str) -> int:
    moment = parse_datetime(stamp)
    if moment is None:
        raise ValueError(f"not a datetime: {stamp}")
    return int(moment.timestamp() * 1000)


def _event_value(sobject: SObjectType, name: str, value: Any) -> Any:
    """CometD change events write datetimes as `2026-11-29T08:49:32.000Z` (REST answers
    `…+0000`); other values as REST does."""
    item = sobject.field(name)
    is_datetime = item is not None and item.type == "datetime"
    if is_datetime and isinstance(value, str) and value.endswith("+0000"):
        return value[: -len("+0000")] + "Z"
    return value


@dataclass(frozen=True)
class ChangeSource:
    """Who made a change and through what: one per API call, so its changes share the key."""

    user_id: str
    origin: str = ""
    transaction_key: str = ""


class InvalidReplayId(ValueError):
    def __init__(self, replay_id: int) -> None:
        super().__init__(replay_id)
        self.replay_id = replay_id


class ChangeEvents:
    def __init__(
        self, store: Store, clock: Clock, faults: Faults, settings: StreamSettings
    ) -> None:
        self.store = store
        self.clock = clock
        self.faults = faults
        self.settings = settings
        # Notified after every commit that wrote events; long polls wait on it.
        self.condition = threading.Condition()
        self._version = 0
        self._dirty = False
        self._current: _Transaction | None = None
        store.on_commit(self._committed)

    # Publishing (inside the write's transaction) -------------------------------------------

    def record_change(
        self,
        sobject: SObjectType,
        change_type: str,
        before: Record | None,
        after: Record,
        source: ChangeSource,
    ) -> None:
        """Publish the change of one record. The caller holds the store transaction."""
        if sobject.name not in CDC_ENTITIES:
            return
        if change_type == "UPDATE":
            assert before is not None
            changed = [
                item.name
                for item in sobject.fields
                if item.name not in _NOT_IN_BODY
                and item.name != "LastModifiedDate"
                and before.get(item.name) != after.get(item.name)
            ]
            # Salesforce always reports LastModifiedDate; LastModifiedById only when another
            # user saved the record last (then the diff above has it).
            changed.append("LastModifiedDate")
            body = {name: after.get(name) for name in changed}
            weight = len(changed)
        elif change_type == "DELETE":
            changed, body, weight = [], {}, 1
        else:
            changed = []
            body = {
                item.name: after[item.name]
                for item in sobject.fields
                if item.name not in _NOT_IN_BODY and after.get(item.name) is not None
            }
            weight = 1
        if self.faults.stream_gap():
            change_type, changed, body = f"GAP_{change_type}", [], {}
        body = {name: _event_value(sobject, name, value) for name, value in body.items()}
        self._publish(
            sobject.name,
            change_type,
            [after["Id"]],
            changed,
            body,
            weight,
            _epoch_ms(after["SystemModstamp"]),
            source,
        )

    def publish_gap(
        self, sobject: SObjectType, change_type: str, record_ids: list[str], user_id: str
    ) -> None:
        """A gap event for records changed outside the API (admin hook); commits itself."""
        source = ChangeSource(user_id=user_id, transaction_key=new_transaction_key())
        now_ms = int(self.clock.now().timestamp() * 1000)
        with self.store.transaction():
            self._publish(sobject.name, f"GAP_{change_type}", record_ids, [], {}, 1, now_ms, source)

    def _publish(
        self,
        entity: str,
        change_type: str,
        record_ids: list[str],
        changed: list[str],
        body: dict[str, Any],
        weight: int,
        commit_ms: int,
        source: ChangeSource,
    ) -> None:
        store = self.store
        key = source.transaction_key or new_transaction_key()
        tx = self._transaction(key)
        if tx.overflowed or tx.used + weight > self.settings.overflow_threshold:
            # The changes past the threshold make one header-only overflow event per object.
            if entity in tx.overflowed:
                return
            change_type, record_ids, changed, body = OVERFLOW, [], [], {}
        signature = hashlib.sha256(
            json.dumps([entity, change_type, changed, body], sort_keys=True).encode()
        ).hexdigest()
        if change_type != OVERFLOW:
            same = tx.by_signature.get((entity, signature))
            if same is not None:
                # The same change to several records of one transaction: one event.
                ids = same.payload["ChangeEventHeader"]["recordIds"]
                ids.extend(i for i in record_ids if i not in ids)
                same.weight += weight
                tx.used += weight
                store.update_event(same.replay_id, same.weight, json.dumps(same.payload))
                self._dirty = True
                return
        if tx.commit_number is None:
            tx.commit_number = int(store.get_meta(_COMMIT_COUNTER) or _FIRST_COMMIT_NUMBER) + 1
            store.set_meta(_COMMIT_COUNTER, str(tx.commit_number))
        header = {
            "entityName": entity,
            "recordIds": list(record_ids),
            "changeType": change_type,
            "changedFields": changed,
            "changeOrigin": source.origin,
            "transactionKey": key,
            "sequenceNumber": len(tx.events) + 1,
            "commitTimestamp": commit_ms,
            "commitNumber": tx.commit_number,
            "commitUser": source.user_id,
        }
        published_ms = int(self.clock.now().timestamp() * 1000)
        payload = {"ChangeEventHeader": header, **body}
        replay_id = store.insert_event(
            entity, key, signature, weight, published_ms, json.dumps(payload)
        )
        tx.add(_Event(replay_id, entity, signature, weight, change_type, payload))
        self._dirty = True

    def _transaction(self, key: str) -> _Transaction:
        """What the transaction `key` has published so far. Kept between its changes (read
        back from the store for each one, a call of 1,000 records parsed half a million
        events), and read again after any rollback, which may have taken some back."""
        tx = self._current
        if tx is None or tx.key != key or tx.rollbacks != self.store.rollbacks:
            tx = _Transaction(key, self.store.rollbacks)
            for replay_id, entity, signature, weight, data in self.store.transaction_events(key):
                payload = json.loads(data)
                change_type = str(payload["ChangeEventHeader"]["changeType"])
                tx.add(_Event(replay_id, entity, signature, weight, change_type, payload))
                tx.commit_number = int(payload["ChangeEventHeader"]["commitNumber"])
            self._current = tx
        return tx

    def _committed(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        with self.condition:
            self._version += 1
            self.condition.notify_all()

    @property
    def version(self) -> int:
        """Grows after each commit that wrote events (read it under `condition`)."""
        return self._version

    # Reading -----------------------------------------------------------------------------

    def prune(self) -> None:
        """Forget events older than the retention (by the emulator's clock) and beyond the
        maximum count."""
        cutoff = self.clock.now() - timedelta(hours=self.settings.retention_hours)
        self.store.prune_events(int(cutoff.timestamp() * 1000), self.settings.max_events)

    def cursor_for(self, replay_id: int) -> int:
        """Where a subscription with this replay option starts: events after the returned
        replay id are delivered. -1: new events only; -2: every retained event; an id: the
        events after it, if it is still retained (or is the newest one) and not in the
        future; otherwise InvalidReplayId."""
        self.prune()
        oldest, last = self.store.event_bounds()
        if replay_id == -1:
            return last
        if replay_id == -2:
            return oldest - 1 if oldest is not None else last
        first_available = oldest if oldest is not None else last + 1
        if replay_id < first_available - 1 or replay_id > last:
            raise InvalidReplayId(replay_id)
        return replay_id

    def after(
        self, cursor: int, entities: frozenset[str], limit: int
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """(replay_id, entity, message data) of the events after `cursor`, oldest first."""
        return [
            (
                replay_id,
                entity,
                {
                    "schema": schema_id(entity),
                    "payload": json.loads(data),
                    "event": {"replayId": replay_id},
                },
            )
            for replay_id, entity, data in self.store.events_after(cursor, entities, limit)
        ]

    def info(self) -> dict[str, Any]:
        self.prune()
        oldest, last = self.store.event_bounds()
        return {
            "latest_replay_id": last,
            "earliest_replay_id": oldest,
            "retained_events": self.store.event_count(),
        }


@dataclass
class _Event:
    replay_id: int
    entity: str
    signature: str
    weight: int
    change_type: str
    payload: dict[str, Any]


@dataclass
class _Transaction:
    """One transaction's events so far: what the next change of it needs to know."""

    key: str
    rollbacks: int  # Store.rollbacks when it was read
    events: list[_Event] = field(default_factory=list)
    by_signature: dict[tuple[str, str], _Event] = field(default_factory=dict)
    used: int = 0  # the weight of its events that are not overflows
    overflowed: set[str] = field(default_factory=set)  # objects with an overflow event
    commit_number: int | None = None

    def add(self, event: _Event) -> None:
        self.events.append(event)
        if event.change_type == OVERFLOW:
            self.overflowed.add(event.entity)
        else:
            self.used += event.weight
            self.by_signature.setdefault((event.entity, event.signature), event)
