"""`send_sms` answered `queued` while the breaker is open: the latency of the durable answer.

The fake provider answers 503 until the breaker opens (wait_in_open 60 s, so
it stays open), then every `send_sms` is refused by the breaker and stored in
the SQLite outbox (WAL, synchronous=NORMAL) before it returns `queued`. Timed
from 1 caller thread, then from 4 at once (whose outbox writes share commits).
Rate limit raised out of the way; logging configured (warnings to a JSON
file). Medians of --rounds rounds of the p50/p99. Prints one JSON object.

    taskset -c 0 .venv/bin/python benchmarks/sms_queued.py
    .venv/bin/python benchmarks/sms_queued.py
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _bench  # first: the import path (see _bench.py)

from actors import configure_logging
from actors.backends import SqliteTaskStore
from actors.breaker import BreakerConfig
from actors.sms import SMS_RETRY_POLICY, NotificationService, SmsConfig
from actors.supervision import ActorSystem
from actors.taskqueue import TaskQueueConfig
from actors.testing import FakeSmsProvider


def one_round(workdir: Path, seed: int, sends: int, callers: int) -> dict[str, Any]:
    store = SqliteTaskStore(TaskQueueConfig(retry=SMS_RETRY_POLICY,
                                            sqlite_path=workdir / f"outbox-{seed}.sqlite3"))
    latencies: list[float] = []
    lock = threading.Lock()
    with FakeSmsProvider(seed=seed, quota=1000) as provider, \
            ActorSystem(rng=random.Random(seed)) as system:
        sms = NotificationService.start(
            system, SmsConfig(provider.base_url,
                              breaker=BreakerConfig(wait_in_open=60.0, max_wait_in_open=120.0),
                              rate_per_second=1_000_000.0, burst=1_000_000),
            store=store, rng=random.Random(seed))
        provider.outage("503")
        for i in range(1000):  # until the breaker has opened
            if sms.send_sms(f"+1555000{i % 10000:04d}", "warm-up",
                            idempotency_key=f"w{seed}-{i}").reason == "circuit_open":
                break
        before = store.write_stats()

        def caller(index: int) -> None:
            local = []
            for i in range(index, sends, callers):
                started = time.perf_counter()
                outcome = sms.send_sms(f"+1555{i % 10_000_000:07d}", "Your code is 1234",
                                       idempotency_key=f"r{seed}-{i}")
                local.append(time.perf_counter() - started)
                if outcome.reason != "circuit_open":
                    raise RuntimeError(f"not refused by the open breaker: {outcome}")
            with lock:
                latencies.extend(local)

        threads = [threading.Thread(target=caller, args=(n,)) for n in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = store.write_stats()
        sms.stop()
    store.close()
    commits = after.transactions - before.transactions
    return {"p50_us": 1e6 * _bench.percentile(latencies, 0.50),
            "p99_us": 1e6 * _bench.percentile(latencies, 0.99),
            "outbox_writes_per_commit": (after.committed - before.committed) / max(commits, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sms-queued-bench-"))
    configure_logging(level="warning", json_file=workdir / "log.jsonl")
    results: dict[str, Any] = {}
    for callers in (1, 4):
        rounds = [one_round(workdir, seed, args.sends, callers)
                  for seed in range(1, args.rounds + 1)]
        results[f"{callers}_caller{'s' if callers > 1 else ''}"] = {
            "p50_us_median": round(statistics.median(r["p50_us"] for r in rounds), 1),
            "p99_us_median": round(statistics.median(r["p99_us"] for r in rounds), 1),
            "outbox_writes_per_commit": round(
                statistics.median(r["outbox_writes_per_commit"] for r in rounds), 2),
            "rounds": [{k: round(v, 2) for k, v in r.items()} for r in rounds],
        }
    print(json.dumps({
        "benchmark": "sms_queued",
        "placement": _bench.placement(),
        "sends_per_round": args.sends,
        "targets": {"p50_us": 100, "p99_us": 1000},
        "queued_answer": results,
        "outbox": "sqlite NORMAL",
        "versions": {"python": platform.python_version()},
    }, indent=2))


if __name__ == "__main__":
    main()
