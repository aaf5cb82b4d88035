"""Durable task queue end to end: enqueue -> delivered by a worker -> done, against huey.

Prints one JSON object. Each round enqueues N tasks one call at a time from
one producer thread (as an application would) and times until the last one
was delivered. Ours: `TaskQueueService` on `SqliteTaskStore` (WAL,
synchronous=NORMAL), 2 worker actors, tasks kept until acked (at-least-once).
huey: `SqliteHuey` with its consumer and 2 thread workers, defaults (a task
is deleted when a worker takes it, so a crash mid-task loses it). Rounds
alternate, medians are quoted.

    taskset -c 0 python benchmarks/queue.py
    python benchmarks/queue.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import _no_shadow  # noqa: F401 - first: this file's name shadows stdlib queue
from huey import SqliteHuey

from actors import configure_logging
from actors.taskqueue import QueueSpec, SqliteTaskStore, Task, TaskQueueConfig, TaskQueueService
from supervisor import ActorSystem


def ours(n: int, directory: Path) -> float:
    done = threading.Event()
    count = 0
    lock = threading.Lock()

    def deliver(task: Task) -> None:
        nonlocal count
        with lock:
            count += 1
            if count == n:
                done.set()

    store = SqliteTaskStore(TaskQueueConfig(sqlite_path=directory / "ours.sqlite3"))
    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [QueueSpec("bench", deliver, workers=2)])
        start = time.perf_counter()
        for i in range(n):
            tasks.enqueue("bench", {"n": i})
        if not done.wait(120):
            raise RuntimeError(f"only {count} of {n} tasks delivered")
        elapsed = time.perf_counter() - start
        tasks.stop()
    store.close()
    return n / elapsed


def theirs(n: int, directory: Path) -> float:
    huey = SqliteHuey(filename=str(directory / "huey.sqlite3"))
    done = threading.Event()
    count = 0
    lock = threading.Lock()

    @huey.task()
    def deliver(i: int) -> None:
        nonlocal count
        with lock:
            count += 1
            if count == n:
                done.set()

    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False)
    consumer.start()
    try:
        start = time.perf_counter()
        for i in range(n):
            deliver(i)
        if not done.wait(120):
            raise RuntimeError(f"huey delivered only {count} of {n}")
        elapsed = time.perf_counter() - start
    finally:
        consumer.stop(graceful=True)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=3000)
    args = parser.parse_args()
    configure_logging(level="warning")
    results: dict[str, list[float]] = {"ours_sqlite": [], "huey_sqlite": []}
    for round_number in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            (directory / str(round_number)).mkdir()
            results["ours_sqlite"].append(ours(args.tasks, directory))
            results["huey_sqlite"].append(theirs(args.tasks, directory))
    medians = {name: round(statistics.median(values), 1) for name, values in results.items()}
    cpus = sorted(os.sched_getaffinity(0))
    print(json.dumps({
        "benchmark": "queue_end_to_end",
        "placement": {"cpus": cpus, "pinned": len(cpus) == 1},
        "versions": {"python": platform.python_version(),
                     "huey": importlib.metadata.version("huey")},
        "tasks_per_round": args.tasks,
        "rounds": args.rounds,
        "median_tasks_per_s": medians,
        "ratio_ours_over_huey": round(medians["ours_sqlite"] / medians["huey_sqlite"], 2),
        "target_ratio_min": 3.0,
        "guarantees": {
            "ours": "task kept until acked: a worker crash mid-task redelivers it",
            "huey": "task deleted when a worker takes it: a crash mid-task loses it",
        },
        "raw": {name: [round(v, 1) for v in values] for name, values in results.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
