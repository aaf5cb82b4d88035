"""A worker process for the multi-process tests: claims profile updates and applies them.

    python -m tests.taskqueue_worker_proc STORE_URL DEST_DIR WORKER_ID QUEUE [QUEUE...]

Each destination is a SQLite file that applies updates idempotently by version
(an older or repeated update changes nothing) and records every task id it
applied, so the parent can check at-least-once delivery and convergence.
Prints "claimed N" when it holds a batch and "applied N" once it acked it, so
the parent can follow progress and kill it with work in hand.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from actors import configure_logging
from actors.redis import RedisTaskStore
from actors.taskqueue import TaskQueue, TaskQueueConfig

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (user_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS applied (task_id TEXT PRIMARY KEY);
"""


def destination(dest_dir: Path, queue: str) -> sqlite3.Connection:
    conn = sqlite3.connect(dest_dir / f"{queue}.sqlite3", timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def apply(conn: sqlite3.Connection, task_id: str, user_id: str, version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO profiles (user_id, version) VALUES (?, ?) "
        "ON CONFLICT(user_id) DO UPDATE SET version = excluded.version "
        "WHERE excluded.version > profiles.version",
        (user_id, version),
    )
    conn.execute("INSERT OR IGNORE INTO applied (task_id) VALUES (?)", (task_id,))
    conn.execute("COMMIT")


def main() -> None:
    url, dest_dir, worker_id, *queues = sys.argv[1:]
    configure_logging(level="warning")  # stdout carries the progress lines only
    store = RedisTaskStore(url, TaskQueueConfig(visibility_timeout=1.0))
    tasks = TaskQueue(store)
    conns = {q: destination(Path(dest_dir), q) for q in queues}
    print("ready", flush=True)
    while True:
        worked = 0
        for queue in queues:
            batch = tasks.claim(queue, worker_id, limit=50)
            if batch:
                print(f"claimed {len(batch)}", flush=True)
            for claimed in batch:
                payload = claimed.task.payload
                apply(conns[queue], claimed.task.id, payload["user_id"], payload["version"])
            if batch:
                tasks.ack(batch)
                worked += len(batch)
        if worked:
            print(f"applied {worked}", flush=True)
        else:
            time.sleep(0.02)  # an idle poll of the shared queue; the actor workers use wake-ups


if __name__ == "__main__":
    main()
