"""Micro-benchmark of the task queue's *store* (not end to end), beside huey's SqliteHuey.

Measures tasks/s for enqueue + claim + ack on `SqliteTaskStore`, used the way
the workers will use it (enqueue_many, claim of up to 100, ack_many), with
synchronous=NORMAL and FULL; one call per task for comparison; and 2 producer
plus 4 worker threads calling at once (10 tasks per enqueue, claims of 25),
whose calls share commits (group commit). The peer is
huey 3.5 `SqliteHuey` with its defaults: call a task (enqueue), then
`huey.dequeue()` (which deletes the row: at-most-once, no lease, no ack).
No delivery, no worker actors: the end-to-end figure comes with the workers.

Rounds alternate (ours, peer, ours, peer...) in one process; medians are
reported with the ratios. Run pinned and unpinned:

    taskset -c 0 .venv/bin/python benchmarks/taskqueue_store.py
    .venv/bin/python benchmarks/taskqueue_store.py

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import _bench  # first: the import path (see _bench.py)
from huey import SqliteHuey

from actors.backends import SqliteTaskStore
from actors.taskqueue import NewTask, TaskQueueConfig

QUEUE = "profile->billing"


def payload(i: int) -> dict[str, Any]:
    return {"user_id": f"u-{i % 5000}", "version": i,
            "fields": {"email": f"user{i}@example.com", "name": "Ada Lovelace"}}


def ours(directory: Path, tasks: int, batch: int,
         synchronous: Literal["NORMAL", "FULL"]) -> dict[str, float]:
    config = TaskQueueConfig(sqlite_path=directory / f"ours-{synchronous}-{batch}.sqlite3",
                             synchronous=synchronous, max_claim_batch=batch)
    store = SqliteTaskStore(config)
    try:
        start = time.perf_counter()
        for first in range(0, tasks, batch):
            now = time.time()
            store.enqueue_many(
                [NewTask(QUEUE, payload(i)) for i in range(first, min(first + batch, tasks))],
                now)
        enqueued = time.perf_counter()
        done = 0
        while done < tasks:
            claimed = store.claim(QUEUE, "bench-worker", batch, time.time())
            results = store.ack_many([c.lease for c in claimed])
            done += sum(results)
        end = time.perf_counter()
        writes = store.write_stats()
    finally:
        store.close()
    return {"tasks_per_s": tasks / (end - start), "enqueue_s": enqueued - start,
            "claim_ack_s": end - enqueued,
            "calls_per_transaction": writes.committed / max(writes.transactions, 1)}


def ours_concurrent(directory: Path, tasks: int, producers: int, workers: int,
                    enqueue_batch: int, claim_batch: int) -> dict[str, float]:
    """Producer and worker threads calling at once: their calls share commits."""
    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=directory / "ours-concurrent.sqlite3"))
    ready = threading.Condition()
    acked = [0]

    def produce(n: int) -> None:
        share = range(n, tasks, producers)
        for first in range(0, len(share), enqueue_batch):
            batch = [NewTask(QUEUE, payload(i)) for i in share[first:first + enqueue_batch]]
            store.enqueue_many(batch, time.time())
            with ready:
                ready.notify_all()

    def work(n: int) -> None:
        while True:
            claimed = store.claim(QUEUE, f"bench-worker-{n}", claim_batch, time.time())
            if claimed:
                done = sum(store.ack_many([c.lease for c in claimed]))
            with ready:
                if claimed:
                    acked[0] += done
                if acked[0] >= tasks:
                    ready.notify_all()
                    return
                if not claimed:
                    ready.wait(0.05)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    threads += [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    try:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        end = time.perf_counter()
        writes = store.write_stats()
    finally:
        store.close()
    return {"tasks_per_s": tasks / (end - start), "enqueue_s": float("nan"),
            "claim_ack_s": float("nan"),
            "calls_per_transaction": writes.committed / max(writes.transactions, 1)}


def huey_peer(directory: Path, tasks: int) -> dict[str, float]:
    huey = SqliteHuey(filename=str(directory / "huey.sqlite3"))

    @huey.task()
    def deliver(data: dict[str, Any]) -> None:
        return None

    start = time.perf_counter()
    for i in range(tasks):
        deliver(payload(i))
    enqueued = time.perf_counter()
    for _ in range(tasks):
        assert huey.dequeue() is not None
    end = time.perf_counter()
    assert huey.dequeue() is None
    return {"tasks_per_s": tasks / (end - start), "enqueue_s": enqueued - start,
            "claim_ack_s": end - enqueued}


def huey_synchronous(directory: Path) -> int:
    huey = SqliteHuey(filename=str(directory / "probe.sqlite3"))
    return int(huey.storage.conn.execute("pragma synchronous").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per batched run")
    parser.add_argument("--unbatched-tasks", type=int, default=3_000,
                        help="tasks per one-call-per-task run (ours and huey)")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    runs: dict[str, Callable[[Path], dict[str, float]]] = {
        "ours_batched_normal": lambda d: ours(d, args.tasks, args.batch, "NORMAL"),
        "huey_sqlite": lambda d: huey_peer(d, args.unbatched_tasks),
        "ours_batched_full": lambda d: ours(d, args.tasks, args.batch, "FULL"),
        "ours_unbatched_normal": lambda d: ours(d, args.unbatched_tasks, 1, "NORMAL"),
        "ours_concurrent_normal": lambda d: ours_concurrent(
            d, args.tasks, producers=2, workers=4, enqueue_batch=10, claim_batch=25),
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory(prefix="queue-store-bench-") as tmp:
        for round_number in range(args.rounds):
            for name, run in runs.items():
                directory = Path(tmp) / f"{round_number}-{name}"
                directory.mkdir()
                samples[name].append(run(directory))
        huey_sync = huey_synchronous(Path(tmp))

    def median(name: str, key: str = "tasks_per_s") -> float:
        return statistics.median(s[key] for s in samples[name])

    figures: dict[str, dict[str, Any]] = {
        name: {
            "tasks_per_s_median": round(median(name)),
            "tasks_per_s_rounds": [round(s["tasks_per_s"]) for s in samples[name]],
        }
        for name in runs
    }
    for name in runs:
        if not math.isnan(samples[name][0]["enqueue_s"]):
            figures[name]["enqueue_s_median"] = round(median(name, "enqueue_s"), 4)
            figures[name]["claim_ack_s_median"] = round(median(name, "claim_ack_s"), 4)
    for name in runs:
        if name.startswith("ours"):
            figures[name]["calls_per_transaction_median"] = round(
                median(name, "calls_per_transaction"), 2)
    peer = median("huey_sqlite")
    print(json.dumps({
        "benchmark": "taskqueue_store",
        "measures": "task store only: enqueue + claim + ack (huey: enqueue + dequeue); "
                    "no delivery, no workers",
        "batch": args.batch,
        "tasks_batched": args.tasks,
        "tasks_unbatched": args.unbatched_tasks,
        "rounds": args.rounds,
        "figures": figures,
        "ratios_vs_huey": {
            name: round(median(name) / peer, 2) for name in runs if name != "huey_sqlite"
        },
        "placement": _bench.placement(),
        "huey_synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(huey_sync),
        "versions": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                     "huey": version("huey"), "stanchion": version("stanchion")},
    }, indent=2))


if __name__ == "__main__":
    main()
