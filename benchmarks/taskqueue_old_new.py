"""The worker side end to end, an old build against this one and the peers, alternating.

    git worktree add --detach /tmp/taskqueue-base main
    taskset -c 0 .venv/bin/python benchmarks/taskqueue_old_new.py --old /tmp/taskqueue-base
    .venv/bin/python benchmarks/taskqueue_old_new.py --old /tmp/taskqueue-base

Each round runs, each in a fresh process (placement inherited from this one),
`benchmarks/taskqueue.py`'s one-producer round of the old build, of this build
and of the peer (dramatiq with 8 worker threads on the same redis-server; huey's
`SqliteHuey`), in that order. Besides tasks/s, a Redis round reports the Redis
commands per task (INFO commandstats, the busiest first) and the CPU time per
task of the process and of redis-server. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _bench  # first: the import path (see _bench.py)
import redis

HERE = Path(__file__).resolve().parent
PEERS = {"redis": "dramatiq", "sqlite": "huey"}


def one_round(mode: str, n: int, url: str | None) -> dict[str, object]:
    """Run in a child: one round of `mode` from the tree it runs in (its cwd)."""
    tree = Path.cwd()
    sys.path.insert(0, str(tree))  # that tree's `actors`, not this file's
    spec = importlib.util.spec_from_file_location("bench_taskqueue",
                                                  tree / "benchmarks" / "taskqueue.py")
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    actors = importlib.import_module("actors")  # imported here, after the path is set
    assert Path(actors.__file__ or "").is_relative_to(tree)
    actors.configure_logging(level="warning")

    def calls() -> dict[str, int]:
        if url is None:
            return {}
        info = redis.Redis.from_url(url).info("commandstats")
        return {name[8:]: int(stats["calls"]) for name, stats in info.items()}

    def redis_cpu() -> float:
        if url is None:
            return 0.0
        info = redis.Redis.from_url(url).info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    before, cpu0, rcpu0 = calls(), cpu(), redis_cpu()
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "redis":
            rate = bench.ours_redis_round(url, n)
        elif mode == "dramatiq":
            rate = bench.dramatiq_round(url, n, 8)
        elif mode == "sqlite":
            rate = bench.ours(n, Path(tmp))
        else:
            rate = bench.theirs(n, Path(tmp))
    result: dict[str, object] = {"tasks_per_s": round(rate, 1),
                                 "cpu_us_per_task": round((cpu() - cpu0) / n * 1e6)}
    if url is not None:
        result["redis_cpu_us_per_task"] = round((redis_cpu() - rcpu0) / n * 1e6)
        diff = {name: count - before.get(name, 0) for name, count in calls().items()}
        diff = {name: count for name, count in diff.items() if count and name != "info"}
        result["redis_commands_per_task"] = round(sum(diff.values()) / n, 1)
        result["busiest"] = {name: round(count / n, 2) for name, count in
                             sorted(diff.items(), key=lambda kv: -kv[1])[:8]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", help="the old build's checkout (a worktree); without it "
                        "the script reports that it was skipped (as under `make bench`)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-tasks", type=int, default=2000)
    parser.add_argument("--sqlite-tasks", type=int, default=3000)
    parser.add_argument("--modes", default="redis,sqlite")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "N", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, n, url = args.child
        print(json.dumps(one_round(mode, int(n), None if url == "-" else url)))
        return
    if args.old is None:
        print(json.dumps({"placement": _bench.placement(),
                          "skipped": "needs --old, the checkout of a build to compare"}))
        return
    redis_server = importlib.import_module("actors.testing.redis_server").redis_server

    trees = {"old": str(Path(args.old).resolve()), "new": str(HERE.parent)}
    modes = args.modes.split(",")
    raw: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as server:
        for _ in range(args.rounds):
            for mode in modes:
                url = server.url if mode == "redis" else "-"
                n = args.redis_tasks if mode == "redis" else args.sqlite_tasks
                for name, tree, run in (("old", trees["old"], mode), ("new", trees["new"], mode),
                                        (PEERS[mode], trees["new"], PEERS[mode])):
                    out = subprocess.run(
                        [sys.executable, str(HERE / "taskqueue_old_new.py"), "--old", tree,
                         "--child", run, str(n), url],
                        cwd=tree, env=dict(os.environ, PYTHONPATH=tree), capture_output=True,
                        text=True, timeout=600, check=True)
                    raw.setdefault(f"{mode}:{name}", []).append(
                        json.loads(out.stdout.strip().splitlines()[-1]))
    medians = {key: statistics.median(float(r["tasks_per_s"]) for r in rounds)  # type: ignore[arg-type]
               for key, rounds in raw.items()}
    ratios = {}
    for mode in modes:
        peer = medians[f"{mode}:{PEERS[mode]}"]
        ratios[mode] = {"old_vs_peer": round(medians[f"{mode}:old"] / peer, 2),
                        "new_vs_peer": round(medians[f"{mode}:new"] / peer, 2),
                        "new_vs_old": round(medians[f"{mode}:new"] / medians[f"{mode}:old"], 2)}
    print(json.dumps({"placement": _bench.placement(), "old": trees["old"],
                      "median_tasks_per_s": medians, "ratios": ratios, "raw": raw}, indent=1))


if __name__ == "__main__":
    main()
