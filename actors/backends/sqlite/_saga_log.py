"""`SqliteSagaLog`: the saga log in one SQLite file, writes committed in batches."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from actors.backends.sqlite._db import SqlWrite, open_database, sqlite_writer
from actors.core import ConfigError, GroupCommit, StanchionError, codec, validate as check
from actors.saga.storage import (
    BatchedSagaLog,
    DuplicateSaga,
    Op,
    Saga,
    SagaLogClosed,
    SagaLogError,
    SagaStatus,
)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sagas (id TEXT PRIMARY KEY, definition TEXT NOT NULL, "
    "status TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL, "
    "updated_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sagas_by_status ON sagas (status, created_at)",
)
_COLUMNS = ["id", "definition", "status", "state", "created_at", "updated_at"]
_INSERT = ("INSERT INTO sagas (id, definition, status, state, created_at, updated_at) "
           "VALUES (?, ?, ?, ?, ?, ?)")
_UPSERT = (_INSERT + " ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
           "state = excluded.state, updated_at = excluded.updated_at")
# CAST AS BLOB: a state that is not valid UTF-8 must reach the decoder (and the
# quarantine), not make sqlite3 fail the whole result set.
_SELECT = "SELECT CAST(id AS BLOB), CAST(state AS BLOB) FROM sagas"


def _migrate(conn: sqlite3.Connection) -> None:
    table, index = _SCHEMA
    conn.execute(table)
    columns = [info[1] for info in conn.execute("PRAGMA table_info(sagas)").fetchall()]
    if columns != _COLUMNS:
        raise sqlite3.DatabaseError(
            f"its sagas table has the columns {columns}, not a saga log's {_COLUMNS}")
    conn.execute(index)


class SqliteSagaLog(BatchedSagaLog):
    """Sagas in one SQLite file (WAL); writes from any thread share commits.

    Args:
        path: the database file (created if missing). A file that is not a
            saga log (random bytes, a text file, another program's database)
            raises `SagaLogError` here, with nothing left open.
        synchronous: "NORMAL" (default: a committed write survives a crash of the
            process, even SIGKILL) or "FULL" (survives power loss too, slower).
        max_batch: most writes per transaction.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL",
                 max_batch: int = 1000) -> None:
        check.path("path", path)
        if not (isinstance(synchronous, str) and synchronous in ("NORMAL", "FULL")):
            raise ConfigError("synchronous", synchronous, "'NORMAL' or 'FULL'")
        check.integer("max_batch", max_batch, minimum=1, maximum=10_000)
        self.path = Path(path)
        self._conn, self._reader = open_database(
            str(self.path), synchronous=synchronous, busy_timeout=30.0, migrate=_migrate,
            error=SagaLogError)
        self._reader_lock = threading.Lock()
        super().__init__(max_batch=max_batch, name="saga-log-writer")

    def _make_writer(self, max_batch: int, name: str) -> GroupCommit[SqlWrite]:
        # The writer every SQLite store uses (the task store's too): one
        # transaction per batch of waiting writes, a failing write isolated.
        return sqlite_writer(self._conn, max_batch, closed_error=_closed,
                             timeout_error=_timed_out, name=name)

    def _item(self, op: Op) -> SqlWrite:
        kind, args, _ = op
        if kind == "create":
            def create(conn: sqlite3.Connection) -> DuplicateSaga | None:
                try:
                    conn.execute(_INSERT, args)
                except sqlite3.IntegrityError:  # only this statement is undone
                    return DuplicateSaga(args[0])
                return None
            return create

        def save(conn: sqlite3.Connection) -> None:
            conn.execute(_UPSERT, args)
        return save

    def _error(self, error: BaseException) -> BaseException:
        if isinstance(error, Exception) and not isinstance(error, StanchionError):
            return SagaLogError(f"a write to {self.path}", error)
        return error

    # -- reads -------------------------------------------------------------------------------

    def _rows(self, where: str, args: tuple[Any, ...]) -> list[Saga]:
        try:
            with self._reader_lock:
                rows = self._reader.execute(f"{_SELECT} {where}", args).fetchall()
        except sqlite3.Error as exc:
            raise SagaLogError(f"a read of {self.path}", exc) from exc
        sagas = []
        for raw_id, raw in rows:
            saga = self._quarantine.load(codec.describe_raw(raw_id), raw)
            if saga is not None:
                sagas.append(saga)
        return sagas

    def get(self, saga_id: str) -> Saga | None:
        found = self._rows("WHERE id = ?", (saga_id,))
        return found[0] if found else None

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        if status is None:
            return self._rows("ORDER BY created_at LIMIT ?", (limit,))
        return self._rows("WHERE status = ? ORDER BY created_at LIMIT ?", (str(status), limit))

    def unfinished(self) -> list[Saga]:
        return self._rows("WHERE status IN (?, ?) ORDER BY created_at",
                          (str(SagaStatus.RUNNING), str(SagaStatus.COMPENSATING)))

    def close(self) -> None:
        self._writes.close()  # commits what waits, then closes the write connection
        with self._reader_lock:
            self._reader.close()


def _closed(_operation: str) -> SagaLogClosed:
    return SagaLogClosed("the saga log is closed; open a new one")


def _timed_out(operation: str, timeout: float) -> SagaLogClosed:  # only waiting writes time out
    return SagaLogClosed(f"the saga log did not commit a {operation} within {timeout} s")
