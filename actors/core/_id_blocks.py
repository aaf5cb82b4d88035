"""`IdBlocks`: unique ids handed out from blocks a store reserved in its storage.

A store that numbers its tasks reserves a block of ids with one committed write
(SQLite: its `sqlite_sequence` row; Redis: an INCRBY of its id counter) and
hands them out without touching the storage again, so an enqueue does not
write the counter. Blocks of several processes never overlap (each reservation
is atomic in the storage); ids reserved and not used (the store closed or
crashed) are skipped, never handed out. Ids are therefore unique and never
reused, but not a global enqueue order across processes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

ID_BLOCK = 1000
"""Ids one reservation takes: one small commit for every thousand enqueued tasks."""

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
