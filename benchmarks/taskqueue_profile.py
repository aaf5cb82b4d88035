"""Where a one-call `enqueue` spends its time, on SQLite and on Redis (cProfile).

One producer thread calls `TaskQueueService.enqueue` once per task while the
queue's 2 worker actors claim, deliver and ack (as in benchmarks/taskqueue.py);
the producer's thread is profiled. cProfile sees only that thread: time in
C calls that wait (a commit, a socket read) includes whatever the other
threads and redis-server did meanwhile, which on one vCPU is most of it.
Prints one JSON object with the top entries by own time.

    taskset -c 0 .venv/bin/python benchmarks/taskqueue_profile.py
    .venv/bin/python benchmarks/taskqueue_profile.py
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench  # first: the import path (see _bench.py)

from actors import configure_logging
from actors.backends import SqliteTaskStore
from actors.backends.redis import RedisTaskStore
from actors.supervision import ActorSystem
from actors.taskqueue import QueueSpec, Task, TaskQueueConfig, TaskQueueService
from actors.testing.redis_server import RedisServerMissing, redis_server


def profile(store: SqliteTaskStore | RedisTaskStore, n: int, top: int) -> dict[str, Any]:
    def deliver(task: Task) -> None:
        return None

    with ActorSystem() as system:
        tasks = TaskQueueService.start(system, store, [QueueSpec("bench", deliver, workers=2)])
        for i in range(200):  # warm-up: scripts loaded, statements prepared
            tasks.enqueue("bench", {"n": i})
        profiler = cProfile.Profile()
        start = time.perf_counter()
        profiler.enable()
        for i in range(n):
            tasks.enqueue("bench", {"n": i})
        profiler.disable()
        elapsed = time.perf_counter() - start
        tasks.stop()
    store.close()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(),  # type: ignore[attr-defined]
                  key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "enqueues_per_s_while_profiled": round(n / elapsed),
        "profiled_s": round(total, 3),
        "top_by_own_time": [
            {"function": _name(key), "calls": calls, "own_s": round(own, 4),
             "own_pct": round(100 * own / total, 1), "cumulative_s": round(cumulative, 4)}
            for key, (_, calls, own, cumulative, _) in rows
        ],
    }


def _name(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    parts = Path(filename).parts
    short = "/".join(parts[parts.index("actors"):] if "actors" in parts else parts[-2:])
    return f"{short}:{line}({function})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    configure_logging(level="warning")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = profile(SqliteTaskStore(TaskQueueConfig(sqlite_path=Path(tmp) / "p.sqlite3")),
                         args.tasks, args.top)
        redis: dict[str, Any] | str
        try:
            with redis_server(Path(tmp) / "redis") as server:
                redis = profile(RedisTaskStore(server.url), args.tasks, args.top)
        except RedisServerMissing as exc:
            redis = f"skipped: {exc}"
    print(json.dumps({
        "benchmark": "taskqueue_profile",
        "placement": _bench.placement(),
        "tasks": args.tasks,
        "sqlite": sqlite,
        "redis": redis,
        "versions": {"python": platform.python_version()},
    }, indent=2))


if __name__ == "__main__":
    main()
