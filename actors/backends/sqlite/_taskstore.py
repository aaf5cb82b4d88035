"""The SQLite `TaskStore`: WAL journal, one write connection, group commit.

Every write (enqueue, claim, ack, retry, dead-letter, replay) is a small
function run on the one write connection. Whoever finds the connection free
commits every write waiting at that moment (up to `max_group_commit`) in one
transaction, so concurrent callers share a commit, the costly part; each
caller returns once the commit holding its write is done. Reads (`stats`,
`list_dead_letters`) use a second connection and never wait for writes.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from actors.backends.sqlite._db import SingleStatement, open_database, sqlite_writer
from actors.backends.sqlite._ids import reserve_ids
from actors.backends.sqlite._registry import SqliteGroupRegistry
from actors.core import (
    CorruptData,
    IdBlocks,
    describe_raw,
    is_finite_number,
    short_repr,
    storable_text,
)
from actors.taskqueue.storage import (
    PRIORITIES,
    ClaimedTask,
    DeadLetteredTask,
    Lease,
    NewTask,
    QueueStats,
    Task,
    TaskNotFound,
    TaskQueueConfig,
    TaskStoreClosed,
    TaskStoreError,
    TaskStoreTimeout,
    attempts_exhausted,
    checked_leases,
    claim_request,
    decode_payload,
    events,
    lease_task_number,
    listing_limit,
    new_tasks,
    queue_name,
    store_config,
    store_text,
    store_time,
    task_id_text,
    task_number,
)

T = TypeVar("T")

SCHEMA_VERSION = 2  # 2 added the trace column (docs/observability.md)

# visible_at is the one column claims look at: the due time (not_before) while a
# task is unleased, the lease's expiry while it is leased, so "claimable" is
# simply visible_at <= now and an expired lease needs no sweeper. AUTOINCREMENT
# keeps ids unique for the life of the file: an acked task's id is never reused
# (`_ids` hands them out in blocks it reserves in sqlite_sequence).
_SCHEMA = (
    """CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL,
        not_before REAL NOT NULL,
        visible_at REAL NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        lease_token TEXT,
        worker_id TEXT,
        trace TEXT
    )""",
    # Claim order: priority level, then earliest visible, then id (the implicit rowid).
    "CREATE INDEX tasks_claim_order ON tasks (queue, priority, visible_at)",
    """CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL,
        not_before REAL NOT NULL,
        enqueued_at REAL NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT,
        reason TEXT NOT NULL,
        dead_lettered_at REAL NOT NULL,
        trace TEXT
    )""",
    "CREATE INDEX dead_letters_by_queue ON dead_letters (queue, id)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

# With the id taken from the store's reserved block (`_ids`), not left to AUTOINCREMENT.
_INSERT = ("INSERT INTO tasks (id, queue, payload, priority, not_before, visible_at, "
           "enqueued_at, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
# Version 1 files gain the trace column in place; their tasks simply have none.
_MIGRATE_1_TO_2 = (
    "ALTER TABLE tasks ADD COLUMN trace TEXT",
    "ALTER TABLE dead_letters ADD COLUMN trace TEXT",
    "PRAGMA user_version = 2",
)
# CAST AS BLOB: a payload that is not valid UTF-8 must reach our decoder (and the
# quarantine), not make sqlite3 raise for the whole result set.
_SELECT_DUE = (
    "SELECT id, CAST(payload AS BLOB), not_before, enqueued_at, attempts, last_error, "
    "lease_token, worker_id, trace FROM tasks "
    "WHERE queue = ? AND priority = ? AND visible_at <= ? ORDER BY visible_at, id LIMIT ?"
)
# Every level in one statement (one index range per level, highest first; SQLite
# runs the parts of a UNION ALL in order and stops at the LIMIT): a claim is one
# query, not one per priority level.
_LEVEL = _SELECT_DUE.replace("SELECT id,", "SELECT priority, id,")
_LEVELS = [_LEVEL.replace("priority = ?", f"priority = {p:d}") for p in reversed(PRIORITIES)]
_SELECT_DUE_ALL = " UNION ALL ".join(f"SELECT * FROM ({level})" for level in _LEVELS) + " LIMIT ?"  # noqa: S608 - only our own SQL
_BURY = (
    "INSERT OR REPLACE INTO dead_letters (id, queue, payload, priority, not_before, "
    "enqueued_at, attempts, last_error, reason, dead_lettered_at, trace) "
    "SELECT id, queue, payload, priority, not_before, enqueued_at, attempts, "
    "COALESCE(?, last_error), ?, ?, trace FROM tasks WHERE id = ?"
)
_RETRY = (
    "UPDATE tasks SET lease_token = NULL, worker_id = NULL, not_before = ?, visible_at = ?, "
    "last_error = ? WHERE id = ? AND lease_token = ?"
)
_REPLAY = (
    "INSERT INTO tasks (id, queue, payload, priority, not_before, visible_at, enqueued_at, "
    "attempts, last_error, trace) SELECT id, queue, payload, priority, ?, ?, enqueued_at, 0, "
    "last_error, trace FROM dead_letters WHERE id = ?"
)
_STATS = (
    "SELECT COALESCE(SUM(visible_at <= :now), 0), "
    "COALESCE(SUM(lease_token IS NOT NULL AND visible_at > :now), 0), "
    "COALESCE(SUM(lease_token IS NULL AND visible_at > :now), 0), "
    "MIN(enqueued_at) FROM tasks WHERE queue = :queue"
)
_LIST_DEAD = (
    "SELECT id, queue, CAST(payload AS BLOB), priority, not_before, enqueued_at, attempts, "
    "last_error, reason, dead_lettered_at, trace FROM dead_letters WHERE queue = ? "
    "ORDER BY id LIMIT ?"
)

_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound on bound parameters


@dataclass(frozen=True, slots=True)
class WriteStats:
    """Group-commit counters: calls submitted, calls committed, transactions used.

    `committed / transactions` is the mean number of calls that shared a commit.
    """

    submitted: int
    committed: int
    transactions: int


class SqliteTaskStore:
    """A durable `TaskStore` in one SQLite file (WAL journal, group commit).

    Several processes may open the same file; SQLite serialises their writes.
    Close the store (or use it as a context manager) to finish pending writes and
    release the file.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tasks.sqlite3"
        >>> with SqliteTaskStore(TaskQueueConfig(sqlite_path=path)) as store:
        ...     ids = store.enqueue_many([NewTask("billing", {"v": 1})], now=0.0)
        >>> with SqliteTaskStore(TaskQueueConfig(sqlite_path=path)) as store:
        ...     [claimed] = store.claim("billing", "worker-1", limit=10, now=1.0)
        ...     store.ack_many([claimed.lease])
        [True]
    """

    def __init__(self, config: TaskQueueConfig | None = None) -> None:
        self._config = store_config(config)
        path = str(self._config.sqlite_path)
        writer, self._reader = open_database(
            path, synchronous=self._config.synchronous, busy_timeout=self._config.busy_timeout,
            migrate=_create_or_check_schema, error=TaskStoreError,
            page_size=self._config.sqlite_page_size)
        self._read_lock = threading.Lock()
        self._writer = sqlite_writer(writer, self._config.max_group_commit,
                                     closed_error=TaskStoreClosed,
                                     timeout_error=TaskStoreTimeout, name="task-store-writer")
        self._ids = IdBlocks(lambda count: self._write("enqueue", reserve_ids(count)))

    def __enter__(self) -> SqliteTaskStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def config(self) -> TaskQueueConfig:
        """The configuration the store was opened with."""
        return self._config

    def group_registry(self) -> SqliteGroupRegistry:
        """The durable bus groups, in a table of this store's file (shared by its processes)."""
        return SqliteGroupRegistry(self._config.sqlite_path)

    def write_stats(self) -> WriteStats:
        """How many calls were submitted and committed, in how many transactions."""
        writer = self._writer
        return WriteStats(writer.submitted, writer.committed, writer.transactions)

    # -- writes ---------------------------------------------------------------

    def enqueue_many(self, tasks: Sequence[NewTask], now: float) -> list[str]:
        """Store `tasks` atomically (all or none) and return their ids, in order."""
        now = store_time("now", now)
        rows = [
            (t.queue, t.payload_json, t.priority, due, due, now, t.trace)
            for t in new_tasks(tasks)
            for due in (now if t.not_before is None else t.not_before,)
        ]
        if not rows:
            return []

        if len(rows) == 1:
            task_id = self._ids.take_one()
            row = (task_id, *rows[0])

            def insert_one(conn: sqlite3.Connection) -> list[str]:
                conn.execute(_INSERT, row)
                return [str(task_id)]

            return self._write("enqueue", SingleStatement(insert_one))

        ids = self._ids.take(len(rows))
        numbered = [(task_id, *row) for task_id, row in zip(ids, rows, strict=True)]

        def insert(conn: sqlite3.Connection) -> list[str]:
            conn.executemany(_INSERT, numbered)
            return [str(task_id) for task_id in ids]

        return self._write("enqueue", insert)

    def claim(self, queue: str, worker_id: str, limit: int, now: float) -> list[ClaimedTask]:
        """Lease up to `limit` due tasks of `queue` to `worker_id`."""
        return self._claimed(queue, self._write("claim", self._lease(queue, worker_id, limit,
                                                                     now)))

    def ack_then_claim(self, leases: Sequence[Lease], queue: str, worker_id: str, limit: int,
                       now: float) -> tuple[list[bool], list[ClaimedTask]]:
        """`ack_many(leases)` and `claim(...)` in one transaction (`AckThenClaim`)."""
        delete, lease = self._delete(leases), self._lease(queue, worker_id, limit, now)

        def both(conn: sqlite3.Connection) -> tuple[set[tuple[str, str]], _Leased]:
            return delete(conn), lease(conn)

        acked, leased = self._write("claim", both)
        return ([(item.task_id, item.token) in acked for item in leases],
                self._claimed(queue, leased))

    def _claimed(self, queue: str, leased: _Leased) -> list[ClaimedTask]:
        claimed, buried = leased
        for grave in buried:
            events.dead_lettered(queue, str(grave.task_id), grave.reason, grave.attempts,
                                  grave.error)
        return claimed

    def _lease(self, queue: str, worker_id: str, limit: int, now: float
               ) -> Callable[[sqlite3.Connection], _Leased]:
        """The claim as a function of the write transaction it runs in."""
        queue, worker_id, limit, now = claim_request(queue, worker_id, limit, now,
                                                     self._config.max_claim_batch)
        expires = now + self._config.visibility_timeout
        policy = self._config.retry

        def lease(conn: sqlite3.Connection) -> _Leased:
            token = events.new_lease_token()
            claimed: list[ClaimedTask] = []
            buried: list[_Buried] = []
            while len(claimed) < limit:
                wanted = limit - len(claimed)
                rows = conn.execute(_SELECT_DUE_ALL,
                                    (queue, now, wanted) * len(PRIORITIES) + (wanted,)
                                    ).fetchall()
                taken: list[int] = []
                graves: list[_Buried] = []
                for (priority, task_id, raw, not_before, enqueued_at, attempts, last_error,
                     old_token, old_worker, trace) in rows:
                    try:
                        payload = decode_payload(raw)
                        _check_row(attempts, not_before, enqueued_at, last_error, old_worker)
                    except CorruptData as exc:
                        graves.append(_Buried(task_id, "corrupt", _count(attempts),
                                              f"payload {exc.reason}"))
                        continue
                    if attempts_exhausted(policy, attempts):
                        error = (events.expired_lease_error(old_worker, attempts)
                                 if old_token is not None else last_error)
                        graves.append(_Buried(task_id, "max_attempts", attempts, error))
                        continue
                    taken.append(task_id)
                    text_id = str(task_id)
                    task = Task(text_id, queue, payload, attempts + 1, not_before, priority,
                                enqueued_at, last_error, trace if type(trace) is str else None)
                    claimed.append(ClaimedTask(task, Lease(text_id, token, worker_id, expires)))
                for chunk in _chunks(taken):
                    conn.execute(_lease_sql(len(chunk)), (token, worker_id, expires, *chunk))
                for grave in graves:
                    _bury(conn, grave.task_id, grave.reason, grave.error, now)
                buried.extend(graves)
                if len(rows) < wanted:
                    break
            return claimed, buried

        return lease

    def ack_many(self, leases: Sequence[Lease]) -> list[bool]:
        """Remove the tasks whose lease is current; per lease, whether it was."""
        self._check_open("ack")
        if not leases:
            return []
        acked = self._write("ack", self._delete(leases))
        return [(lease.task_id, lease.token) in acked for lease in leases]

    @staticmethod
    def _delete(leases: Sequence[Lease]) -> Callable[[sqlite3.Connection], set[tuple[str, str]]]:
        """The ack as a function of the write transaction it runs in: the (id, token)
        pairs it removed."""
        by_token: dict[str, list[int]] = defaultdict(list)
        for lease in checked_leases(leases):
            rowid = lease_task_number(lease)
            if rowid is not None:
                by_token[lease.token].append(rowid)

        def delete(conn: sqlite3.Connection) -> set[tuple[str, str]]:
            acked: set[tuple[str, str]] = set()
            for token, ids in by_token.items():
                for chunk in _chunks(ids):
                    rows = conn.execute(_ack_sql(len(chunk)), (token, *chunk)).fetchall()
                    acked.update((str(task_id), token) for (task_id,) in rows)
            return acked

        return delete

    def retry(self, lease: Lease, not_before: float, error: str) -> bool:
        """Release the task to be due again at `not_before`, recording `error`."""
        self._check_open("retry")
        rowid = lease_task_number(checked_leases([lease])[0])
        not_before = store_time("not_before", not_before)
        error = storable_text(store_text("error", error))
        if rowid is None:
            return False

        def release(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(_RETRY, (not_before, not_before, error, rowid, lease.token))
            return cursor.rowcount == 1

        return self._write("retry", release)

    def dead_letter(self, lease: Lease, reason: str, error: str | None, now: float) -> bool:
        """Move the task to the dead-letter queue if `lease` is current."""
        self._check_open("dead_letter")
        rowid = lease_task_number(checked_leases([lease])[0])
        reason = storable_text(store_text("reason", reason))
        error = store_text("error", error, optional=True)
        error = None if error is None else storable_text(error)
        now = store_time("now", now)
        if rowid is None:
            return False

        def bury(conn: sqlite3.Connection) -> tuple[str, int] | None:
            row = conn.execute("SELECT queue, attempts FROM tasks WHERE id = ? "
                               "AND lease_token = ?", (rowid, lease.token)).fetchone()
            if row is None:
                return None
            _bury(conn, rowid, reason, error, now)
            return row[0], row[1]

        buried = self._write("dead_letter", bury)
        if buried is None:
            return False
        events.dead_lettered(buried[0], lease.task_id, reason, buried[1], error)
        return True

    def replay_dead_letter(self, task_id: str, now: float) -> None:
        """Put a dead-lettered task back in its queue, due at `now`, attempts reset."""
        self._check_open("replay")
        rowid, now = task_number(task_id_text(task_id)), store_time("now", now)
        if rowid is None:
            raise TaskNotFound(task_id)

        def replay(conn: sqlite3.Connection) -> bool:
            if conn.execute(_REPLAY, (now, now, rowid)).rowcount == 0:
                return False
            conn.execute("DELETE FROM dead_letters WHERE id = ?", (rowid,))
            return True

        if not self._write("replay_dead_letter", replay):
            raise TaskNotFound(task_id)

    # -- reads ----------------------------------------------------------------

    def list_dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetteredTask]:
        """Up to `limit` dead-lettered tasks of `queue`, by task id (`TaskStore`)."""
        queue, limit = queue_name(queue), listing_limit(limit)
        rows = self._read("list_dead_letters",
                          lambda conn: conn.execute(_LIST_DEAD, (queue, limit)).fetchall())
        letters = []
        for (task_id, stored_queue, raw, priority, not_before, enqueued_at, attempts,
             last_error, reason, at, trace) in rows:
            try:
                payload = decode_payload(raw)
            except CorruptData:
                payload = None
            # Whatever a foreign writer left in the row, the operator gets a listing.
            task = Task(str(task_id), str(stored_queue), payload, _count(attempts),
                        _time(not_before), _count(priority), _time(enqueued_at),
                        None if last_error is None else describe_raw(last_error),
                        trace if isinstance(trace, str) else None)
            letters.append(DeadLetteredTask(task, describe_raw(reason), _time(at),
                                            describe_raw(raw)))
        return letters

    def stats(self, queue: str, now: float) -> QueueStats:
        """The queue's metrics at `now` (one consistent snapshot)."""
        queue = queue_name(queue)

        def read(conn: sqlite3.Connection) -> QueueStats:
            conn.execute("BEGIN")
            try:
                depth, in_flight, delayed, oldest = conn.execute(
                    _STATS, {"now": now, "queue": queue}).fetchone()
                (dead,) = conn.execute("SELECT COUNT(*) FROM dead_letters WHERE queue = ?",
                                       (queue,)).fetchone()
            finally:
                conn.execute("COMMIT")
            age = 0.0 if oldest is None else max(0.0, now - oldest)
            return QueueStats(depth, in_flight, delayed, dead, age)

        return self._read("stats", read)

    def close(self) -> None:
        """Commit the writes already submitted, stop the writer thread, close the file."""
        self._writer.close(self._config.write_timeout)
        with self._read_lock:
            self._reader.close()

    # -- plumbing -------------------------------------------------------------

    def _check_open(self, operation: str) -> None:
        """`TaskStoreClosed` after `close`, also for a call that has nothing to write."""
        if self._writer.is_closed:
            raise TaskStoreClosed(operation)

    def _write(self, operation: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            result: T = self._writer.submit(operation, fn, self._config.write_timeout)
        except sqlite3.Error as exc:
            raise TaskStoreError(operation, exc) from exc
        return result

    def _read(self, operation: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._read_lock:
            if self._writer.is_closed:
                raise TaskStoreClosed(operation)
            try:
                return fn(self._reader)
            except sqlite3.Error as exc:
                raise TaskStoreError(operation, exc) from exc


def _create_or_check_schema(conn: sqlite3.Connection) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == 0:
        for statement in _SCHEMA:
            conn.execute(statement)
    elif version == 1:
        for statement in _MIGRATE_1_TO_2:
            conn.execute(statement)
    elif version != SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"the task database has schema version {version}, this stanchion supports "
            f"{SCHEMA_VERSION}: open it with a matching stanchion version")


@dataclass(frozen=True, slots=True)
class _Buried:
    task_id: int
    reason: str
    attempts: int
    error: str | None


_Leased = tuple[list[ClaimedTask], list[_Buried]]  # what a claim took, what it buried


def _check_row(attempts: object, not_before: object, enqueued_at: object,
               last_error: object, worker: object) -> None:
    """`CorruptData` unless the row's columns have the types this store writes."""
    if (type(attempts) is int and type(not_before) is float and type(enqueued_at) is float
            and math.isfinite(not_before) and math.isfinite(enqueued_at)
            and (last_error is None or type(last_error) is str)
            and (worker is None or type(worker) is str)):
        return  # a row as this store writes it: every claimed row, so checked inline first
    if type(attempts) is not int:
        raise CorruptData(f"row is malformed: attempts is {short_repr(attempts)}")
    for column, value in (("not_before", not_before), ("enqueued_at", enqueued_at)):
        if not is_finite_number(value):
            raise CorruptData(f"row is malformed: {column} is {short_repr(value)}")
    for column, value in (("last_error", last_error), ("worker_id", worker)):
        if value is not None and type(value) is not str:
            raise CorruptData(f"row is malformed: {column} is {short_repr(value)}")


def _count(value: object) -> int:
    return value if type(value) is int else 0


def _time(value: object) -> float:
    return float(value) if is_finite_number(value) else 0.0  # type: ignore[arg-type]


def _bury(conn: sqlite3.Connection, rowid: int, reason: str, error: str | None,
          now: float) -> None:
    conn.execute(_BURY, (error, reason, now, rowid))
    conn.execute("DELETE FROM tasks WHERE id = ?", (rowid,))


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


@functools.lru_cache(maxsize=64)
def _lease_sql(count: int) -> str:
    marks = ", ".join("?" * count)
    assignments = "lease_token = ?, worker_id = ?, visible_at = ?, attempts = attempts + 1"
    return f"UPDATE tasks SET {assignments} WHERE id IN ({marks})"  # noqa: S608 - only "?" marks


@functools.lru_cache(maxsize=64)
def _ack_sql(count: int) -> str:
    marks = ", ".join("?" * count)
    return f"DELETE FROM tasks WHERE lease_token = ? AND id IN ({marks}) RETURNING id"  # noqa: S608 - only "?" marks
