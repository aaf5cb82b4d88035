"""Adaptive bulkheads: a fixed in-flight limit against AIMD and gradient limits.

A service (one actor, `time.sleep` of its service time per call) runs under
steady overload: calls arrive open-loop at RATE per second from an asyncio
client through `ServiceCaller.call_async`. After SHIFT seconds its service
time rises 10x (2 ms to 20 ms: capacity 500/s to 50/s). Compared, in
alternating rounds (median of 3):

- fixed: the service's mailbox of FIXED (the guess a deployment makes);
- aimd: `AdaptiveLimit` with `AimdLimit(latency_threshold=0.1)`;
- gradient: `AdaptiveLimit` with `GradientLimit()`.

After the shift: goodput (answers returned per second within the window),
and for the calls started after it the p99 of the accepted calls' latency and
the rejection rate. Target: adaptive p99 at
most half the fixed limit's, goodput at least 0.9x. Prints one JSON object.

    taskset -c 0 .venv/bin/python benchmarks/adaptive.py
    .venv/bin/python benchmarks/adaptive.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from typing import Any

import _bench  # first: the import path (see _bench.py)

from actors import ServiceActor, configure_logging
from actors.bulkhead import (
    AdaptiveLimit,
    AdaptiveLimitConfig,
    AimdLimit,
    GradientLimit,
    ServiceCaller,
)
from actors.supervision import ActorSystem, ChildSpec

RATE = 600.0          # calls offered per second: 1.2x capacity before the shift, 12x after
BEFORE = 0.002        # service time before the shift (capacity 500/s)
AFTER = 0.020         # after: 10x (capacity 50/s)
FIXED = 100           # the fixed mailbox
TIMEOUT = 5.0


class Service(ServiceActor):
    mailbox_size = 10_000

    def __init__(self, service_time: list[float]) -> None:
        super().__init__()
        self.service_time = service_time

    def on_receive(self, message: Any) -> Any:
        time.sleep(self.service_time[0])
        return message


class Fixed(Service):
    mailbox_size = FIXED


REFUSED = object()


async def drive(caller: ServiceCaller[Any], service_time: list[float], shift: float,
                duration: float) -> list[tuple[float, bool, float]]:
    """Offer calls at RATE for `duration` s; the service slows at `shift`. (start, ok, latency)."""
    loop = asyncio.get_running_loop()
    results: list[tuple[float, bool, float]] = []
    tasks: list[asyncio.Task[None]] = []
    begin = loop.time()

    async def one(i: int) -> None:
        start = loop.time()
        answer = await caller.call_async(i)
        results.append((start - begin, answer is not REFUSED, loop.time() - start))

    i = 0
    shifted = False
    while True:
        now = loop.time() - begin
        if now >= duration:
            break
        if not shifted and now >= shift:
            service_time[0] = AFTER
            shifted = True
        due = i / RATE
        if due > now:
            await asyncio.sleep(due - now)
            continue
        tasks.append(asyncio.ensure_future(one(i)))
        i += 1
    await asyncio.gather(*tasks)
    return results


def run(kind: str, shift: float, duration: float) -> dict[str, float]:
    service_time = [BEFORE]
    cls = Fixed if kind == "fixed" else Service
    limit = None
    if kind != "fixed":
        algorithm = (AimdLimit(latency_threshold=0.1) if kind == "aimd" else GradientLimit())
        limit = AdaptiveLimit(kind, AdaptiveLimitConfig(initial_limit=20, min_limit=2,
                                                        max_limit=FIXED, algorithm=algorithm))
    with ActorSystem([ChildSpec("service", cls, args=(service_time,))]) as system:
        caller: ServiceCaller[Any] = ServiceCaller(
            system.service("service"), timeout=TIMEOUT,
            fallback=lambda reason, error: REFUSED, limit=limit)
        results = asyncio.run(drive(caller, service_time, shift, duration))
        final_limit = limit.metrics().limit if limit is not None else FIXED
    after = [r for r in results if r[0] >= shift]
    ok = [r[2] for r in after if r[1]]
    # Goodput counts answers that came back within the window: a queue left
    # full at the end must not count as work done in it.
    done = sum(1 for start, good, latency in results
               if good and shift <= start + latency < duration)
    return {
        "goodput_per_s": done / (duration - shift),
        "p99_ms": _bench.percentile(ok, 0.99) * 1000,
        "p50_ms": _bench.percentile(ok, 0.5) * 1000,
        "rejection_rate": 1 - len(ok) / len(after) if after else 0.0,
        "p99_before_ms": _bench.percentile([r[2] for r in results if r[0] < shift and r[1]],
                                           0.99) * 1000,
        "final_limit": final_limit,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shift", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    configure_logging(level="error")
    kinds = ("fixed", "aimd", "gradient")
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for kind in kinds:
            runs[kind].append(run(kind, args.shift, args.duration))
    med = {k: {m: round(statistics.median(r[m] for r in rs), 3) for m in rs[0]}
           for k, rs in runs.items()}
    fixed = med["fixed"]
    print(json.dumps({
        "benchmark": "adaptive",
        "placement": _bench.placement(),
        "python": platform.python_version(),
        "offered_per_s": RATE,
        "service_ms_before_after": [BEFORE * 1000, AFTER * 1000],
        "fixed_limit": FIXED,
        "rounds": args.rounds,
        "after_shift": med,
        "ratios_vs_fixed": {k: {"p99": round(med[k]["p99_ms"] / fixed["p99_ms"], 3),
                                "goodput": round(med[k]["goodput_per_s"]
                                                 / fixed["goodput_per_s"], 3)}
                            for k in ("aimd", "gradient")},
    }))


if __name__ == "__main__":
    main()
