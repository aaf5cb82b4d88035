"""Task ids of the SQLite task store: handed out from blocks reserved in `sqlite_sequence`.

The `tasks` table is `AUTOINCREMENT`, so ids are never reused (a consumer may
key its de-duplication on them). Left to SQLite, every transaction that
inserts a task also rewrites the table's `sqlite_sequence` row: one more page
in the WAL for each one-task commit, about a quarter of its cost. Instead a
store reserves ids a block at a time: one committed transaction moves the
table's `sqlite_sequence` past the block (and past every id in `tasks` and
`dead_letters`), and its enqueues insert explicit ids from the block, which
SQLite sees as below the sequence and leaves it alone (`actors.core.IdBlocks`
hands them out).

Every process reserves under SQLite's write lock, so blocks never overlap, and
an `AUTOINCREMENT` insert without an id (an older stanchion) starts past every
reserved block.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

MAX_ID = 2**63 - 1  # SQLite's largest rowid


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
