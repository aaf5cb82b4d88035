"""Choreographed against orchestrated sagas: the 4-step checkout, all steps succeeding.

Each round runs N checkouts with at most W in flight, once through the
`Sagas` coordinator (memory log) and once as a `Choreography` over the
in-memory event bus, on the same example services; rounds alternate and
medians of 3 are quoted: sagas per second, and p50/p99 from start to end.
Prints one JSON object.

    taskset -c 0 .venv/bin/python benchmarks/choreography.py
    .venv/bin/python benchmarks/choreography.py
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections import deque
from collections.abc import Callable

import _bench  # first: the import path (see _bench.py)

from actors import configure_logging
from actors.backends import MemorySagaLog
from actors.bus import EventBus
from actors.saga import Choreography, Sagas
from actors.supervision import ActorSystem
from examples.shop import CHECKOUT, CheckoutLedger, checkout_services

N = 2000
W = 50


def drive(start: Callable[[str], None], wait: Callable[[str], object]) -> tuple[float,
                                                                              list[float]]:
    """N sagas, at most W in flight (the oldest is waited for before a new one starts)."""
    latencies: list[float] = []
    starts: dict[str, float] = {}
    pending: deque[str] = deque()
    begin = time.perf_counter()
    for i in range(N):
        if len(pending) >= W:
            oldest = pending.popleft()
            wait(oldest)
            latencies.append(time.perf_counter() - starts[oldest])
        saga_id = f"s-{i}"
        starts[saga_id] = time.perf_counter()
        start(saga_id)
        pending.append(saga_id)
    for saga_id in pending:
        wait(saga_id)
        latencies.append(time.perf_counter() - starts[saga_id])
    return N / (time.perf_counter() - begin), latencies


def orchestrated() -> tuple[float, list[float]]:
    with ActorSystem(checkout_services(CheckoutLedger())) as system:
        sagas = Sagas.start(system, [CHECKOUT], MemorySagaLog())
        return drive(lambda saga_id: sagas.start_saga_async("checkout", {"amount": 10},
                                                            saga_id=saga_id),
                     lambda saga_id: sagas.wait(saga_id, timeout=60))


def choreographed() -> tuple[float, list[float]]:
    with ActorSystem(checkout_services(CheckoutLedger())) as system:
        flow = Choreography.start(system, EventBus.start(system), CHECKOUT)
        return drive(lambda saga_id: flow.start_saga({"amount": 10}, saga_id=saga_id),
                     lambda saga_id: flow.wait(saga_id, timeout=60))


def main() -> None:
    configure_logging(level="error")
    runs: dict[str, list[tuple[float, float, float]]] = {"orchestrated": [],
                                                         "choreographed": []}
    for _ in range(3):
        for name, fn in (("orchestrated", orchestrated), ("choreographed", choreographed)):
            rate, latencies = fn()
            runs[name].append((rate, _bench.percentile(latencies, 0.5) * 1000,
                               _bench.percentile(latencies, 0.99) * 1000))
    result = {name: {"sagas_per_s": round(statistics.median(r[0] for r in rs)),
                     "p50_ms": round(statistics.median(r[1] for r in rs), 2),
                     "p99_ms": round(statistics.median(r[2] for r in rs), 2)}
              for name, rs in runs.items()}
    print(json.dumps({"benchmark": "choreography", "placement": _bench.placement(),
                      "python": platform.python_version(), "sagas": N, "in_flight": W,
                      **result,
                      "throughput_ratio": round(result["choreographed"]["sagas_per_s"]
                                                / result["orchestrated"]["sagas_per_s"], 2)}))


if __name__ == "__main__":
    main()
