"""A producer whose one-call enqueue returned is never lost, whatever moment the process dies.

A child process runs several producer threads, each calling `enqueue_many`
with one task at a time, so their calls share commits (one SQLite
transaction, one Redis script call led by whichever caller came first; a call
that finds nobody else waiting is one XADD on Redis). Each
thread reports a task id on stdout only after its call returned. The test
SIGKILLs the child at seeded random moments, several times on the same store,
then reads the store and checks every reported id is there. On Redis the
server itself (appendonly, fsync always) is SIGKILLed and restarted too, every
other round.
"""

from __future__ import annotations

import random
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from actors.backends import SqliteTaskStore
from actors.backends.redis import RedisTaskStore
from actors.taskqueue import TaskQueueConfig
from tests.killable_child import KillableChild
from tests.redis_server import redis_server

pytestmark = pytest.mark.slow

QUEUE = "grouped"
ROUNDS = 6
VISIBILITY_TIMEOUT = 3600.0

CHILD = textwrap.dedent(
    """
    import sys, threading, time
    from actors import configure_logging
    from actors.taskqueue import NewTask, TaskQueueConfig

    configure_logging(level="critical")  # stdout carries the reports, and nothing else
    kind, where = sys.argv[1], sys.argv[2]
    config = TaskQueueConfig(sqlite_path=where) if kind == "sqlite" else TaskQueueConfig()
    if kind == "sqlite":
        from actors.backends import SqliteTaskStore
        store = SqliteTaskStore(config)
    else:
        from actors.backends.redis import RedisTaskStore
        store = RedisTaskStore(where, config, retries=0)
    out = threading.Lock()

    def produce(n):
        i = 0
        while True:
            try:
                [task_id] = store.enqueue_many([NewTask(%(queue)r, {"p": n, "i": i})],
                                               time.time())
            except Exception:  # the server is down: nothing was promised, try again
                time.sleep(0.01)
                continue
            i += 1
            with out:
                sys.stdout.write(f"E {task_id}\\n")
                sys.stdout.flush()

    sys.stdout.write("READY\\n")
    sys.stdout.flush()
    for n in range(4):
        threading.Thread(target=produce, args=(n,), daemon=True).start()
    threading.Event().wait()
    """
) % {"queue": QUEUE}


class Child(KillableChild):
    """The producer process; its stdout is read on a thread so every wait has a deadline."""

    def __init__(self, kind: str, where: str) -> None:
        super().__init__([sys.executable, "-c", CHILD, kind, where])


def kill_at_random_moments(kind: str, where: str, rng: random.Random,
                           meanwhile: Callable[[int], None] | None = None) -> set[str]:
    """Run and SIGKILL the producer ROUNDS times; the ids it reported as enqueued.

    `meanwhile(round)` runs while the producer is running, before it is killed.
    """
    accepted: set[str] = set()
    for round_number in range(ROUNDS):
        child = Child(kind, where)
        try:
            assert child.next_line() == "READY\n"
            lines = [child.next_line() for _ in range(rng.randint(1, 400))]
            if meanwhile is not None:
                meanwhile(round_number)
                lines += [child.next_line() for _ in range(rng.randint(1, 100))]
            lines += child.kill()
        finally:
            child.reap()
        # A line cut short by the kill promised nothing.
        accepted.update(line.split()[1] for line in lines
                        if line.endswith("\n") and line.startswith("E "))
    return accepted


def stored_ids(store: SqliteTaskStore | RedisTaskStore) -> set[str]:
    later = time.time() + 2 * VISIBILITY_TIMEOUT
    found: list[str] = []
    while batch := store.claim(QUEUE, "checker", store.config.max_claim_batch, later):
        found += (c.task.id for c in batch)
    assert len(found) == len(set(found)), "a task id was stored twice"
    return set(found)


def test_sqlite_grouped_enqueues_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "tasks.sqlite3"
    accepted = kill_at_random_moments("sqlite", str(db), random.Random(16))
    assert len(accepted) > 200
    config = TaskQueueConfig(sqlite_path=db, visibility_timeout=VISIBILITY_TIMEOUT)
    with SqliteTaskStore(config) as store:
        assert store._reader.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        lost = accepted - stored_ids(store)
    assert not lost, f"{len(lost)} enqueues that returned were lost, e.g. {sorted(lost)[:5]}"


def test_redis_grouped_enqueues_survive_sigkill_of_producer_and_server(
        tmp_path: Path) -> None:
    with redis_server(tmp_path, appendonly=True, appendfsync="always") as server:

        def kill_server_too(round_number: int) -> None:
            if round_number % 2:  # the server dies mid-run too; it restarts from its AOF
                server.restart()

        accepted = kill_at_random_moments("redis", server.url, random.Random(16),
                                          kill_server_too)
        assert len(accepted) > 200
        config = TaskQueueConfig(visibility_timeout=VISIBILITY_TIMEOUT)
        with RedisTaskStore(server.url, config) as store:
            lost = accepted - stored_ids(store)
    assert not lost, f"{len(lost)} enqueues that returned were lost, e.g. {sorted(lost)[:5]}"
