"""Child process for the SIGKILL convergence test: enqueue profile updates, deliver them.

    python -m tests.procs.taskqueue_crash_child WORKDIR START USERS VERSIONS SEED

Enqueues the seeded, shuffled updates from index START on (printing
"accepted END ID,ID,..." once each chunk is committed), while worker actors
deliver them to three destinations, SQLite files that apply updates
idempotently by version and record every task id they applied. Prints
"drained" once every queue is empty, then keeps running until killed.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import threading
from pathlib import Path

from actors import configure_logging
from actors.backends import SqliteTaskStore
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem
from actors.taskqueue import QueueSpec, Task, TaskQueueConfig, TaskQueueService
from tests.procs.destination_db import apply, open_destination

DESTINATIONS = ("billing", "search", "mail")
CHUNK = 50


def updates(users: int, versions: int, seed: int) -> list[dict[str, object]]:
    items = [{"user_id": f"u{u}", "version": v} for u in range(users)
             for v in range(1, versions + 1)]
    random.Random(seed).shuffle(items)
    return items


class Destination:
    """A service's own database: apply by version, remember what was applied."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.local()
        self.conn()

    def conn(self) -> sqlite3.Connection:
        if not hasattr(self.local, "conn"):
            self.local.conn = open_destination(self.path)
        return self.local.conn  # type: ignore[no-any-return]

    def __call__(self, task: Task) -> None:
        apply(self.conn(), task.id, task.payload["user_id"], task.payload["version"])


def main() -> None:
    workdir, start, users, versions, seed = sys.argv[1:]
    work = Path(workdir)
    configure_logging(level="error")
    store = SqliteTaskStore(TaskQueueConfig(
        sqlite_path=work / "tasks.sqlite3", visibility_timeout=1.0,
        retry=RetryPolicy(max_attempts=None, base_delay=0.01, max_delay=0.1)))
    items = updates(int(users), int(versions), int(seed))
    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [
            QueueSpec(f"profile->{d}", Destination(work / f"{d}.sqlite3"), workers=2,
                      poll_interval=0.05) for d in DESTINATIONS])
        print("ready", flush=True)
        for index in range(int(start), len(items), CHUNK):
            chunk = items[index:index + CHUNK]
            ids = [i for d in DESTINATIONS for i in tasks.enqueue_many(f"profile->{d}", chunk)]
            print(f"accepted {index + len(chunk)} {','.join(ids)}", flush=True)
        for d in DESTINATIONS:
            tasks.wait_until_drained(f"profile->{d}", 120)
        print("drained", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
