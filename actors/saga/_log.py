"""The saga log: every saga's state, written before each command and after each reply.

Writes are asynchronous with a completion callback, so one coordinator thread
can keep many sagas moving while their writes share commits: the coordinator
appends the new state and sends the next command only in the callback, once
the state is durable. `MemorySagaLog` (tests) runs callbacks at once;
`SqliteSagaLog` commits in batches on a writer thread.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from actors._sqlite import open_database
from actors.core import (
    ConfigError,
    CorruptData,
    DataNotSerializable,
    StanchionError,
    codec,
    require,
    short_repr,
)
from actors.core import validate as check
from actors.saga._batching import Done, Op, SagaLogClosed, SagaLogError, WriteBatcher, row
from actors.saga._machine import ENDS, Saga, SagaStatus, StepRecord, StepStatus

_log = structlog.get_logger("stanchion.saga")


class SagaDataNotSerializable(DataNotSerializable):
    """A saga's data is not plain JSON within the limits; the saga was not created.

    The rules and limits are those of every durable store (`actors._codec`):
    at most 100 levels deep and 4 MiB encoded, with the saga's own state.
    """

    def __init__(self, saga_id: str, cause: DataNotSerializable) -> None:
        self.saga_id = saga_id
        self.cause = cause
        self.path, self.kind, self.detail = cause.path, cause.kind, cause.detail
        StanchionError.__init__(
            self, f"saga {saga_id!r} was not started: its data must be plain JSON "
                  f"(the log is JSON, never pickle): {cause}")


class DuplicateSaga(StanchionError):
    """A saga with this id already exists; the new one was not created."""

    def __init__(self, saga_id: str) -> None:
        self.saga_id = saga_id
        super().__init__(f"a saga with id {saga_id!r} already exists; use a new id, or query "
                         "the existing saga's status")


@dataclass(frozen=True, slots=True)
class CorruptSaga:
    """A saga the log holds but cannot read: quarantined, left for an operator.

    `reason` says what is wrong (`state is not valid JSON: ...`, `state has
    the wrong shape: ...`); `raw` is a printable form of what is stored.
    Recovery skips it; the other sagas recover as usual.
    """

    saga_id: str
    reason: str
    raw: str


def encode(saga: Saga) -> str:
    """The saga as JSON text; `SagaDataNotSerializable` if it is not plain JSON within the limits.

    The state is the envelope of the saga's data, so it may nest one level
    deeper than the data (`actors._codec`). Its parts were checked where they
    entered (its own fields are plain by construction, its data at
    `Sagas.start_saga`, each reply before it is merged), so each write skips
    the type walk; the size limit and the faithful-text rule still hold.
    """
    try:
        return codec.encode(saga.to_json(), max_depth=codec.MAX_STORED_DEPTH,
                             parts_checked=True)
    except DataNotSerializable as exc:
        raise SagaDataNotSerializable(saga.id, exc) from exc


def decode(raw: object) -> Saga:
    """The saga stored as `raw`; `CorruptData` if it is not a saga's state, whatever it holds."""
    try:
        state = codec.decode(raw)
    except CorruptData as exc:
        raise CorruptData(f"state {exc.reason}") from None
    try:
        return _saga_from_state(state)
    except CorruptData as exc:
        raise CorruptData(f"state has the wrong shape: {exc.reason}") from None


def _saga_from_state(state: object) -> Saga:
    """Check every field's type, so a saga that loads can be driven without a crash."""
    doc = _mapping(state, "the state")
    steps = doc["steps"]
    if type(steps) is not list:
        raise CorruptData(f"steps is {short_repr(steps)}, not a list")
    return Saga(_text(doc, "id"), _text(doc, "definition"),
                _enum(SagaStatus, doc["status"], "status"), dict(_mapping(doc["data"], "data")),
                [_step(step) for step in steps], _time(doc, "created_at"),
                _time(doc, "updated_at"), _flag(doc, "stuck"))


_SAGA_KEYS = ("id", "definition", "status", "data", "steps", "created_at", "updated_at",
              "stuck")
_STEP_KEYS = ("name", "status", "attempts", "compensation_attempts", "may_have_happened",
              "started_at", "finished_at", "error")


def _mapping(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise CorruptData(f"{what} is {short_repr(value)}, not an object")
    keys = _SAGA_KEYS if what == "the state" else _STEP_KEYS if what == "a step" else ()
    missing = [key for key in keys if key not in value]
    if missing:
        raise CorruptData(f"{what} has no {', '.join(missing)}")
    return value


def _step(value: object) -> StepRecord:
    doc = _mapping(value, "a step")
    error = doc["error"]
    if error is not None and type(error) is not str:
        raise CorruptData(f"a step's error is {short_repr(error)}")
    return StepRecord(_text(doc, "name"), _enum(StepStatus, doc["status"], "a step's status"),
                      _count(doc, "attempts"), _count(doc, "compensation_attempts"),
                      _flag(doc, "may_have_happened"), _time(doc, "started_at", optional=True),
                      _time(doc, "finished_at", optional=True), error)


def _text(doc: Mapping[str, Any], key: str) -> str:
    value = doc[key]
    if type(value) is not str or not value:
        raise CorruptData(f"{key} is {short_repr(value)}, not a name")
    return value


def _enum(kind: type[SagaStatus] | type[StepStatus], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except (ValueError, TypeError):
        raise CorruptData(f"{what} is {short_repr(value)}") from None


def _count(doc: Mapping[str, Any], key: str) -> int:
    value = doc[key]
    if type(value) is not int or value < 0:
        raise CorruptData(f"{key} is {short_repr(value)}, not a count")
    return value


def _flag(doc: Mapping[str, Any], key: str) -> bool:
    value = doc[key]
    if type(value) is not bool:
        raise CorruptData(f"{key} is {short_repr(value)}, not true or false")
    return value


def _time(doc: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    value = doc[key]
    if value is None and optional:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise CorruptData(f"{key} is {short_repr(value)}, not a time")
    return float(value)


class Quarantine:
    """The sagas a log found it cannot read: each logged once (`saga.corrupt`), then listed."""

    def __init__(self) -> None:
        self._found: dict[str, CorruptSaga] = {}
        self._lock = threading.Lock()

    def load(self, saga_id: str, raw: object) -> Saga | None:
        """The saga stored as `raw` under `saga_id`, or `None` (quarantined) if unreadable."""
        try:
            saga = decode(raw)
        except CorruptData as exc:
            self.add(saga_id, exc.reason, raw)
            return None
        if saga.id != saga_id:
            self.add(saga_id, f"state belongs to saga {short_repr(saga.id)}", raw)
            return None
        return saga

    def add(self, saga_id: str, reason: str, raw: object) -> None:
        """Record an unreadable saga (or storage key); logged the first time it is found."""
        entry = CorruptSaga(saga_id, reason, codec.describe_raw(raw))
        with self._lock:
            known = self._found.get(saga_id)
            self._found[saga_id] = entry
        if known is None or known.reason != reason:
            _log.error("saga.corrupt", saga_id=saga_id, reason=reason,
                       raw=short_repr(entry.raw))

    def listing(self) -> list[CorruptSaga]:
        with self._lock:
            return list(self._found.values())


class SagaLog(Protocol):
    """Where sagas are kept; every backend (memory, SQLite, Redis) honours this.

    Reads never fail for one unreadable saga: a stored state that cannot be
    decoded, or decodes to something that is not a saga, is quarantined
    (logged `saga.corrupt`, skipped, listed by `corrupt()`) and the others
    are returned as usual.
    """

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
        """The saga's last durable state (`None` if unknown or unreadable)."""
        ...

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        """Sagas by state, oldest first."""
        ...

    def unfinished(self) -> list[Saga]:
        """Sagas that are neither completed, compensated nor compensation_failed."""
        ...

    def corrupt(self) -> list[CorruptSaga]:
        """The sagas found unreadable by this log's reads (recovery reads every unfinished one)."""
        ...

    def quarantine(self, saga_id: str, reason: str) -> None:
        """Record a saga that was read but cannot be resumed (e.g. steps unlike its definition)."""
        ...

    def close(self) -> None:
        """Finish pending writes and release the storage."""
        ...


class MemorySagaLog:
    """Keeps sagas in memory (tests, and embedders who do not need durability).

    States are kept as JSON text, encoded and decoded exactly as the durable
    logs do, so a test sees the same refusals and the same quarantine.
    """

    def __init__(self) -> None:
        self._sagas: dict[str, object] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._quarantine = Quarantine()

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
            raw = self._sagas.get(saga_id)
        return self._quarantine.load(saga_id, raw) if raw is not None else None

    def by_status(self, status: SagaStatus | None = None, limit: int = 1000) -> list[Saga]:
        with self._lock:
            stored = list(self._sagas.items())
        sagas = [saga for saga_id, raw in stored
                 if (saga := self._quarantine.load(saga_id, raw)) is not None]
        chosen = [s for s in sagas if status is None or s.status is status]
        return sorted(chosen, key=lambda s: s.created_at)[:limit]

    def unfinished(self) -> list[Saga]:
        return [s for s in self.by_status(limit=10**9) if s.status not in ENDS]

    def corrupt(self) -> list[CorruptSaga]:
        return self._quarantine.listing()

    def quarantine(self, saga_id: str, reason: str) -> None:
        self._quarantine.add(saga_id, reason, "")

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


class BatchedSagaLog:
    """The write side shared by the durable logs: writes go to one writer thread in batches.

    A subclass opens its storage, then calls `__init__`, and implements
    `_commit(batch)`: apply every write of the batch at once and return, per
    write, `None` or the error (`DuplicateSaga` for a create whose id exists);
    or roll the whole batch back and raise, and each write is tried again on
    its own. Every write is encoded and checked on the caller's thread, before
    it joins a batch, so data that cannot be stored fails only its caller.
    """

    def __init__(self, *, max_batch: int, name: str) -> None:
        require(isinstance(max_batch, int) and max_batch >= 1, "max_batch", max_batch,
                "an integer >= 1")
        self.transactions = 0
        self._quarantine = Quarantine()
        self._writes = WriteBatcher(self._commit, max_batch=max_batch, name=name)

    def create(self, saga: Saga, done: Done) -> None:
        self._writes.submit(("create", row(saga, encode(saga)), done))

    def save(self, saga: Saga, done: Done | None = None) -> None:
        self._writes.submit(("save", row(saga, encode(saga)), done))

    def flush(self, timeout: float = 30.0) -> bool:
        return self._writes.flush(timeout)

    def corrupt(self) -> list[CorruptSaga]:
        return self._quarantine.listing()

    def quarantine(self, saga_id: str, reason: str) -> None:
        self._quarantine.add(saga_id, reason, "")

    def _commit(self, batch: list[Op]) -> list[BaseException | None]:
        raise NotImplementedError


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
        self._writer, self._reader = open_database(
            str(self.path), synchronous=synchronous, busy_timeout=30.0, migrate=_migrate,
            error=SagaLogError)
        self._reader_lock = threading.Lock()
        super().__init__(max_batch=max_batch, name="saga-log-writer")

    def _commit(self, batch: list[Op]) -> list[BaseException | None]:
        conn = self._writer
        results: list[BaseException | None] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for kind, args, _ in batch:
                if kind == "create":
                    conn.execute("SAVEPOINT one")
                    try:
                        conn.execute(_INSERT, args)
                    except sqlite3.IntegrityError:
                        conn.execute("ROLLBACK TO one")
                        results.append(DuplicateSaga(args[0]))
                    else:
                        results.append(None)
                    conn.execute("RELEASE one")
                else:
                    conn.execute(_UPSERT, args)
                    results.append(None)
            conn.execute("COMMIT")
        except Exception as exc:
            # Whatever failed (the disk, or one write's data), leave no transaction
            # open: the batcher then tries each write on its own.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise SagaLogError(f"a write to {self.path}", exc) from exc
        self.transactions += 1
        return results

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
        self._writes.close()
        self._writer.close()
        with self._reader_lock:
            self._reader.close()
