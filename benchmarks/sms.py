"""SMS provider outage: steady offered load, the provider down in the middle, then recovery.

Prints one JSON object. Each round starts a fake HTTP provider (quota 1000
requests/s) and a `NotificationService` (token bucket 900/s, SQLite outbox)
and offers `--rate` sends per second from `--threads` threads for
`--before` seconds, then takes the provider down (503 to everything) for
`--outage` seconds, then brings it back for `--after` seconds, and waits for
the outbox to drain. Figures, from the provider's own request log:

- offered_during_outage: send_sms calls made while the provider was down.
- reached_provider_during_outage: requests the provider received meanwhile,
  and their ratio to the offered ones (target < 1%).
- fail_fast_p50_ms / p99_ms: send_sms latency of calls refused by the open breaker.
- sms_lost: accepted sends minus unique texts delivered after recovery (must be 0).
- duplicates_texted: texts delivered more than once for one key (must be 0);
  dedup_replays counts resends the provider answered from its idempotency store.

Medians over `--rounds` rounds. The breaker uses the SMS defaults except
wait_in_open=1 s and max_wait_in_open=5 s (`--wait`, `--max-wait`), so the
open waits stay well below the outage. Logging is configured (warnings to a
JSON file).

    taskset -c 0 python benchmarks/sms.py
    python benchmarks/sms.py
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
from collections import Counter
from importlib.metadata import version
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


def one_round(args: argparse.Namespace, workdir: Path, seed: int) -> dict[str, Any]:
    store = SqliteTaskStore(TaskQueueConfig(retry=SMS_RETRY_POLICY,
                                            sqlite_path=workdir / f"outbox-{seed}.sqlite3"))
    breaker = BreakerConfig(wait_in_open=args.wait, max_wait_in_open=args.max_wait)
    results: list[tuple[float, float, str, str | None, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def caller(index: int, sms: NotificationService) -> None:
        interval = args.threads / args.rate
        local: list[tuple[float, float, str, str | None, str]] = []
        sent = 0
        next_at = time.monotonic() + index * interval / args.threads
        while not stop.is_set():
            stop.wait(max(0.0, next_at - time.monotonic()))
            if stop.is_set():
                break
            wall = time.time()
            started = time.perf_counter()
            outcome = sms.send_sms(f"+1555{index:03d}{sent % 10000:04d}", "Your code is 1234",
                                   idempotency_key=f"r{seed}-t{index}-{sent}")
            local.append((wall, time.perf_counter() - started, outcome.status, outcome.reason,
                          outcome.idempotency_key))
            sent += 1
            next_at += interval
        with lock:
            results.extend(local)

    with FakeSmsProvider(seed=seed, quota=1000) as provider, \
            ActorSystem(rng=random.Random(seed)) as system:
        sms = NotificationService.start(
            system, SmsConfig(provider.base_url, breaker=breaker, rate_per_second=900.0,
                                burst=100, senders=8, outbox_workers=4, outbox_batch=20,
                                outbox_poll_interval=0.05),
            store=store, rng=random.Random(seed))
        threads = [threading.Thread(target=caller, args=(i, sms), daemon=True)
                   for i in range(args.threads)]
        for thread in threads:
            thread.start()
        time.sleep(args.before)
        down_at = time.time()
        provider.outage("503")
        time.sleep(args.outage)
        up_at = time.time()
        provider.recover()
        time.sleep(args.after)
        stop.set()
        for thread in threads:
            thread.join(30)
        drained = sms.wait_until_drained(args.drain_timeout)
        drained_at = time.time()
        metrics = sms.metrics()
        sms.stop()
    store.close()

    during = provider.requests(since=down_at, until=up_at)
    offered = [r for r in results if down_at <= r[0] <= up_at]
    fail_fast = [r[1] for r in results if r[3] == "circuit_open"]
    sent_latency = [r[1] for r in results if r[2] == "sent"]
    accepted = {r[4] for r in results}
    delivered = provider.delivered()
    first_texts = Counter(r.key for r in provider.requests()
                          if r.status == 200 and not r.duplicate)
    return {
        "offered": len(results),
        "offered_during_outage": len(offered),
        "reached_provider_during_outage": len(during),
        "reached_ratio_pct": 100.0 * len(during) / max(1, len(offered)),
        "fail_fast_p50_ms": 1000 * _bench.percentile(fail_fast, 0.50),
        "fail_fast_p99_ms": 1000 * _bench.percentile(fail_fast, 0.99),
        "sent_p50_ms": 1000 * _bench.percentile(sent_latency, 0.50),
        "sent_p99_ms": 1000 * _bench.percentile(sent_latency, 0.99),
        "slowest_answer_ms": 1000 * max(r[1] for r in results),
        "queued": sum(1 for r in results if r[2] == "queued"),
        "sms_lost": len(accepted - set(delivered)),
        "duplicates_texted": sum(n - 1 for n in first_texts.values()),
        "dedup_replays": provider.counters().duplicates,
        "drained": drained,
        "drain_after_recovery_s": drained_at - up_at,
        "breaker_trips": metrics.breaker.trips,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="offered sends per second")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--before", type=float, default=3.0)
    parser.add_argument("--outage", type=float, default=20.0)
    parser.add_argument("--after", type=float, default=3.0)
    parser.add_argument("--wait", type=float, default=1.0, help="breaker wait_in_open")
    parser.add_argument("--max-wait", type=float, default=5.0, help="breaker max_wait_in_open")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sms-bench-"))
    configure_logging(level="warning", json_file=workdir / "log.jsonl")
    rounds = [one_round(args, workdir, seed) for seed in range(1, args.rounds + 1)]
    keys = [k for k, v in rounds[0].items() if isinstance(v, int | float)
            and not isinstance(v, bool)]
    medians = {k: round(statistics.median(r[k] for r in rounds), 3) for k in keys}
    print(json.dumps({
        "benchmark": "sms",
        "placement": _bench.placement(),
        "settings": {"rate": args.rate, "threads": args.threads, "before_s": args.before,
                     "outage_s": args.outage, "after_s": args.after,
                     "wait_in_open": args.wait, "max_wait_in_open": args.max_wait,
                     "provider_quota_per_s": 1000, "bucket_per_s": 900, "outage_mode": "503",
                     "outbox": "sqlite NORMAL"},
        "median": medians,
        "all_drained": all(r["drained"] for r in rounds),
        "sms_lost_total": sum(r["sms_lost"] for r in rounds),
        "duplicates_texted_total": sum(r["duplicates_texted"] for r in rounds),
        "rounds": rounds,
        "versions": {"python": platform.python_version(), "httpx": version("httpx"),
                     "pykka": version("pykka")},
    }, indent=2))


if __name__ == "__main__":
    main()
