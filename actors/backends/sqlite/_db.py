"""SQLite for the durable stores (task queue, saga log): opening a file, WAL, group commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from actors.core import GroupCommit, short_repr

WAL_AUTOCHECKPOINT_PAGES = 10_000

SqlWrite = Callable[[sqlite3.Connection], Any]
"""A write: a function run inside the writer's transaction, returning the caller's result."""


class SingleStatement:
    """A write that is one SQL statement (one-row insert, say).

    Committed alone (nothing else waiting), it runs in autocommit mode, where
    SQLite makes the statement its own transaction: one call into SQLite
    instead of BEGIN, the statement and COMMIT, each of which releases and
    takes back the GIL, a hand-off to whichever thread runs meanwhile. With
    other writes beside it, it joins their transaction like any write.
    """

    __slots__ = ("_write",)

    def __init__(self, write: Callable[[sqlite3.Connection], Any]) -> None:
        self._write = write

    def __call__(self, conn: sqlite3.Connection) -> Any:
        return self._write(conn)


def sqlite_writer(conn: sqlite3.Connection, max_batch: int, *,
                  closed_error: Callable[[str], BaseException],
                  timeout_error: Callable[[str, float], BaseException],
                  name: str) -> GroupCommit[SqlWrite]:
    """The group-commit writer of one SQLite write connection (every SQLite store uses it).

    Each batch of waiting writes runs in one `BEGIN IMMEDIATE` ... `COMMIT`;
    a write that raises rolls the batch back, and the writer then commits each
    write on its own so only that caller gets the error. Closing the writer
    commits what waits, then closes the connection.
    """

    def commit(writes: list[SqlWrite]) -> list[Any]:
        if len(writes) == 1 and writes[0].__class__ is SingleStatement:
            return [writes[0](conn)]  # autocommit: the statement is the transaction
        conn.execute("BEGIN IMMEDIATE")  # if the lock is not to be had, every caller is told
        try:
            results = [write(conn) for write in writes]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    return GroupCommit(commit, max_batch=max_batch, closed_error=closed_error,
                       timeout_error=timeout_error, name=name, on_close=conn.close)


OpenError = Callable[[str, BaseException], BaseException]


def open_database(path: str, *, synchronous: str, busy_timeout: float,
                  migrate: Callable[[sqlite3.Connection], None],
                  error: OpenError,
                  page_size: int | None = None) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """Open a store's file: the write connection (schema migrated) and a read connection.

    Both use the WAL journal with `synchronous`. `migrate(conn)` runs in one
    write transaction on the writer and raises `sqlite3.DatabaseError` for a
    schema it does not know. Whatever is wrong with the file (random bytes or
    a text file: "file is not a database"; a directory; no permission; a
    foreign schema) raises `error(operation, cause)`, the store's typed
    error, and leaves no connection open. `page_size` is the page size of a
    file created here (SQLite's default if None); a file that exists keeps its own.
    """
    try:
        writer = connect(path, synchronous=synchronous, busy_timeout=busy_timeout,
                         page_size=page_size)
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


def connect(path: str, *, synchronous: str, busy_timeout: float,
            page_size: int | None = None) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) on the WAL journal.

    Text columns that are not valid UTF-8 (a foreign or damaged row) are read
    with replacement characters instead of failing the whole query; a store
    that must detect damage reads the column as a BLOB.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.text_factory = lenient_text
        if page_size is not None:  # only a new, empty file takes it (before WAL is set)
            conn.execute(f"PRAGMA page_size = {int(page_size)}")
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
    # A checkpoint syncs the WAL and the database file (even with NORMAL): at
    # SQLite's default of 1,000 pages that is two fsyncs every few hundred
    # small commits, the larger part of a one-row commit's cost here. 10,000
    # pages (40 MB of WAL at most between checkpoints) makes them rare; what
    # a commit promises is unchanged, it is durable in the WAL either way.
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
