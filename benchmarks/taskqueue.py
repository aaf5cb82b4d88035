"""Durable task queue end to end: enqueue -> delivered by a worker -> done, against peers.

On SQLite against huey, on Redis against dramatiq; then the Redis store with 1
and with 3 worker processes sharing one queue (each delivery sleeps
--io-delay seconds, standing for the destination's round trip, so the rounds
measure how delivery scales out across processes).

Prints one JSON object. Each round enqueues N tasks one call at a time from
one producer thread (as an application would) and times until the last one
was delivered. Ours: `TaskQueueService` with 2 worker actors, tasks kept
until acked (at-least-once), on `SqliteTaskStore` (WAL, synchronous=NORMAL)
or `RedisTaskStore`. huey: `SqliteHuey` with its consumer and 2 thread
workers, defaults (a task is deleted when a worker takes it, so a crash
mid-task loses it). dramatiq: its `RedisBroker` (acks after the actor ran)
and a `Worker` whose thread count is the best of a small sweep made in the
same run (`--dramatiq-threads`), `worker_timeout` 100 ms; `actor.send` is its
one enqueue call. Both Redis sides use the same redis-server (started here,
appendonly off). Rounds alternate, medians are quoted.

    taskset -c 0 python benchmarks/taskqueue.py
    python benchmarks/taskqueue.py
"""

from __future__ import annotations

import argparse
import dataclasses
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
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from huey import SqliteHuey

from actors import configure_logging
from actors.backends import SqliteTaskStore
from actors.backends.redis import RedisTaskStore
from actors.supervision import ActorSystem
from actors.taskqueue import NewTask, QueueSpec, Task, TaskQueueConfig, TaskQueueService
from actors.testing.redis_server import RedisServerMissing, redis_server


class Countdown:
    """Deliveries counted from any worker thread; `done` is set at the `n`-th."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.done = threading.Event()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self.count += 1
            if self.count == self.n:
                self.done.set()


def ours(n: int, directory: Path, page_size: int | None = None) -> float:
    config = TaskQueueConfig(sqlite_path=directory / "ours.sqlite3")
    if page_size is not None:
        config = dataclasses.replace(config, sqlite_page_size=page_size)
    return ours_on(n, SqliteTaskStore(config))


def ours_on(n: int, store: SqliteTaskStore | RedisTaskStore, queue: str = "bench") -> float:
    arrived = Countdown(n)

    def deliver(task: Task) -> None:
        arrived.tick()

    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [QueueSpec(queue, deliver, workers=2)])
        start = time.perf_counter()
        for i in range(n):
            tasks.enqueue(queue, {"n": i})
        if not arrived.done.wait(120):
            raise RuntimeError(f"only {arrived.count} of {n} tasks delivered")
        elapsed = time.perf_counter() - start
        tasks.stop()
    store.close()
    return n / elapsed


def theirs(n: int, directory: Path) -> float:
    huey = SqliteHuey(filename=str(directory / "huey.sqlite3"))
    arrived = Countdown(n)

    @huey.task()
    def deliver(i: int) -> None:
        arrived.tick()

    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False)
    consumer.start()
    try:
        start = time.perf_counter()
        for i in range(n):
            deliver(i)
        if not arrived.done.wait(120):
            raise RuntimeError(f"huey delivered only {arrived.count} of {n}")
        elapsed = time.perf_counter() - start
    finally:
        consumer.stop(graceful=True)
    return n / elapsed


def dramatiq_round(url: str, n: int, threads: int) -> float:
    """Tasks/s through dramatiq's Redis broker: `n` `send` calls, until all have run."""
    tag = f"bench{time.monotonic_ns()}"
    broker = RedisBroker(url=url, namespace=tag)
    arrived = Countdown(n)

    def deliver(i: int) -> None:
        arrived.tick()

    deliver.__name__ = f"deliver_{tag}"
    actor = dramatiq.actor(deliver, broker=broker, queue_name=tag, max_retries=0)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        start = time.perf_counter()
        for i in range(n):
            actor.send(i)
        if not arrived.done.wait(120):
            raise RuntimeError(f"dramatiq delivered only {arrived.count} of {n}")
        return n / (time.perf_counter() - start)
    finally:
        worker.stop()
        broker.close()


def ours_redis_round(url: str, n: int) -> float:
    queue = f"bench{time.monotonic_ns()}"
    return ours_on(n, RedisTaskStore(url, prefix=queue), queue)


def redis_vs_dramatiq(rounds: int, n: int, sweep: list[int]) -> dict[str, object]:
    """One enqueue call per task on Redis: ours against dramatiq at its best thread count."""
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as server:
        ours_redis_round(server.url, min(n, 500))  # warm-up: scripts loaded, imports done
        swept = {threads: dramatiq_round(server.url, n, threads) for threads in sweep}
        best = max(swept, key=lambda threads: swept[threads])
        ours_rates: list[float] = []
        theirs_rates: list[float] = [swept[best]]
        for round_number in range(rounds):
            ours_rates.append(ours_redis_round(server.url, n))
            if round_number:
                theirs_rates.append(dramatiq_round(server.url, n, best))
    m_ours, m_theirs = statistics.median(ours_rates), statistics.median(theirs_rates)
    return {
        "tasks_per_round": n,
        "dramatiq_sweep_tasks_per_s": {str(t): round(r, 1) for t, r in swept.items()},
        "dramatiq_best_threads": best,
        "median_tasks_per_s": {"ours_redis": round(m_ours, 1),
                               "dramatiq_redis": round(m_theirs, 1)},
        "ratio_ours_over_dramatiq": round(m_ours / m_theirs, 2),
        "target_ratio_min": 3.0,
        "raw": {"ours_redis": [round(x, 1) for x in ours_rates],
                "dramatiq_redis": [round(x, 1) for x in theirs_rates]},
        "guarantees": "both ack after delivery (at-least-once); durability is the same "
                      "redis-server's (appendonly off here)",
    }


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
    parser.add_argument("--sqlite-page-size", type=int, default=None,
                        help="our SQLite file's page size (default: TaskQueueConfig's)")
    parser.add_argument("--dramatiq-threads", default="1,8,64",
                        help="dramatiq worker thread counts swept; the best is compared")
    args = parser.parse_args()
    configure_logging(level="warning")
    results: dict[str, list[float]] = {"ours_sqlite": [], "huey_sqlite": []}
    for round_number in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            (directory / str(round_number)).mkdir()
            results["ours_sqlite"].append(ours(args.tasks, directory, args.sqlite_page_size))
            results["huey_sqlite"].append(theirs(args.tasks, directory))
    medians = {name: round(statistics.median(values), 1) for name, values in results.items()}
    redis_report: dict[str, object] | str
    dramatiq_report: dict[str, object] | str
    try:
        sweep = [int(t) for t in args.dramatiq_threads.split(",")]
        dramatiq_report = ("skipped (--no-redis)" if args.no_redis
                           else redis_vs_dramatiq(args.rounds, args.tasks, sweep))
        redis_report = ("skipped (--no-redis)" if args.no_redis
                        else redis_rounds(args.rounds, args.redis_tasks, args.io_delay))
    except RedisServerMissing as exc:
        redis_report = dramatiq_report = f"skipped: {exc}"
    print(json.dumps({
        "benchmark": "taskqueue",
        "placement": _bench.placement(),
        "versions": {"python": platform.python_version(),
                     "huey": importlib.metadata.version("huey"),
                     "dramatiq": importlib.metadata.version("dramatiq"),
                     "redis-py": importlib.metadata.version("redis")},
        "tasks_per_round": args.tasks,
        "rounds": args.rounds,
        "ours_sqlite_page_size": args.sqlite_page_size or TaskQueueConfig().sqlite_page_size,
        "median_tasks_per_s": medians,
        "ratio_ours_over_huey": round(medians["ours_sqlite"] / medians["huey_sqlite"], 2),
        "target_ratio_min": 10.0,
        "guarantees": {
            "ours": "task kept until acked: a worker crash mid-task redelivers it",
            "huey": "task deleted when a worker takes it: a crash mid-task loses it",
        },
        "raw": {name: [round(v, 1) for v in values] for name, values in results.items()},
        "redis_one_call_vs_dramatiq": dramatiq_report,
        "redis_worker_processes": redis_report,
    }, indent=2))


if __name__ == "__main__":
    main()
