"""SQLite for the durable stores (task queue, saga log): opening a file, WAL, group commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from actors.core import short_repr

T = TypeVar("T")

ClosedError = Callable[[str], BaseException]
TimeoutError_ = Callable[[str, float], BaseException]


class Write(Generic[T]):
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs writes on the one write connection, many per transaction.

    No writer thread: the first caller to find no commit under way becomes
    the leader and commits every write waiting at that moment (its own
    included) in one transaction; callers arriving meanwhile wait, and are
    either committed by that leader or elect the next one. An uncontended call
    therefore runs on its own thread with no hand-off, and contended calls
    share commits.
    """

    def __init__(self, conn: sqlite3.Connection, max_batch: int, *,
                 closed_error: ClosedError, timeout_error: TimeoutError_) -> None:
        self._conn = conn
        self._max_batch = max_batch
        self._closed_error = closed_error
        self._timeout_error = timeout_error
        self._pending: list[Write[Any]] = []
        self._cond = threading.Condition()
        self._leading = False
        self._closed = False
        self.submitted = self.committed = self.transactions = 0

    @property
    def is_closed(self) -> bool:
        return self._closed

    def submit(self, operation: str, fn: Callable[[sqlite3.Connection], T],
               timeout: float) -> T:
        write = Write(fn)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._closed:
                raise self._closed_error(operation)
            self._pending.append(write)
            self.submitted += 1
            while not write.done and self._leading:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    if write in self._pending:  # not taken by a leader: it never will be
                        self._pending.remove(write)
                    raise self._timeout_error(operation, timeout)
            lead = not write.done
            if lead:
                self._leading = True
        if lead:
            self._lead_until(write)
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]  # set whenever error is None

    def _lead_until(self, write: Write[Any]) -> None:
        try:
            while not write.done:
                with self._cond:
                    batch = self._pending[:self._max_batch]
                    del self._pending[:self._max_batch]
                if not batch:  # cannot happen: a taken write is always marked done
                    write.error = RuntimeError("write lost by the group commit")
                    write.done = True
                    break
                self._commit(batch)
                with self._cond:
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()  # writes that arrived meanwhile elect a new leader

    def close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._closed:
                return
            self._closed = True
            while self._leading:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    return  # a commit is stuck; leave the connection to it
            self._leading = True
            batch, self._pending = self._pending, []
        try:
            for start in range(0, len(batch), self._max_batch):
                self._commit(batch[start:start + self._max_batch])
            self._conn.close()
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()

    def _commit(self, batch: list[Write[Any]]) -> None:
        try:
            self._commit_or_isolate(batch)
        except BaseException as exc:
            # Even the rollback failed (or the thread is interrupted): every caller
            # of this batch must still be answered, not left waiting.
            for write in batch:
                if not write.done:
                    write.error, write.done = exc, True
            if not isinstance(exc, Exception):
                raise

    def _commit_or_isolate(self, batch: list[Write[Any]]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # if the lock is not to be had, every caller is told
        try:
            results = [write.fn(conn) for write in batch]
        except Exception as exc:  # noqa: BLE001 - handed to the waiting caller below
            conn.execute("ROLLBACK")
            if len(batch) == 1:
                batch[0].error, batch[0].done = exc, True
                return
            # One call's failure must not fail the others: retry each on its own,
            # so the error reaches only the caller whose write caused it.
            for write in batch:
                self._commit_or_isolate([write])
            return
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.transactions += 1
        self.committed += len(batch)
        for write, result in zip(batch, results, strict=True):
            write.result, write.done = result, True


OpenError = Callable[[str, BaseException], BaseException]


def open_database(path: str, *, synchronous: str, busy_timeout: float,
                  migrate: Callable[[sqlite3.Connection], None],
                  error: OpenError) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """Open a store's file: the write connection (schema migrated) and a read connection.

    Both use the WAL journal with `synchronous`. `migrate(conn)` runs in one
    write transaction on the writer and raises `sqlite3.DatabaseError` for a
    schema it does not know. Whatever is wrong with the file (random bytes or
    a text file: "file is not a database"; a directory; no permission; a
    foreign schema) raises `error(operation, cause)`, the store's typed
    error, and leaves no connection open.
    """
    try:
        writer = connect(path, synchronous=synchronous, busy_timeout=busy_timeout)
        try:
            writer.execute("BEGIN IMMEDIATE")
            try:
                migrate(writer)
                writer.execute("COMMIT")
            except BaseException:
                if writer.in_transaction:
                    writer.execute("ROLLBACK")
                raise
            reader = connect(path, synchronous=synchronous, busy_timeout=busy_timeout)
        except BaseException:
            writer.close()
            raise
    except sqlite3.Error as exc:
        raise error(f"open of {short_repr(path)}", exc) from exc
    return writer, reader


def connect(path: str, *, synchronous: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) on the WAL journal.

    Text columns that are not valid UTF-8 (a foreign or damaged row) are read
    with replacement characters instead of failing the whole query; a store
    that must detect damage reads the column as a BLOB.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.text_factory = lenient_text
        use_wal(conn, synchronous)
    except BaseException:
        conn.close()
        raise
    return conn


def lenient_text(data: bytes) -> str:
    """A `text_factory` reading text that is not valid UTF-8 with replacement characters."""
    return data.decode("utf-8", "replace")


def use_wal(conn: sqlite3.Connection, synchronous: str) -> None:
    """WAL journal with `synchronous` (NORMAL survives a process crash, FULL a power loss)."""
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(
            f"journal_mode is {mode!r}, not 'wal' (is the file on a network share?)")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
