"""Durable task queue end to end: enqueue -> delivered by a worker -> done, against huey.

Then the Redis store with 1 and with 3 worker processes sharing one queue
(each delivery sleeps --io-delay seconds, standing for the destination's round
trip, so the rounds measure how delivery scales out across processes).

Prints one JSON object. Each round enqueues N tasks one call at a time from
one producer thread (as an application would) and times until the last one
was delivered. Ours: `TaskQueueService` on `SqliteTaskStore` (WAL,
synchronous=NORMAL), 2 worker actors, tasks kept until acked (at-least-once).
huey: `SqliteHuey` with its consumer and 2 thread workers, defaults (a task
is deleted when a worker takes it, so a crash mid-task loses it). Rounds
alternate, medians are quoted.

    taskset -c 0 python benchmarks/taskqueue.py
    python benchmarks/taskqueue.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _bench  # first: the import path (see _bench.py)
from huey import SqliteHuey

from actors import configure_logging
from actors.backends import SqliteTaskStore
from actors.backends.redis import RedisTaskStore
from actors.supervision import ActorSystem
from actors.taskqueue import NewTask, QueueSpec, Task, TaskQueueConfig, TaskQueueService
from actors.testing.redis_server import RedisServerMissing, redis_server


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


def redis_round(url: str, n: int, processes: int, io_delay: float) -> float:
    """Tasks/s with `processes` worker processes sharing one Redis queue."""
    queue = f"bench-{processes}-{time.monotonic_ns()}"
    script = Path(__file__).with_name("taskqueue_worker.py")
    workers = [subprocess.Popen([sys.executable, str(script), url, queue, str(io_delay)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(processes)]
    store = RedisTaskStore(url)
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker process did not start")
        start = time.perf_counter()
        for first in range(0, n, 100):
            batch = [NewTask(queue, {"n": i}) for i in range(first, min(n, first + 100))]
            store.enqueue_many(batch, now=time.time())
        while True:  # the workers are other processes: watch the shared queue drain
            stats = store.stats(queue, time.time())
            if stats.depth == stats.in_flight == stats.delayed == 0:
                break
            time.sleep(0.005)
        return n / (time.perf_counter() - start)
    finally:
        for worker in workers:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait(30)
        store.close()


def redis_rounds(rounds: int, n: int, io_delay: float) -> dict[str, object]:
    """1 and 3 worker processes on one Redis queue, alternating."""
    one: list[float] = []
    three: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as server:
        for _ in range(rounds):
            one.append(redis_round(server.url, n, 1, io_delay))
            three.append(redis_round(server.url, n, 3, io_delay))
    m1, m3 = statistics.median(one), statistics.median(three)
    return {
        "io_delay_s_per_delivery": io_delay,
        "tasks_per_round": n,
        "median_tasks_per_s": {"redis_1_process": round(m1, 1), "redis_3_processes": round(m3, 1)},
        "ratio_3_over_1": round(m3 / m1, 2),
        "target_ratio_min": 2.0,
        "raw": {"redis_1_process": [round(x, 1) for x in one],
                "redis_3_processes": [round(x, 1) for x in three]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--redis-tasks", type=int, default=2000)
    parser.add_argument("--io-delay", type=float, default=0.002,
                        help="seconds each Redis-round delivery spends 'calling' a destination")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis rounds")
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
    redis_report: dict[str, object] | str
    try:
        redis_report = ("skipped (--no-redis)" if args.no_redis
                        else redis_rounds(args.rounds, args.redis_tasks, args.io_delay))
    except RedisServerMissing as exc:
        redis_report = f"skipped: {exc}"
    print(json.dumps({
        "benchmark": "taskqueue",
        "placement": _bench.placement(),
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
        "redis_worker_processes": redis_report,
    }, indent=2))


if __name__ == "__main__":
    main()
