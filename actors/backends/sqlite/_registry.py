"""`SqliteGroupRegistry`: durable bus groups in a table of the task store's SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from actors.backends.sqlite._db import lenient_text
from actors.bus.storage import check_same_pattern, valid_groups
from actors.taskqueue.storage import TaskStoreError


class SqliteGroupRegistry:
    """Groups in a table of the task store's SQLite file (processes on one machine)."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS bus_groups (bus TEXT NOT NULL, "
                         "grp TEXT NOT NULL, pattern TEXT NOT NULL, PRIMARY KEY (bus, grp))")
        conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=30)
        conn.text_factory = lenient_text  # a damaged row is skipped, not a failed publish
        return conn

    def register(self, bus: str, group: str, pattern: str) -> None:
        with self._lock, self._connect() as conn:
            row = conn.execute("SELECT pattern FROM bus_groups WHERE bus = ? AND grp = ?",
                               (bus, group)).fetchone()
            check_same_pattern(group, row[0] if row else None, pattern)
            conn.execute("INSERT OR IGNORE INTO bus_groups VALUES (?, ?, ?)",
                         (bus, group, pattern))
        conn.close()

    def unregister(self, bus: str, group: str) -> None:
        with self._lock, self._connect() as conn:
            conn.execute("DELETE FROM bus_groups WHERE bus = ? AND grp = ?", (bus, group))
        conn.close()

    def groups(self, bus: str) -> dict[str, str]:
        try:
            with self._lock, self._connect() as conn:
                rows = conn.execute("SELECT grp, pattern FROM bus_groups WHERE bus = ?",
                                    (bus,)).fetchall()
            conn.close()
        except sqlite3.Error as exc:
            raise TaskStoreError("list durable groups", exc) from exc
        return valid_groups(bus, rows)
