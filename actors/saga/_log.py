"""The saga log: every saga's state, written before each command and after each reply.

Writes are asynchronous with a completion callback, so one coordinator thread
can keep many sagas moving while their writes share commits: the coordinator
appends the new state and sends the next command only in the callback, once
the state is durable. `MemorySagaLog` (tests) runs callbacks at once;
`SqliteSagaLog` commits in batches on a writer thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

import structlog

from actors._errors import StanchionError, require
from actors._sqlite import use_wal
from actors.saga._batching import Done, Op, SagaLogClosed, WriteBatcher, row
from actors.saga._machine import ENDS, Saga, SagaStatus
from actors.taskqueue import PayloadNotSerializable, encode_payload

_log = structlog.get_logger("stanchion.saga")



class SagaDataNotSerializable(StanchionError, TypeError):
    """A saga's data is not plain JSON; the saga was not created."""

    def __init__(self, saga_id: str, cause: PayloadNotSerializable) -> None:
        self.saga_id = saga_id
        super().__init__(f"saga {saga_id!r} was not started: its data must be plain JSON "
                         f"(the log is JSON, never pickle): {cause}")


class DuplicateSaga(StanchionError):
    """A saga with this id already exists; the new one was not created."""

    def __init__(self, saga_id: str) -> None:
        self.saga_id = saga_id
        super().__init__(f"a saga with id {saga_id!r} already exists; use a new id, or query "
                         "the existing saga's status")


def encode(saga: Saga) -> str:
    """The saga as JSON text; `SagaDataNotSerializable` if its data is not plain JSON.

    The saga's own fields are plain by construction, and its data is checked
    where it enters (`Sagas.start_saga`, and each step's reply before it is
    merged), so the full walk that names the offending value runs only when
    encoding fails.
    """
    state = saga.to_json()
    try:
        return _ENCODER.encode(state)
    except (TypeError, ValueError, RecursionError):
        try:
            return encode_payload(state)
        except PayloadNotSerializable as exc:
            raise SagaDataNotSerializable(saga.id, exc) from exc


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class SagaLog(Protocol):
    """Where sagas are kept; every backend (memory, SQLite, later Redis) honours this."""

    def create(self, saga: Saga, done: Done) -> None:
        """Store a new saga; `done(DuplicateSaga)` if its id exists. Encode first with `encode`."""
        ...

    def save(self, saga: Saga, done: Done | None = None) -> None:
        """Store the saga's new state; `done(None)` once it is durable."""
        ...

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything written so far is durable."""
        ...

    def get(self, saga_id: str) -> Saga | None:
        """The saga's last durable state."""
        ...

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        """Sagas by state, oldest first."""
        ...

    def unfinished(self) -> list[Saga]:
        """Sagas that are neither completed, compensated nor compensation_failed."""
        ...

    def close(self) -> None:
        """Finish pending writes and release the storage."""
        ...


class MemorySagaLog:
    """Keeps sagas in memory (tests, and embedders who do not need durability)."""

    def __init__(self) -> None:
        self._sagas: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = False

    def create(self, saga: Saga, done: Done) -> None:
        text = encode(saga)
        with self._lock:
            self._check_open()
            duplicate = saga.id in self._sagas
            if not duplicate:
                self._sagas[saga.id] = text
        done(DuplicateSaga(saga.id) if duplicate else None)

    def save(self, saga: Saga, done: Done | None = None) -> None:
        text = encode(saga)
        with self._lock:
            self._check_open()
            self._sagas[saga.id] = text
        if done is not None:
            done(None)

    def flush(self, timeout: float = 30.0) -> bool:
        return True

    def get(self, saga_id: str) -> Saga | None:
        with self._lock:
            text = self._sagas.get(saga_id)
        return Saga.from_json(json.loads(text)) if text is not None else None

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        with self._lock:
            texts = list(self._sagas.values())
        sagas = [Saga.from_json(json.loads(t)) for t in texts]
        chosen = [s for s in sagas if status is None or s.status is status]
        return sorted(chosen, key=lambda s: s.created_at)[:limit]

    def unfinished(self) -> list[Saga]:
        return [s for s in self.by_status(limit=10**9) if s.status not in ENDS]

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise SagaLogClosed("the saga log is closed")


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sagas (id TEXT PRIMARY KEY, definition TEXT NOT NULL, "
    "status TEXT NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL, "
    "updated_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sagas_by_status ON sagas (status, created_at)",
)
_INSERT = ("INSERT INTO sagas (id, definition, status, state, created_at, updated_at) "
           "VALUES (?, ?, ?, ?, ?, ?)")
_UPSERT = (_INSERT + " ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
           "state = excluded.state, updated_at = excluded.updated_at")


class BatchedSagaLog:
    """The write side shared by the durable logs: writes go to one writer thread in batches.

    A subclass opens its storage, then calls `__init__`, and implements
    `_commit(batch)`: apply every write of the batch at once and return, per
    write, `None` or the error (`DuplicateSaga` for a create whose id exists).
    """

    def __init__(self, *, max_batch: int, name: str) -> None:
        require(isinstance(max_batch, int) and max_batch >= 1, "max_batch", max_batch,
                "an integer >= 1")
        self.transactions = 0
        self._writes = WriteBatcher(self._commit, max_batch=max_batch, name=name)

    def create(self, saga: Saga, done: Done) -> None:
        self._writes.submit(("create", row(saga, encode(saga)), done))

    def save(self, saga: Saga, done: Done | None = None) -> None:
        self._writes.submit(("save", row(saga, encode(saga)), done))

    def flush(self, timeout: float = 30.0) -> bool:
        return self._writes.flush(timeout)

    def _commit(self, batch: list[Op]) -> list[BaseException | None]:
        raise NotImplementedError


class SqliteSagaLog(BatchedSagaLog):
    """Sagas in one SQLite file (WAL); writes from any thread share commits.

    Args:
        path: the database file (created if missing).
        synchronous: "NORMAL" (default: a committed write survives a crash of the
            process, even SIGKILL) or "FULL" (survives power loss too, slower).
        max_batch: most writes per transaction.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL",
                 max_batch: int = 1000) -> None:
        require(synchronous in ("NORMAL", "FULL"), "synchronous", synchronous,
                "'NORMAL' or 'FULL'")
        self.path = Path(path)
        self._writer = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
        use_wal(self._writer, synchronous)
        for statement in _SCHEMA:
            self._writer.execute(statement)
        self._reader_lock = threading.Lock()
        self._reader = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        super().__init__(max_batch=max_batch, name="saga-log-writer")

    def _commit(self, batch: list[Op]) -> list[BaseException | None]:
        conn = self._writer
        results: list[BaseException | None] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for kind, args, _ in batch:
                if kind == "create":
                    try:
                        conn.execute("SAVEPOINT one")
                        conn.execute(_INSERT, args)
                        conn.execute("RELEASE one")
                        results.append(None)
                    except sqlite3.IntegrityError:
                        conn.execute("ROLLBACK TO one")
                        conn.execute("RELEASE one")
                        results.append(DuplicateSaga(args[0]))
                else:
                    conn.execute(_UPSERT, args)
                    results.append(None)
            conn.execute("COMMIT")
            self.transactions += 1
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = StanchionError(f"the saga log could not write to {self.path}: {exc}; "
                                   "check disk space and permissions")
            return [error] * len(batch)
        return results

    # -- reads -------------------------------------------------------------------------------

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[Saga]:
        with self._reader_lock:
            rows = self._reader.execute(sql, args).fetchall()
        return [Saga.from_json(json.loads(row[0])) for row in rows]

    def get(self, saga_id: str) -> Saga | None:
        found = self._rows("SELECT state FROM sagas WHERE id = ?", (saga_id,))
        return found[0] if found else None

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        if status is None:
            return self._rows("SELECT state FROM sagas ORDER BY created_at LIMIT ?", (limit,))
        return self._rows("SELECT state FROM sagas WHERE status = ? ORDER BY created_at "
                          "LIMIT ?", (str(status), limit))

    def unfinished(self) -> list[Saga]:
        return self._rows("SELECT state FROM sagas WHERE status IN (?, ?) ORDER BY created_at",
                          (str(SagaStatus.RUNNING), str(SagaStatus.COMPENSATING)))

    def close(self) -> None:
        self._writes.close()
        self._writer.close()
        with self._reader_lock:
            self._reader.close()
