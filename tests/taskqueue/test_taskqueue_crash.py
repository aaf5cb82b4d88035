"""No accepted task is lost when the process is killed with SIGKILL, at any moment.

A child process enqueues, claims, retries and acks tasks from several threads
(so group commits are in flight) and reports each id on stdout only after the
store call returned. The test kills it at seeded random moments, several times
on the same database, then reopens it and checks every report against it.
"""

from __future__ import annotations

import random
import sys
import textwrap
import time
from pathlib import Path

import pytest

from actors.backends import SqliteTaskStore
from actors.taskqueue import TaskQueueConfig
from tests.killable_child import KillableChild

pytestmark = pytest.mark.slow

QUEUE = "profile->billing"
VISIBILITY_TIMEOUT = 3600.0
ROUNDS = 8

CHILD = textwrap.dedent(
    """
    import random, sys, threading, time
    from actors import configure_logging
    from actors.taskqueue import NewTask, TaskQueueConfig
    from actors.backends import SqliteTaskStore

    configure_logging(level="warning")  # stdout carries the reports, and nothing else

    path, seed = sys.argv[1], int(sys.argv[2])
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=path, visibility_timeout=%(vt)r))
    out = threading.Lock()

    def report(kind, ids):
        if ids:
            with out:
                sys.stdout.write(kind + " " + " ".join(ids) + "\\n")
                sys.stdout.flush()

    def produce(n):
        rng = random.Random(seed * 10 + n)
        while True:
            size = rng.randint(1, 20)
            tasks = [NewTask(%(queue)r, {"producer": n, "i": i, "pad": "x" * rng.randint(0, 300)},
                             priority=rng.choice((0, 0, 0, 5)))
                     for i in range(size)]
            report("E", store.enqueue_many(tasks, time.time()))

    def work():
        rng = random.Random(seed)
        while True:
            claimed = store.claim(%(queue)r, "child", rng.randint(1, 30), time.time())
            report("C", [c.task.id for c in claimed])
            to_ack = [c for c in claimed if rng.random() < 0.7]
            to_retry = [c for c in claimed if c not in to_ack and rng.random() < 0.5]
            for c in to_retry:
                store.retry(c.lease, time.time(), "simulated failure")
            report("a", [c.task.id for c in to_ack])
            done = store.ack_many([c.lease for c in to_ack])
            report("A", [c.task.id for c, ok in zip(to_ack, done) if ok])

    report("READY", ["-"])
    for target, args in ((produce, (1,)), (produce, (2,)), (work, ())):
        threading.Thread(target=target, args=args, daemon=True).start()
    threading.Event().wait()
    """
) % {"vt": VISIBILITY_TIMEOUT, "queue": QUEUE}


class Child(KillableChild):
    """A child process whose stdout lines are read on a thread, so every wait has a deadline."""

    def __init__(self, db: Path, seed: int) -> None:
        super().__init__([sys.executable, "-c", CHILD, str(db), str(seed)])


def test_sigkill_at_random_moments_loses_no_accepted_task(tmp_path: Path) -> None:
    rng = random.Random(20_26)
    db = tmp_path / "tasks.sqlite3"
    enqueued: set[str] = set()
    ack_intended: set[str] = set()
    acked: set[str] = set()
    claimed_reports = 0

    def record(line: str) -> None:
        nonlocal claimed_reports
        if not line.endswith("\n"):
            return  # cut short by the kill: nothing was promised
        kind, *ids = line.split()
        if kind == "E":
            enqueued.update(ids)
        elif kind == "a":
            ack_intended.update(ids)
        elif kind == "A":
            acked.update(ids)
        elif kind == "C":
            claimed_reports += 1

    for round_number in range(ROUNDS):
        child = Child(db, seed=round_number)
        try:
            assert child.next_line() == "READY -\n"
            for _ in range(rng.randint(1, 80)):
                record(child.next_line())
            for line in child.kill():
                record(line)
        finally:
            child.reap()

    assert len(enqueued) > 100
    assert claimed_reports > 0
    assert acked

    config = TaskQueueConfig(sqlite_path=db, visibility_timeout=VISIBILITY_TIMEOUT)
    with SqliteTaskStore(config) as store:
        integrity = store._reader.execute("PRAGMA integrity_check").fetchone()[0]
        assert integrity == "ok"
        assert store.list_dead_letters(QUEUE) == []
        # Every lease has expired by then: whatever was in flight is handed out again.
        later = time.time() + 2 * VISIBILITY_TIMEOUT
        remaining: set[str] = set()
        while batch := store.claim(QUEUE, "checker", 1000, later):
            remaining.update(c.task.id for c in batch)

    lost = enqueued - ack_intended - remaining
    assert not lost, f"{len(lost)} accepted tasks lost, e.g. {sorted(lost)[:5]}"
    resurrected = acked & remaining
    assert not resurrected, f"acked tasks came back: {sorted(resurrected)[:5]}"
