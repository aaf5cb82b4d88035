"""Three worker processes share one Redis queue; one is SIGKILLed mid-run; nothing is lost."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actors.backends.redis import RedisTaskStore
from actors.taskqueue import NewTask, TaskQueueConfig
from tests.procs.destination_db import read_destination
from tests.redis_server import redis_server

ROOT = Path(__file__).resolve().parents[2]
DESTINATIONS = ("profile->billing", "profile->search", "profile->mail")


def start_worker(url: str, dest_dir: Path, worker_id: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.procs.taskqueue_worker_proc", url, str(dest_dir), worker_id,
         *DESTINATIONS],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.slow
def test_three_workers_one_killed_every_task_delivered_and_converged(tmp_path: Path) -> None:
    rng = random.Random(11)
    users, versions = 100, 10
    updates = [(f"u{u}", v) for u in range(users) for v in range(1, versions + 1)]
    rng.shuffle(updates)  # versions arrive out of order, as they do across retries
    dest_dir = tmp_path / "destinations"
    dest_dir.mkdir()
    with redis_server(tmp_path) as server:
        store = RedisTaskStore(server.url, TaskQueueConfig(visibility_timeout=1.0))
        workers = [start_worker(server.url, dest_dir, f"w{n}") for n in range(3)]
        try:
            ids = store.enqueue_many(
                [NewTask(dest, {"user_id": user, "version": version})
                 for dest in DESTINATIONS for user, version in updates], now=time.time())
            victim = workers[0]
            assert victim.stdout is not None
            assert victim.stdout.readline().startswith("claimed")
            victim.kill()  # SIGKILL with a claimed batch in hand
            victim.wait(10)
            deadline = time.monotonic() + 60
            while True:  # the survivors drain the queues, reclaiming the victim's leases
                stats = [store.stats(dest, time.time()) for dest in DESTINATIONS]
                if all(s.depth == s.in_flight == s.delayed == 0 for s in stats):
                    break
                assert time.monotonic() < deadline, f"queues not drained: {stats}"
                time.sleep(0.1)
            assert all(s.dead_lettered == 0 for s in stats)
        finally:
            for proc in workers:
                proc.kill()
                proc.wait(10)
            store.close()

    applied: set[str] = set()
    for dest in DESTINATIONS:
        done, profiles = read_destination(dest_dir / f"{dest}.sqlite3")
        applied |= done
        assert profiles == {f"u{u}": versions for u in range(users)}, f"{dest} did not converge"
    assert set(ids) <= applied, f"{len(set(ids) - applied)} tasks never delivered"
