"""`SqliteOutbox`: outbox rows in the service's own SQLite file, written in its transaction."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from actors.backends.sqlite._db import connect
from actors.core import ConfigError, CorruptData, codec, short_repr, validate as check
from actors.outbox import OutboxError, OutboxMessage, OutboxPayloadNotSerializable, OutboxStats

_SCHEMA = (
    # No AUTOINCREMENT and no index on event_id: each is one more page written per
    # commit. Rowids still grow (purge_sent never deletes the newest row).
    "CREATE TABLE IF NOT EXISTS {t} (id INTEGER PRIMARY KEY, "
    "event_id TEXT NOT NULL, aggregate TEXT NOT NULL, seq INTEGER NOT NULL, "
    "topic TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL, sent_at REAL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS {t}_by_aggregate ON {t} (aggregate, seq)",
    "CREATE INDEX IF NOT EXISTS {t}_unsent ON {t} (id) WHERE sent_at IS NULL",
)



def _statements(t: str) -> dict[str, str]:
    # `t` is a checked identifier; `{where}` is filled with "?" marks only.
    return {
        "insert": (f"INSERT INTO {t} (event_id, aggregate, seq, topic, payload, created_at) "  # noqa: S608
                   f"VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM {t} "
                   f"WHERE aggregate = ?), ?, ?, ?) RETURNING id, seq"),
        "pending": (f"SELECT id, event_id, aggregate, seq, topic, payload, created_at FROM {t} "  # noqa: S608
                    "WHERE sent_at IS NULL{where} ORDER BY id LIMIT ?"),
        "mark": f"UPDATE {t} SET sent_at = ? WHERE id = ?",  # noqa: S608
        "purge": (f"DELETE FROM {t} WHERE sent_at IS NOT NULL AND sent_at < ? AND seq < "  # noqa: S608
                  f"(SELECT MAX(seq) FROM {t} AS o WHERE o.aggregate = {t}.aggregate)"),
        "stats": ("SELECT SUM(sent_at IS NULL), SUM(sent_at IS NOT NULL), "  # noqa: S608
                  f"MIN(CASE WHEN sent_at IS NULL THEN created_at END) FROM {t}"),
        "processed_table": (f"CREATE TABLE IF NOT EXISTS {t}_processed (consumer TEXT NOT NULL, "
                            "event_id TEXT NOT NULL, PRIMARY KEY (consumer, event_id))"),
        "processed": f"INSERT OR IGNORE INTO {t}_processed VALUES (?, ?)",  # noqa: S608
    }


class SqliteOutbox:
    """An outbox table in a service's SQLite file; the service writes it in its own transaction.

    Args:
        path: the service's database file (the outbox must live in the same
            file as the state it announces; created if missing).
        table: the outbox table's name (letters, digits, `_`); default "outbox".
        synchronous: the relay connection's "NORMAL" (default) or "FULL".

    Writing: `outbox.add(conn, aggregate, topic, payload)` on the service's
    connection, inside the transaction that changes its state; the row
    commits or rolls back with it. Reading (`pending`, `mark_sent`, `stats`)
    uses the outbox's own connection, for the relay.

    Example:
        >>> import sqlite3, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "orders.sqlite3")
        >>> outbox = SqliteOutbox(path)
        >>> conn = sqlite3.connect(path, isolation_level=None)
        >>> _ = conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
        >>> with conn:  # one transaction: the order and its announcement
        ...     _ = conn.execute("BEGIN")
        ...     _ = conn.execute("INSERT INTO orders VALUES ('o-1')")
        ...     _ = outbox.add(conn, "o-1", "order.created", {"id": "o-1"})
        >>> [(m.aggregate, m.seq, m.topic) for m in outbox.pending(10)]
        [('o-1', 1, 'order.created')]
        >>> conn.close(); outbox.close()
    """

    def __init__(self, path: str | Path, *, table: str = "outbox",
                 synchronous: str = "NORMAL") -> None:
        check.path("path", path)
        if not (isinstance(table, str) and table.isidentifier() and table.isascii()
                and len(table) <= 64):
            raise ConfigError("table", table, "a table name of ASCII letters, digits and _")
        check.one_of("synchronous", synchronous, ("NORMAL", "FULL"))
        self.path = str(path)
        self.table = table
        self._lock = threading.Lock()
        try:
            self._conn: sqlite3.Connection | None = connect(self.path, synchronous=synchronous,
                                                            busy_timeout=10.0)
            self.create_table(self._conn)
        except sqlite3.Error as exc:
            raise ConfigError("path", path, f"a SQLite file that can be opened and written "
                              f"({exc})") from exc
        self._sql = _statements(table)

    def create_table(self, conn: sqlite3.Connection) -> None:
        """Create the outbox table on `conn` if missing (the constructor already does)."""
        for statement in _SCHEMA:
            conn.execute(statement.format(t=self.table))

    # -- the service's side: inside its transaction -----------------------------------------

    def add(self, conn: sqlite3.Connection, aggregate: str, topic: str, payload: Any, *,
            event_id: str | None = None) -> OutboxMessage:
        """Write one announcement on `conn`, in the transaction under way there.

        `seq` is the aggregate's next number, assigned inside the transaction.
        Raises `OutboxError` if `conn` is in autocommit mode outside a
        transaction (the row would commit on its own), and
        `OutboxPayloadNotSerializable` for a payload that is not JSON.
        """
        check.instance("conn", conn, sqlite3.Connection, "a sqlite3.Connection")
        if conn.isolation_level is None and not conn.in_transaction:
            raise OutboxError("outbox.add needs the transaction that changes your state: "
                              "run BEGIN on this connection first (it is in autocommit mode)")
        check.name("aggregate", aggregate)
        check.name("topic", topic)
        text = codec.encode(payload, error=OutboxPayloadNotSerializable)
        if event_id is None:
            event_id = uuid.uuid4().hex
        else:
            check.name("event_id", event_id)
        now = time.time()
        row = conn.execute(self._sql["insert"], (event_id, aggregate, aggregate, topic, text,
                                                 now)).fetchone()
        # `payload` was checked to be plain JSON: it is what a reader decodes.
        return OutboxMessage(event_id, aggregate, int(row[1]), topic, payload, now, str(row[0]))

    def mark_processed(self, conn: sqlite3.Connection, consumer: str, event_id: str) -> bool:
        """Consumer-side dedupe that survives restarts: True the first time, False after.

        Call it on the consumer's own connection inside the transaction that
        applies the event, and skip the event when it returns False: the
        record commits (or rolls back) with the effect. The table
        `<table>_processed` is created in that database if missing.
        """
        check.instance("conn", conn, sqlite3.Connection, "a sqlite3.Connection")
        check.name("consumer", consumer)
        check.name("event_id", event_id)
        if conn.isolation_level is None and not conn.in_transaction:
            raise OutboxError("mark_processed needs the transaction that applies the event: "
                              "run BEGIN on this connection first (it is in autocommit mode)")
        conn.execute(self._sql["processed_table"])
        return conn.execute(self._sql["processed"], (consumer, event_id)).rowcount == 1

    # -- the relay's side ---------------------------------------------------------------------

    def pending(self, limit: int, *, exclude: Collection[str] = ()) -> list[OutboxMessage]:
        """Up to `limit` unsent rows in write order, without the `exclude`d aggregates."""
        check.integer("limit", limit, minimum=1)
        skip = list(exclude)[:500]
        where = f" AND aggregate NOT IN ({','.join('?' * len(skip))})" if skip else ""
        query = self._sql["pending"].format(where=where)
        rows = self._run("pending", lambda c: c.execute(query, (*skip, limit)).fetchall())
        messages = []
        for rowid, event_id, aggregate, seq, topic, payload, created in rows:
            try:
                data = codec.decode(payload)
            except CorruptData as exc:
                data = {"corrupt": short_repr(payload), "reason": exc.reason}
            messages.append(OutboxMessage(event_id, aggregate, seq, topic, data, created,
                                          str(rowid)))
        return messages

    def mark_sent(self, messages: Sequence[OutboxMessage]) -> None:
        """Mark `messages` sent (kept, so `seq` goes on; `purge_sent` deletes old ones)."""
        if not messages:
            return
        ids = [int(m.position) for m in messages]
        now = time.time()

        def mark(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(self._sql["mark"], [(now, i) for i in ids])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        self._run("mark_sent", mark)

    def purge_sent(self, older_than: float) -> int:
        """Delete sent rows older than `older_than` seconds, but each aggregate's last one."""
        check.seconds("older_than", older_than, allow_zero=True)
        cutoff = time.time() - older_than
        return int(self._run("purge_sent", lambda c: c.execute(self._sql["purge"],
                                                               (cutoff,)).rowcount))

    def stats(self) -> OutboxStats:
        """Unsent and sent rows, and the age of the oldest unsent row."""
        pending, sent, oldest = self._run("stats",
                                          lambda c: c.execute(self._sql["stats"]).fetchone())
        age = max(0.0, time.time() - oldest) if oldest is not None else 0.0
        return OutboxStats(int(pending or 0), int(sent or 0), age)

    def close(self) -> None:
        """Close the relay's connection (the service's own is the service's to close)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self, operation: str, fn: Any) -> Any:
        with self._lock:
            if self._conn is None:
                raise OutboxError(f"outbox {self.path!r} is closed; {operation} refused")
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self.path!r}: {operation} failed ({exc}); "
                                  "the relay retries") from exc
