"""SQLite persistence: records (with a recycle bin), users' passwords, tokens, counters and
the change events of the Streaming API (see changes.py).

One connection guarded by one re-entrant lock: the emulator is a test double, and serialising
writes keeps allOrNone, savepoints and the never-decreasing SystemModstamp simple and exact.
Records are JSON documents holding every field in its API form (datetimes as Salesforce
strings, which sort correctly because they are fixed-width UTC).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sfemulator.ids import make_id
from sfemulator.schema import SOBJECTS
from sfemulator.sftime import floor_second, format_datetime, parse_datetime

Record = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    sobject TEXT NOT NULL,
    data TEXT NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    deleted_date TEXT,
    modstamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_live ON records (sobject, is_deleted);
CREATE INDEX IF NOT EXISTS records_modstamp ON records (sobject, modstamp);
CREATE INDEX IF NOT EXISTS records_deleted ON records (sobject, deleted_date);
CREATE TABLE IF NOT EXISTS passwords (user_id TEXT PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- AUTOINCREMENT: a replay id is never handed out twice, not even after the events before it
-- were pruned or the data was wiped, so a client's stored replay id never points elsewhere.
CREATE TABLE IF NOT EXISTS change_events (
    replay_id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    transaction_key TEXT NOT NULL,
    signature TEXT NOT NULL,
    weight INTEGER NOT NULL,
    published_ms INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_events_transaction ON change_events (transaction_key);
CREATE INDEX IF NOT EXISTS change_events_published ON change_events (published_ms);
"""


def _unique_expression(field_name: str) -> str:
    # The same expression must appear in the index and in lookups for SQLite to use the index.
    return f"lower(json_extract(data, '$.{field_name}'))"


def _value_expression(field_name: str) -> str:
    return f"json_extract(data, '$.{field_name}')"


# What the sync and its benchmarks filter on, besides Ids, external ids and SystemModstamp:
# owners (`OwnerId IN (...)`, with or without a SystemModstamp bound) and Subject prefixes
# (`Subject LIKE 'prefix%'`, case-insensitive as in Salesforce).
VALUE_INDEXED = ("OwnerId",)
PREFIX_INDEXED = {"Task": ("Subject",)}


def value_indexed(sobject: str, field_name: str) -> bool:
    return field_name in VALUE_INDEXED and any(
        item.name == field_name for item in SOBJECTS[sobject].fields
    )


def prefix_indexed(sobject: str, field_name: str) -> bool:
    return field_name in PREFIX_INDEXED.get(sobject, ())


@dataclass(frozen=True)
class Narrowing:
    """Index-backed conditions on the rows a query reads (see soql/plan.py): each keeps a
    superset of the rows the query's WHERE clause matches."""

    modstamp_from: str | None = None  # inclusive
    modstamp_to: str | None = None  # inclusive
    value_field: str | None = None  # a VALUE_INDEXED field, one of value_in
    value_in: tuple[str, ...] = ()
    prefix_field: str | None = None  # a PREFIX_INDEXED field, lower-cased value in [low, high)
    prefix_low: str = ""
    prefix_high: str = ""


def _unique_index(sobject: str, field_name: str) -> str:
    return f"records_{sobject}_{field_name}"


def _create_private(path: Path) -> None:
    """Create the state file owner-only (0600), in an owner-only (0700) directory when this
    makes the directory: it holds live OAuth tokens and password hashes. SQLite gives its WAL
    and shared-memory files the database file's mode. A directory that already existed keeps
    its mode (it may be a shared one such as a temporary directory)."""
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode is filtered through the umask
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


class Store:
    def __init__(self, path: Path) -> None:
        _create_private(path)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self.lock = threading.RLock()
        self._savepoints = 0
        # Grows with every rollback (of a transaction or a savepoint): what was read from
        # the database inside a transaction may be cached until it changes.
        self.rollbacks = 0
        # Called after each outermost COMMIT, still holding the lock (see on_commit).
        self._commit_hooks: list[Callable[[], None]] = []
        with self.lock:
            self._conn.executescript(_SCHEMA)
            for sobject in SOBJECTS.values():
                for item in sobject.unique_fields():
                    self._conn.execute(
                        f"CREATE INDEX IF NOT EXISTS {_unique_index(sobject.name, item.name)} "
                        f"ON records (sobject, {_unique_expression(item.name)})"
                    )
                for item in sobject.fields:
                    if value_indexed(sobject.name, item.name):
                        self._conn.execute(
                            f"CREATE INDEX IF NOT EXISTS records_{sobject.name}_{item.name}_value "
                            f"ON records (sobject, {_value_expression(item.name)})"
                        )
                    if prefix_indexed(sobject.name, item.name):
                        self._conn.execute(
                            f"CREATE INDEX IF NOT EXISTS records_{sobject.name}_{item.name}_lower "
                            f"ON records (sobject, {_unique_expression(item.name)})"
                        )
        self._last_stamp = self._meta_datetime("last_stamp")

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    # Transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested calls become savepoints."""
        with self.lock:
            if self._conn.in_transaction:
                with self.savepoint():
                    yield
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                self.rollbacks += 1
                raise
            self._conn.execute("COMMIT")
            for hook in self._commit_hooks:
                hook()

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every committed write transaction. It runs under the store's
        lock, so it must be quick and must not wait for other threads."""
        self._commit_hooks.append(hook)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self.lock:
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self._conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                self.rollbacks += 1
                raise
            self._conn.execute(f"RELEASE {name}")

    # Counters and stamps -----------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _meta_datetime(self, key: str) -> datetime | None:
        with self.lock:
            value = self._meta(key)
        return parse_datetime(value) if value else None

    def get_meta(self, key: str) -> str | None:
        with self.lock:
            return self._meta(key)

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self._set_meta(key, value)

    def new_id(self, prefix: str) -> str:
        """Counters survive data resets so that an Id is never handed out twice per state
        file (a test that kept an old Id must not find somebody else's record)."""
        with self.lock:
            key = f"counter:{prefix}"
            value = int(self._meta(key) or "0") + 1
            self._set_meta(key, str(value))
            return make_id(prefix, value)

    def next_stamp(self, now: datetime) -> datetime:
        """The SystemModstamp of a write taking its stamp at `now`.

        Salesforce stamps to the second, so writes within one second tie: stamps are not
        unique, and a client that reads `SystemModstamp > last seen` misses the rest of that
        second. They never go backwards, though: after the clock was moved back a write is
        still not dated before the records already stored."""
        with self.lock:
            stamp = floor_second(now)
            if self._last_stamp is not None and stamp < self._last_stamp:
                stamp = self._last_stamp
            if stamp != self._last_stamp:
                self._last_stamp = stamp
                self._set_meta("last_stamp", format_datetime(stamp))
            return stamp

    # Records --------------------------------------------------------------------------------

    def get(self, record_id: str) -> tuple[str, Record, bool] | None:
        """(sobject, record, is_deleted) for an Id, deleted records included."""
        with self.lock:
            row = self._conn.execute(
                "SELECT sobject, data, is_deleted FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1]), bool(row[2])

    def get_live(self, sobject: str, record_id: str) -> Record | None:
        found = self.get(record_id)
        if found is None or found[0] != sobject or found[2]:
            return None
        return found[1]

    def get_many(self, record_ids: list[str]) -> dict[str, tuple[str, Record, bool]]:
        found: dict[str, tuple[str, Record, bool]] = {}
        with self.lock:
            for start in range(0, len(record_ids), 500):
                chunk = record_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(
                    # Only "?" placeholders are interpolated.
                    f"SELECT id, sobject, data, is_deleted FROM records WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                ):
                    found[row[0]] = (row[1], json.loads(row[2]), bool(row[3]))
        return found

    def insert(self, sobject: str, record: Record) -> None:
        with self.lock:
            self._conn.execute(
                "INSERT INTO records (id, sobject, data, is_deleted, modstamp) "
                "VALUES (?, ?, ?, 0, ?)",
                (record["Id"], sobject, json.dumps(record), record["SystemModstamp"]),
            )

    def save(self, record: Record) -> None:
        with self.lock:
            self._conn.execute(
                "UPDATE records SET data = ?, modstamp = ? WHERE id = ?",
                (json.dumps(record), record["SystemModstamp"], record["Id"]),
            )

    def mark_deleted(self, record: Record, deleted_date: str) -> None:
        with self.lock:
            self._conn.execute(
                "UPDATE records SET data = ?, modstamp = ?, is_deleted = 1, deleted_date = ? "
                "WHERE id = ?",
                (json.dumps(record), record["SystemModstamp"], deleted_date, record["Id"]),
            )

    def mark_undeleted(self, record: Record) -> None:
        with self.lock:
            self._conn.execute(
                "UPDATE records SET data = ?, modstamp = ?, is_deleted = 0, deleted_date = NULL "
                "WHERE id = ?",
                (json.dumps(record), record["SystemModstamp"], record["Id"]),
            )

    def find_live_by_unique(self, sobject: str, field_name: str, value: str) -> list[Record]:
        """Live records whose unique field equals `value`, case-insensitively as Salesforce
        matches external ids."""
        with self.lock:
            rows = self._conn.execute(
                # field_name comes from the schema, never from a request.
                f"SELECT data FROM records WHERE sobject = ? AND is_deleted = 0 "  # noqa: S608
                f"AND {_unique_expression(field_name)} = ?",
                (sobject, value.lower()),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def scan(
        self, sobject: str, include_deleted: bool, narrowing: Narrowing | None = None
    ) -> list[Record]:
        """Records of a type in creation order, for the SOQL evaluator; only those the
        narrowing's index-backed conditions keep."""
        narrowing = narrowing or Narrowing()
        sql = "SELECT data FROM records WHERE sobject = ?"
        params: list[object] = [sobject]
        if not include_deleted:
            sql += " AND is_deleted = 0"
        if narrowing.modstamp_from is not None:
            sql += " AND modstamp >= ?"
            params.append(narrowing.modstamp_from)
        if narrowing.modstamp_to is not None:
            sql += " AND modstamp <= ?"
            params.append(narrowing.modstamp_to)
        if narrowing.value_field is not None and value_indexed(sobject, narrowing.value_field):
            marks = ",".join("?" * len(narrowing.value_in))
            sql += f" AND {_value_expression(narrowing.value_field)} IN ({marks})"
            params.extend(narrowing.value_in)
        if narrowing.prefix_field is not None and prefix_indexed(sobject, narrowing.prefix_field):
            expression = _unique_expression(narrowing.prefix_field)
            sql += f" AND {expression} >= ? AND {expression} < ?"
            params.extend([narrowing.prefix_low, narrowing.prefix_high])
        with self.lock:
            rows = self._conn.execute(sql + " ORDER BY rowid", params).fetchall()
        return [json.loads(row[0]) for row in rows]

    def count(self, sobject: str, include_deleted: bool) -> int:
        sql = "SELECT count(*) FROM records WHERE sobject = ?"
        if not include_deleted:
            sql += " AND is_deleted = 0"
        with self.lock:
            return int(self._conn.execute(sql, (sobject,)).fetchone()[0])

    def find_by_unique(
        self, sobject: str, field_name: str, lowered_values: list[str], include_deleted: bool
    ) -> list[Record]:
        """Records whose unique field is one of the (lower-cased) values, in creation order."""
        found: list[tuple[int, Record]] = []
        deleted_clause = "" if include_deleted else " AND is_deleted = 0"
        with self.lock:
            for start in range(0, len(lowered_values), 500):
                chunk = lowered_values[start : start + 500]
                marks = ",".join("?" * len(chunk))
                # field_name comes from the schema; only "?" placeholders are interpolated.
                # INDEXED BY: left to itself SQLite prefers (sobject, is_deleted) for an IN
                # list and reads every live record of the type (178 ms for 200 values at
                # 100,000 Tasks, against 1.4 ms for one).
                sql = (
                    f"SELECT rowid, data FROM records "  # noqa: S608
                    f"INDEXED BY {_unique_index(sobject, field_name)} "
                    f"WHERE sobject = ?{deleted_clause} "
                    f"AND {_unique_expression(field_name)} IN ({marks})"
                )
                found.extend(
                    (row[0], json.loads(row[1]))
                    for row in self._conn.execute(sql, [sobject, *chunk])
                )
        return [record for _, record in sorted(found, key=lambda pair: pair[0])]

    def updated_ids(self, sobject: str, start: str, end: str) -> list[str]:
        with self.lock:
            rows = self._conn.execute(
                "SELECT id FROM records WHERE sobject = ? AND is_deleted = 0 "
                "AND modstamp >= ? AND modstamp < ? ORDER BY modstamp",
                (sobject, start, end),
            ).fetchall()
        return [row[0] for row in rows]

    def deleted_rows(self, sobject: str, start: str, end: str) -> list[tuple[str, str]]:
        with self.lock:
            rows = self._conn.execute(
                "SELECT id, deleted_date FROM records WHERE sobject = ? AND is_deleted = 1 "
                "AND deleted_date >= ? AND deleted_date < ? ORDER BY deleted_date",
                (sobject, start, end),
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def purge_recycle_bin(self, before: str) -> None:
        """Hard-delete what has been in the recycle bin longer than Salesforce keeps it, and
        remember the newest purged deletion (getDeleted's earliestDateAvailable)."""
        with self.transaction():
            row = self._conn.execute(
                "SELECT max(deleted_date) FROM records WHERE is_deleted = 1 AND deleted_date < ?",
                (before,),
            ).fetchone()
            if row and row[0]:
                self._conn.execute(
                    "DELETE FROM records WHERE is_deleted = 1 AND deleted_date < ?", (before,)
                )
                self._set_meta("last_purged", row[0])

    # Change events ------------------------------------------------------------------------

    def transaction_events(self, transaction_key: str) -> list[tuple[int, str, str, int, str]]:
        """(replay_id, entity, signature, weight, data) of one transaction's events so far."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT replay_id, entity, signature, weight, data FROM change_events "
                "WHERE transaction_key = ? ORDER BY replay_id",
                (transaction_key,),
            ).fetchall()
        return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    def insert_event(
        self,
        entity: str,
        transaction_key: str,
        signature: str,
        weight: int,
        published_ms: int,
        data: str,
    ) -> int:
        with self.lock:
            cursor = self._conn.execute(
                "INSERT INTO change_events "
                "(entity, transaction_key, signature, weight, published_ms, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (entity, transaction_key, signature, weight, published_ms, data),
            )
            return int(cursor.lastrowid or 0)

    def update_event(self, replay_id: int, weight: int, data: str) -> None:
        with self.lock:
            self._conn.execute(
                "UPDATE change_events SET weight = ?, data = ? WHERE replay_id = ?",
                (weight, data, replay_id),
            )

    def events_after(
        self, replay_id: int, entities: frozenset[str] | None, limit: int
    ) -> list[tuple[int, str, str]]:
        """(replay_id, entity, data) of the events after `replay_id`, oldest first; only of
        `entities` unless it is None."""
        sql = "SELECT replay_id, entity, data FROM change_events WHERE replay_id > ?"
        params: list[object] = [replay_id]
        if entities is not None:
            sql += f" AND entity IN ({','.join('?' * len(entities))})"
            params.extend(sorted(entities))
        with self.lock:
            rows = self._conn.execute(
                sql + " ORDER BY replay_id LIMIT ?", [*params, limit]
            ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def event_bounds(self) -> tuple[int | None, int]:
        """(the oldest retained replay id or None, the last replay id ever handed out)."""
        with self.lock:
            oldest = self._conn.execute("SELECT min(replay_id) FROM change_events").fetchone()
            last = self._conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'change_events'"
            ).fetchone()
        return (oldest[0] if oldest else None), int(last[0]) if last else 0

    def event_count(self) -> int:
        with self.lock:
            return int(self._conn.execute("SELECT count(*) FROM change_events").fetchone()[0])

    def prune_events(self, published_before_ms: int, keep: int) -> None:
        """Drop events published before the retention window, and all but the newest `keep`."""
        with self.transaction():
            self._conn.execute(
                "DELETE FROM change_events WHERE published_ms < ?", (published_before_ms,)
            )
            self._conn.execute(
                "DELETE FROM change_events WHERE replay_id <= ("
                "SELECT replay_id FROM change_events ORDER BY replay_id DESC LIMIT 1 OFFSET ?)",
                (keep,),
            )

    # Users' passwords and tokens -----------------------------------------------------------

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self.lock:
            self._conn.execute(
                "INSERT INTO passwords (user_id, hash) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash",
                (user_id, password_hash),
            )

    def password_hash(self, user_id: str) -> str | None:
        with self.lock:
            row = self._conn.execute(
                "SELECT hash FROM passwords WHERE user_id = ?", (user_id,)
            ).fetchone()
        return row[0] if row else None

    def add_token(self, token: str, user_id: str, issued_at: float, expires_at: float) -> None:
        with self.lock:
            self._conn.execute(
                "INSERT INTO tokens (token, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
                (token, user_id, issued_at, expires_at),
            )

    def token(self, token: str) -> tuple[str, float] | None:
        with self.lock:
            row = self._conn.execute(
                "SELECT user_id, expires_at FROM tokens WHERE token = ?", (token,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def expire_tokens(self, now: float) -> None:
        with self.lock:
            self._conn.execute("UPDATE tokens SET expires_at = ? WHERE expires_at > ?", (now, now))
            self._conn.execute("DELETE FROM tokens WHERE expires_at < ?", (now - 86400,))

    # Whole-state operations -----------------------------------------------------------------

    def wipe(self) -> None:
        """Delete all data but keep the Id counters (see new_id).

        The last SystemModstamp goes too: with no records left nothing can be ordered before
        it, and a stamp left in the future by a moved clock would date every new record there.
        """
        with self.transaction():
            self._conn.execute("DELETE FROM records")
            self._conn.execute("DELETE FROM passwords")
            self._conn.execute("DELETE FROM tokens")
            self._conn.execute("DELETE FROM meta WHERE key NOT LIKE 'counter:%'")
            self._conn.execute("DELETE FROM change_events")
            self._last_stamp = None
