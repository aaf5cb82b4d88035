"""SIGKILL at random moments: every committed effect is announced, nothing else is.

A child process runs checkouts whose services announce each effect through the
ledger's outbox (same SQLite transaction as the effect) and a relay that
publishes the rows to a durable task queue. The test kills it with SIGKILL at
seeded random moments (half of them inside a relay round, between publishing
and marking sent), restarts it on the same files, then lets it settle.
Then: the set of event ids announced equals the set of effects committed
(each announced at least once; nothing announced that never committed).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from actors.backends import SqliteTaskStore
from actors.backends.sqlite import SqliteOutbox
from actors.taskqueue import TaskQueue, TaskQueueConfig
from examples.shop import CheckoutLedger

pytestmark = pytest.mark.slow

ROUNDS = 5
ROOT = Path(__file__).resolve().parents[2]


def _child(workdir: Path, seed: int, count: int,
           kill_after: int | None = None) -> subprocess.Popen[str]:
    extra = [str(kill_after)] if kill_after is not None else []
    return subprocess.Popen([sys.executable, "-m", "tests.procs.outbox_crash_child",
                             str(workdir), str(seed), str(count), *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _read_until(child: subprocess.Popen[str], marker: str) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == marker:
            return
    raise AssertionError(f"the child exited (code {child.wait()}) before printing {marker!r}")


def _announced(workdir: Path) -> Counter[str]:
    ids: Counter[str] = Counter()
    config = TaskQueueConfig(sqlite_path=workdir / "announced.sqlite3")
    with SqliteTaskStore(config) as store:
        tasks = TaskQueue(store)
        while batch := tasks.claim("announcements", "checker", 1000):
            ids.update(claimed.task.payload["event_id"] for claimed in batch)
            tasks.ack(batch)
    return ids


def test_every_committed_effect_is_announced_and_nothing_else(tmp_path: Path) -> None:
    rng = random.Random(20261201)
    unsent_at_kill = 0
    for round_ in range(2 * ROUNDS):
        # Even rounds die at a random moment; odd ones inside a relay round, right
        # after an announcement went out and before its row was marked sent.
        inside = round_ % 2 == 1
        child = _child(tmp_path, seed=round_, count=300,
                       kill_after=rng.randint(1, 60) if inside else None)
        try:
            if inside:
                child.communicate(timeout=60)  # it kills itself (it may not get to "ready")
            else:
                _read_until(child, "ready")
                time.sleep(rng.uniform(0.1, 0.8))  # a random moment, not a wait for anything
                child.send_signal(signal.SIGKILL)
                child.wait(30)
        finally:
            child.kill()
            child.wait(10)
        assert child.returncode == -signal.SIGKILL
        outbox = SqliteOutbox(tmp_path / "ledger.sqlite3")
        try:
            unsent_at_kill += outbox.stats().pending
        finally:
            outbox.close()
    settler = _child(tmp_path, seed=ROUNDS, count=0)
    try:
        _read_until(settler, "settled")
        assert settler.wait(60) == 0
    finally:
        settler.kill()
        settler.wait(10)

    ledger = CheckoutLedger(tmp_path / "ledger.sqlite3")
    try:
        committed = {effect.key for effect in ledger.effects()}
    finally:
        ledger.close()
    announced = _announced(tmp_path)
    print(f"committed={len(committed)} unsent_at_kill={unsent_at_kill} "
          f"announced_twice={sum(1 for n in announced.values() if n > 1)}")
    assert len(committed) > 200, "the child did not get far enough to test anything"
    assert unsent_at_kill > 0, "no kill landed between a commit and its announcement"
    missing = committed - set(announced)
    phantom = set(announced) - committed
    assert not missing, f"committed but never announced: {sorted(missing)[:5]}"
    assert not phantom, f"announced but never committed: {sorted(phantom)[:5]}"
    assert any(n > 1 for n in announced.values()), "no kill landed between publish and mark"
