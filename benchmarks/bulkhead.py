"""Bulkheads: what a ServiceCaller costs beside a bare ask, and how well a hang is contained.

Prints one JSON object. Rounds alternate (ours, peer, ours, peer...) in one
process and medians of the rounds are quoted:

1. accepted call, p50/p99 round trip to an echo `ServiceActor`:
   `ServiceCaller.call` against a bare `ServiceRef.ask` wrapped in the same
   try/except a hand-written caller needs;
2. refusal by a full bulkhead, p50/p99 until the fallback's value is back:
   `ServiceCaller.call` (counts, `call.rejected` written to a JSON log) against
   the bare ask catching `MailboxFull` (the mailbox's own `mailbox.rejected` is
   written in both);
3. `TokenBucket.try_acquire`, uncontended, beside a bare `threading.Lock`
   acquire/release (its floor);
4. isolation: inventory's p99 under steady load before and while payment
   hangs (the scenario of tests/bulkhead/test_bulkhead.py, repeated), and the worst
   payment wait against its 0.2 s timeout.

    taskset -c 0 .venv/bin/python benchmarks/bulkhead.py
    .venv/bin/python benchmarks/bulkhead.py
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import _bench  # first: the import path (see _bench.py)

from actors import MailboxFull, ServiceActor, ServiceRef, configure_logging
from actors.bulkhead import ServiceCaller
from actors.ratelimit import TokenBucket
from actors.supervision import ActorSystem, ChildSpec

PAYMENT_TIMEOUT = 0.2


class Echo(ServiceActor):
    def on_receive(self, message: Any) -> Any:
        return message


class Worker(ServiceActor):
    """About a millisecond of work; blocks while `hang` is set, until `released`."""

    def __init__(self, hang: threading.Event, released: threading.Event,
                 started: threading.Event | None = None) -> None:
        super().__init__()
        self.hang, self.released, self.started = hang, released, started

    def on_receive(self, message: Any) -> Any:
        if self.hang.is_set():
            if self.started is not None:
                self.started.set()
            self.released.wait(60)
        time.sleep(0.001)
        return message


def fallback(reason: str, error: BaseException) -> str:
    return reason


def bare_caller(ref: ServiceRef[Any]) -> Callable[[Any], Any]:
    """What a hand-written caller with a timeout and a fallback looks like."""
    def call(message: Any) -> Any:
        try:
            return ref.ask(message, timeout=PAYMENT_TIMEOUT)
        except MailboxFull as exc:
            return fallback("rejected", exc)
    return call


def samples_us(call: Callable[[Any], Any], n: int) -> list[float]:
    clock = time.perf_counter_ns
    out = [0.0] * n
    for i in range(n):
        start = clock()
        call(i)
        out[i] = (clock() - start) / 1000
    return out


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def per_op_ns(loop: Callable[[int], None], n: int) -> float:
    start = time.perf_counter_ns()
    loop(n)
    return (time.perf_counter_ns() - start) / n


def bucket_loop(n: int) -> None:
    bucket = TokenBucket(1e9, 1_000_000)  # never runs dry: the granting path
    acquire = bucket.try_acquire
    for _ in range(n):
        acquire()


def lock_loop(n: int) -> None:
    lock = threading.Lock()
    for _ in range(n):
        with lock:
            pass


def isolation_round(calls: int) -> dict[str, float]:
    """One run of the hang scenario: inventory p99 before/during, worst payment wait."""
    hang, released, idle = threading.Event(), threading.Event(), threading.Event()
    specs = [ChildSpec("payment", Worker, args=(hang, released), pool_size=2, mailbox_size=4),
             ChildSpec("inventory", Worker, args=(idle, released), mailbox_size=100)]
    load = {"payment": 4, "inventory": 2}
    with ActorSystem(specs) as system:
        callers = {name: ServiceCaller(system.service(name),
                                       timeout=PAYMENT_TIMEOUT if name == "payment" else 2.0,
                                       fallback=fallback) for name in load}
        worst = [0.0]

        def run(caller: ServiceCaller[Any]) -> None:
            for n in range(calls):
                start = time.perf_counter()
                caller.call(n)
                waited = time.perf_counter() - start
                if caller.service == "payment":
                    worst[0] = max(worst[0], waited)
                time.sleep(0.002)  # pacing the offered load

        def phase() -> None:
            threads = [threading.Thread(target=run, args=(callers[name],))
                       for name, count in load.items() for _ in range(count)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)

        try:
            phase()
            before = callers["inventory"].latency.reset()
            hang.set()
            worst[0] = 0.0
            phase()
            during = callers["inventory"].latency.snapshot()
        finally:
            released.set()
        payment = callers["payment"].counts()
    assert before.p99_ms is not None
    assert during.p99_ms is not None
    return {"before_p99_ms": before.p99_ms, "during_p99_ms": during.p99_ms,
            "worst_payment_wait_ms": worst[0] * 1000,
            "payment_rejected": payment.rejected, "payment_timed_out": payment.timed_out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--asks", type=int, default=5_000, help="calls timed per round")
    parser.add_argument("--ops", type=int, default=500_000, help="try_acquire calls per round")
    parser.add_argument("--isolation-rounds", type=int, default=3)
    parser.add_argument("--isolation-calls", type=int, default=150,
                        help="calls per caller thread per phase")
    args = parser.parse_args()
    if args.rounds < 3 or args.isolation_rounds < 3:
        parser.error("--rounds and --isolation-rounds must be at least 3 (medians of >= 3)")
    # Info: each refusal's call.rejected line is part of what this measures (it is info since
    # #13, when mailbox.rejected became a summarised warning).
    configure_logging(level="info", json_file=Path(tempfile.mkdtemp()) / "bulkhead.jsonl")

    accepted: dict[str, list[float]] = {k: [] for k in ("ours_p50", "ours_p99", "bare_p50",
                                                        "bare_p99")}
    refused: dict[str, list[float]] = {k: [] for k in accepted}
    bucket: dict[str, list[float]] = {"try_acquire_ns": [], "lock_ns": []}
    hang, released, started = threading.Event(), threading.Event(), threading.Event()
    specs = [ChildSpec("echo", Echo),
             ChildSpec("full", Worker, args=(hang, released, started), mailbox_size=1)]
    with ActorSystem(specs) as system:
        echo, full = system.service("echo"), system.service("full")
        ours_ok = ServiceCaller(echo, timeout=PAYMENT_TIMEOUT, fallback=fallback).call
        bare_ok = bare_caller(echo)
        hang.set()
        full.tell("hold")  # the only worker holds this one...
        if not started.wait(5):
            raise RuntimeError("the full service did not start its held message")
        full.tell("queued")  # ...and this fills the mailbox of 1
        ours_full = ServiceCaller(full, timeout=PAYMENT_TIMEOUT, fallback=fallback)
        bare_full = bare_caller(full)
        if ours_full.call("x") != "rejected" or bare_full("x") != "rejected":
            raise RuntimeError("the bulkhead should be full")
        try:
            samples_us(ours_ok, 500)  # warm-up
            samples_us(bare_ok, 500)
            for _ in range(args.rounds):
                for name, call, into in (("ours", ours_ok, accepted), ("bare", bare_ok, accepted),
                                         ("ours", ours_full.call, refused),
                                         ("bare", bare_full, refused)):
                    s = samples_us(call, args.asks)
                    into[f"{name}_p50"].append(_bench.percentile(s, 0.50))
                    into[f"{name}_p99"].append(_bench.percentile(s, 0.99))
                bucket["try_acquire_ns"].append(per_op_ns(bucket_loop, args.ops))
                bucket["lock_ns"].append(per_op_ns(lock_loop, args.ops))
        finally:
            released.set()
        if ours_full.counts().rejected != args.rounds * args.asks + 1:
            raise RuntimeError(f"every refusal should be counted: {ours_full.counts()}")

    isolation = [isolation_round(args.isolation_calls) for _ in range(args.isolation_rounds)]
    acc = {k: median(v) for k, v in accepted.items()}
    ref = {k: median(v) for k, v in refused.items()}
    bkt = {k: median(v) for k, v in bucket.items()}
    iso = {k: median([r[k] for r in isolation]) for k in isolation[0]}
    result = {
        "benchmark": "bulkhead",
        "placement": _bench.placement(),
        "rounds": args.rounds,
        "asks_per_round": args.asks,
        "versions": {"python": platform.python_version(), "pykka": version("pykka"),
                     "structlog": version("structlog")},
        "accepted_call_us": {**acc,
                             "ratio_p50_ours_to_bare": round(acc["ours_p50"] / acc["bare_p50"], 2),
                             "ratio_p99_ours_to_bare": round(acc["ours_p99"] / acc["bare_p99"], 2)},
        "refused_call_us": {**ref,
                            "ratio_p50_ours_to_bare": round(ref["ours_p50"] / ref["bare_p50"], 2),
                            "ratio_p99_ours_to_bare": round(ref["ours_p99"] / ref["bare_p99"], 2),
                            "note": "ours also counts and writes call.rejected to the JSON log"},
        "token_bucket_ns": {**bkt,
                            "ratio_try_acquire_to_lock": round(
                                bkt["try_acquire_ns"] / bkt["lock_ns"], 2)},
        "isolation": {
            **{k: round(v, 3) for k, v in iso.items()},
            "ratio_inventory_p99_during_to_before": round(
                iso["during_p99_ms"] / iso["before_p99_ms"], 2),
            "payment_timeout_ms": PAYMENT_TIMEOUT * 1000,
            "rounds": args.isolation_rounds,
            "per_round": [{k: round(v, 3) for k, v in r.items()} for r in isolation],
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
