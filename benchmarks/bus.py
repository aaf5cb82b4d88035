"""Event bus throughput: one publisher, 10 subscribers; and the cost of one slow subscriber.

Prints one JSON object. Each round publishes N events to 10 counting
subscribers and times until every subscriber has handled all of them
(deliveries/s = N x 10 / elapsed). The "slow" rounds add an 11th subscriber
whose handler is stuck for the whole round; the figure is the 10 healthy
subscribers' deliveries/s. Rounds alternate (healthy, slow, healthy, slow...)
and medians are quoted. Logging is configured (warnings to a JSON file).

    taskset -c 0 python benchmarks/bus.py
    python benchmarks/bus.py
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
from actors.bus import EventBus, EventBusConfig
from actors.supervision import ActorSystem


class Counter:
    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = threading.Event()

    def __call__(self, payload: Any) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


def one_round(events: int, subscribers: int, slow: bool) -> float:
    gate = threading.Event()
    config = EventBusConfig(buffer_size=1000, max_backlog=events + 1000)
    with ActorSystem() as system:
        bus = EventBus.start(system, config)
        counters = [Counter(events) for _ in range(subscribers)]
        for counter in counters:
            bus.subscribe("order.created", counter)
        if slow:
            bus.subscribe("order.#", lambda _: gate.wait(60), name="slow")
        start = time.perf_counter()
        for n in range(events):
            bus.publish("order.created", n)
        for counter in counters:
            if not counter.done.wait(120):
                raise RuntimeError(f"a subscriber got only {counter.count} of {events}")
        elapsed = time.perf_counter() - start
        gate.set()
        bus.stop()
    return events * subscribers / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--subscribers", type=int, default=10)
    args = parser.parse_args()
    configure_logging(level="warning", json_file=Path(tempfile.mkdtemp()) / "bus.jsonl")
    healthy: list[float] = []
    with_slow: list[float] = []
    for _ in range(args.rounds):
        healthy.append(one_round(args.events, args.subscribers, slow=False))
        with_slow.append(one_round(args.events, args.subscribers, slow=True))
    h, s = statistics.median(healthy), statistics.median(with_slow)
    print(json.dumps({
        "benchmark": "bus",
        "placement": _bench.placement(),
        "python": platform.python_version(),
        "events_per_round": args.events,
        "subscribers": args.subscribers,
        "rounds": args.rounds,
        "median_deliveries_per_s": {"all_healthy": round(h), "with_one_slow": round(s)},
        "slow_subscriber_cost": round(1 - s / h, 3),
        "targets": {"deliveries_per_s_min": 50_000, "slow_subscriber_cost_max": 0.10},
        "raw": {"all_healthy": [round(x) for x in healthy],
                "with_one_slow": [round(x) for x in with_slow]},
    }, indent=2))


if __name__ == "__main__":
    main()
