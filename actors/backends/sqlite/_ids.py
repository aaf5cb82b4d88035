"""Task ids of the SQLite task store: handed out from blocks reserved in `sqlite_sequence`.

The `tasks` table is `AUTOINCREMENT`, so ids are never reused (a consumer may
key its de-duplication on them). Left to SQLite, every transaction that
inserts a task also rewrites the table's `sqlite_sequence` row: one more page
in the WAL for each one-task commit, about a quarter of its cost. Instead a
store reserves ids a block at a time: one committed transaction moves the
table's `sqlite_sequence` past the block (and past every id in `tasks` and
`dead_letters`), and its enqueues insert explicit ids from the block, which
SQLite sees as below the sequence and leaves it alone.

Every process reserves under SQLite's write lock, so blocks never overlap, and
an `AUTOINCREMENT` insert without an id (an older stanchion) starts past every
reserved block. Ids a store reserved and did not use (it closed or crashed) are
skipped, never handed out. Ids are not a global enqueue order: stores of
several processes take them in blocks.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

ID_BLOCK = 1000
"""Ids one reservation takes: one small commit for every thousand enqueued tasks."""

MAX_ID = 2**63 - 1  # SQLite's largest rowid

Reserve = Callable[[int], tuple[int, int]]
"""Commits a reservation of `count` consecutive ids; returns the first and the last."""


class IdBlocks:
    """Unique task ids for one store, from blocks its `reserve` committed.

    Thread-safe: callers on several threads take distinct ids. A block is only
    used once its reservation has committed, so a rolled-back transaction never
    leaves ids that another process could take as well.
    """

    __slots__ = ("_block", "_end", "_lock", "_next", "_reserve")

    def __init__(self, reserve: Reserve, block: int = ID_BLOCK) -> None:
        self._reserve = reserve
        self._block = block
        self._lock = threading.Lock()
        self._next, self._end = 1, 0  # empty: the first take reserves

    def take_one(self) -> int:
        """The next id (reserving a block first if this store has none left)."""
        with self._lock:
            task_id = self._next
            if task_id <= self._end:
                self._next = task_id + 1
                return task_id
        return self.take(1)[0]

    def take(self, count: int) -> list[int]:
        """`count` consecutive ids."""
        with self._lock:
            first = self._next
            if self._end - first + 1 >= count:
                self._next = first + count
                return list(range(first, first + count))
        # Reserved outside the lock, so no caller waits longer than its own write
        # (the store's write_timeout). Callers racing here each reserve a block; the
        # newest is kept, and what is left of the others is skipped.
        first, last = self._reserve(max(self._block, count))
        with self._lock:
            if first >= self._next:
                self._next, self._end = first + count, last
        return list(range(first, first + count))


# Each part is an integer whatever the row holds (a foreign or damaged sequence
# row of text or a real counts as what CAST makes of it; none at all as 0), and
# the stored ids are looked at too, so a block always starts past every id in use.
_HIGHEST = (
    "SELECT max(coalesce((SELECT max(CAST(seq AS INTEGER)) FROM sqlite_sequence "
    "WHERE name = 'tasks'), 0), coalesce((SELECT max(id) FROM tasks), 0), "
    "coalesce((SELECT max(id) FROM dead_letters), 0))"
)


def reserve_ids(count: int) -> Callable[[sqlite3.Connection], tuple[int, int]]:
    """The write that reserves `count` task ids: run in the store's write transaction."""

    def reserve(conn: sqlite3.Connection) -> tuple[int, int]:
        (highest,) = conn.execute(_HIGHEST).fetchone()
        if highest > MAX_ID - count:
            raise sqlite3.DataError(
                f"task ids are exhausted: {highest} is in use or reserved, and {count} more "
                f"would pass SQLite's largest id ({MAX_ID}); move the queue to a new "
                "database file")
        first, last = highest + 1, highest + count
        if conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'tasks'",
                        (last,)).rowcount == 0:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('tasks', ?)", (last,))
        return first, last

    return reserve
