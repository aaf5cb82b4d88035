"""Micro-benchmark of the task queue's *store* (not end to end), beside huey's SqliteHuey.

Measures tasks/s for enqueue + claim + ack on `SqliteTaskStore`, used the way
the workers will use it (enqueue_many, claim of up to 100, ack_many), with
synchronous=NORMAL and FULL; one call per task for comparison; and 2 producer
plus 4 worker threads calling at once (10 tasks per enqueue, claims of 25),
whose calls share commits (group commit). The peer is
huey 3.5 `SqliteHuey` with its defaults: call a task (enqueue), then
`huey.dequeue()` (which deletes the row: at-most-once, no lease, no ack).
No delivery, no worker actors: the end-to-end figure comes with the workers.

Then the one-call enqueue path alone (`enqueue_many` of one task per call,
no claims), from 1 and from 4 producer threads, whose calls share commits
(the group-commit writer): on SQLite beside huey's enqueue (one call per
task), and on Redis beside dramatiq's `actor.send` (its Redis broker, no
worker running), both against one redis-server started here.

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
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from huey import SqliteHuey

from actors.backends import SqliteTaskStore
from actors.backends.redis import RedisTaskStore
from actors.taskqueue import NewTask, TaskQueueConfig
from actors.testing.redis_server import RedisServerMissing, redis_server

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


def huey_enqueued(path: Path, tasks: int) -> tuple[SqliteHuey, float]:
    """A `SqliteHuey` at `path` holding `tasks` tasks, and the seconds their enqueues took."""
    huey = SqliteHuey(filename=str(path))

    @huey.task()
    def deliver(data: dict[str, Any]) -> None:
        return None

    start = time.perf_counter()
    for i in range(tasks):
        deliver(payload(i))
    return huey, time.perf_counter() - start


def huey_peer(directory: Path, tasks: int) -> dict[str, float]:
    huey, enqueue_s = huey_enqueued(directory / "huey.sqlite3", tasks)
    start = time.perf_counter()
    for _ in range(tasks):
        assert huey.dequeue() is not None
    claim_ack_s = time.perf_counter() - start
    assert huey.dequeue() is None
    return {"tasks_per_s": tasks / (enqueue_s + claim_ack_s), "enqueue_s": enqueue_s,
            "claim_ack_s": claim_ack_s}


def one_call_enqueues(store: SqliteTaskStore | RedisTaskStore, tasks: int,
                      producers: int) -> dict[str, float]:
    """`tasks` enqueues of one task per call from `producers` threads; enqueues/s."""
    before = store._enqueues.transactions if isinstance(store, RedisTaskStore) else 0

    def produce(n: int) -> None:
        for i in range(n, tasks, producers):
            store.enqueue_many([NewTask(QUEUE, payload(i))], time.time())

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if isinstance(store, RedisTaskStore):
        commits = store._enqueues.transactions - before
    else:
        commits = store.write_stats().transactions
    store.close()
    return {"tasks_per_s": tasks / elapsed, "calls_per_transaction": tasks / max(commits, 1)}


def huey_enqueues(directory: Path, tasks: int) -> dict[str, float]:
    _, elapsed = huey_enqueued(directory / "huey-enqueue.sqlite3", tasks)
    return {"tasks_per_s": tasks / elapsed}


def dramatiq_enqueues(url: str, tasks: int) -> dict[str, float]:
    tag = f"bench{time.monotonic_ns()}"
    broker = RedisBroker(url=url, namespace=tag)

    def deliver(data: dict[str, Any]) -> None:
        return None

    deliver.__name__ = f"deliver_{tag}"
    actor = dramatiq.actor(deliver, broker=broker, queue_name=tag)
    start = time.perf_counter()
    for i in range(tasks):
        actor.send(payload(i))
    elapsed = time.perf_counter() - start
    broker.close()
    return {"tasks_per_s": tasks / elapsed}


def enqueue_only(rounds: int, tasks: int, directory: Path) -> dict[str, Any]:
    """The one-call enqueue path alone, on SQLite and on Redis, beside the peers."""
    samples: dict[str, list[dict[str, float]]] = {}

    def add(name: str, sample: dict[str, float]) -> None:
        samples.setdefault(name, []).append(sample)

    def sqlite(name: str) -> SqliteTaskStore:
        return SqliteTaskStore(TaskQueueConfig(
            sqlite_path=directory / f"enqueue-{name}-{time.monotonic_ns()}.sqlite3"))

    try:
        with redis_server(directory / "redis") as server:
            for _ in range(rounds):
                add("ours_sqlite_1_producer", one_call_enqueues(sqlite("1"), tasks, 1))
                add("huey_sqlite", huey_enqueues(directory, tasks))
                add("ours_sqlite_4_producers", one_call_enqueues(sqlite("4"), tasks, 4))
                prefix = f"e{time.monotonic_ns()}"
                add("ours_redis_1_producer", one_call_enqueues(
                    RedisTaskStore(server.url, prefix=prefix + "a"), tasks, 1))
                add("dramatiq_redis", dramatiq_enqueues(server.url, tasks))
                add("ours_redis_4_producers", one_call_enqueues(
                    RedisTaskStore(server.url, prefix=prefix + "b"), tasks, 4))
    except RedisServerMissing as exc:
        return {"skipped": str(exc)}
    medians = {name: {key: round(statistics.median(s[key] for s in values), 2)
                      for key in values[0]} for name, values in samples.items()}
    huey = medians["huey_sqlite"]["tasks_per_s"]
    dram = medians["dramatiq_redis"]["tasks_per_s"]
    return {
        "tasks_per_round": tasks,
        "median": medians,
        "ratios": {
            "ours_sqlite_1_producer_over_huey": round(
                medians["ours_sqlite_1_producer"]["tasks_per_s"] / huey, 2),
            "ours_sqlite_4_producers_over_huey": round(
                medians["ours_sqlite_4_producers"]["tasks_per_s"] / huey, 2),
            "ours_redis_1_producer_over_dramatiq": round(
                medians["ours_redis_1_producer"]["tasks_per_s"] / dram, 2),
            "ours_redis_4_producers_over_dramatiq": round(
                medians["ours_redis_4_producers"]["tasks_per_s"] / dram, 2),
        },
        "raw_tasks_per_s": {name: [round(s["tasks_per_s"]) for s in values]
                            for name, values in samples.items()},
    }


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
    parser.add_argument("--enqueue-tasks", type=int, default=3_000,
                        help="tasks per one-call enqueue-only run")
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
        enqueue_report = enqueue_only(args.rounds, args.enqueue_tasks, Path(tmp))

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
        "one_call_enqueue_only": enqueue_report,
        "placement": _bench.placement(),
        "huey_synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(huey_sync),
        "versions": {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                     "huey": version("huey"), "dramatiq": version("dramatiq"),
                     "stanchion": version("stanchion")},
    }, indent=2))


if __name__ == "__main__":
    main()
