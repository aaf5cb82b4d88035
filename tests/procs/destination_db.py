"""A destination service's own SQLite database, for the multi-process delivery tests.

It applies profile updates idempotently by version and remembers every task id
it applied, so a test can check at-least-once delivery and convergence.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (user_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS applied (task_id TEXT PRIMARY KEY);
"""


def open_destination(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def apply(conn: sqlite3.Connection, task_id: str, user_id: str, version: int) -> None:
    """Keep the newer version; record the task id either way (one transaction)."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO profiles (user_id, version) VALUES (?, ?) "
        "ON CONFLICT(user_id) DO UPDATE SET version = excluded.version "
        "WHERE excluded.version > profiles.version",
        (user_id, version),
    )
    conn.execute("INSERT OR IGNORE INTO applied (task_id) VALUES (?)", (task_id,))
    conn.execute("COMMIT")


def read_destination(path: Path) -> tuple[set[str], dict[str, int]]:
    """The task ids applied, and user id -> version held."""
    with sqlite3.connect(path) as conn:
        applied = {row[0] for row in conn.execute("SELECT task_id FROM applied")}
        profiles = dict(conn.execute("SELECT user_id, version FROM profiles").fetchall())
    conn.close()
    return applied, profiles
