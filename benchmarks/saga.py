"""Saga throughput and latency: the 4-step checkout, in-memory log and durable SQLite log.

Prints one JSON object. Each round runs N checkouts (create order, reserve
inventory, process payment, schedule shipping) through the coordinator and the
four example services, keeping at most W sagas in flight (a new one starts as
one ends). Throughput is N / elapsed; latency is per saga, from the start call
to its durable end (under load, mostly time queued behind the other sagas in
the window; a second series runs one saga at a time for latency alone).
Rounds alternate log kinds (memory, sqlite NORMAL, sqlite FULL, memory, ...)
and medians are quoted. Logging is configured (warnings to a
JSON file), as in production.

    python benchmarks/saga.py                # both cores
    taskset -c 0 python benchmarks/saga.py   # one core
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _bench  # first: the import path (see _bench.py)

from actors import configure_logging
from actors.backends import MemorySagaLog, SqliteSagaLog
from actors.saga import SagaLog, Sagas
from actors.supervision import ActorSystem
from examples.shop import CHECKOUT, CheckoutLedger, checkout_services

KINDS = ("memory", "sqlite_normal", "sqlite_full")


def make_log(kind: str, workdir: Path) -> SagaLog:
    if kind == "memory":
        return MemorySagaLog()
    synchronous = "FULL" if kind == "sqlite_full" else "NORMAL"
    return SqliteSagaLog(workdir / f"{kind}-{time.monotonic_ns()}.sqlite3",
                         synchronous=synchronous)


def one_round(kind: str, sagas_n: int, window: int, workdir: Path) -> dict[str, Any]:
    started: dict[str, float] = {}
    latencies: list[float] = []
    slots = threading.Semaphore(window)
    all_done = threading.Event()
    lock = threading.Lock()

    def finished(saga_id: str) -> None:
        now = time.perf_counter()
        with lock:
            latencies.append(now - started.pop(saga_id))
            if len(latencies) == sagas_n:
                all_done.set()
        slots.release()

    log = make_log(kind, workdir)
    ledger = CheckoutLedger()
    try:
        with ActorSystem(checkout_services(ledger)) as system:
            sagas = Sagas.start(system, [CHECKOUT], log, on_finished=finished)
            begin = time.perf_counter()
            for i in range(sagas_n):
                slots.acquire()
                saga_id = f"{kind}-{i}"
                with lock:
                    started[saga_id] = time.perf_counter()
                sagas.start_saga_async("checkout", {"amount": 10}, saga_id=saga_id)
            if not all_done.wait(300):
                raise RuntimeError(f"{kind}: sagas did not finish within 300 s")
            elapsed = time.perf_counter() - begin
            transactions = getattr(log, "transactions", None)
    finally:
        log.close()
    latencies.sort()
    return {
        "sagas_per_s": sagas_n / elapsed,
        "latency_p50_ms": latencies[len(latencies) // 2] * 1e3,
        "latency_p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "log_transactions": transactions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sagas", type=int, default=5000)
    parser.add_argument("--window", type=int, default=500, help="sagas in flight at most")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stanchion-saga-bench-"))
    configure_logging(level="warning", json_file=workdir / "bench.jsonl", console=False)
    one_round("memory", 500, args.window, workdir)  # warm-up: imports, caches
    rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for _ in range(args.rounds):
        for kind in KINDS:
            rounds[kind].append(one_round(kind, args.sagas, args.window, workdir))
    result: dict[str, Any] = {
        "benchmark": "saga_checkout_4_steps",
        "sagas_per_round": args.sagas,
        "in_flight_window": args.window,
        "rounds": args.rounds,
        "placement": _bench.placement(),
        "python": platform.python_version(),
    }
    for kind in KINDS:
        result[kind] = {
            key: statistics.median(r[key] for r in rounds[kind])
            for key in ("sagas_per_s", "latency_p50_ms", "latency_p99_ms")
        }
        if rounds[kind][0]["log_transactions"] is not None:
            result[kind]["log_transactions_per_saga"] = statistics.median(
                r["log_transactions"] / args.sagas for r in rounds[kind])
    # Latency alone: one saga at a time, so no saga queues behind another.
    for kind in KINDS:
        alone = [one_round(kind, 300, 1, workdir) for _ in range(args.rounds)]
        result[kind]["one_at_a_time_p50_ms"] = statistics.median(
            r["latency_p50_ms"] for r in alone)
        result[kind]["one_at_a_time_p99_ms"] = statistics.median(
            r["latency_p99_ms"] for r in alone)
    result["targets"] = {"memory_sagas_per_s": 2000, "durable_sagas_per_s": 1000,
                         "memory_met": result["memory"]["sagas_per_s"] >= 2000,
                         "durable_met": result["sqlite_normal"]["sagas_per_s"] >= 1000}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
