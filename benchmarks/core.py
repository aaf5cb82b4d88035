"""ServiceActor against plain pykka.ThreadingActor: tell throughput and ask round trip.

Prints one JSON object. Rounds alternate (ours, pykka, ours, pykka...) in one
process and the figures are medians, so the ratios are comparable even on a
noisy machine. Run pinned to one vCPU for stable ratios and unpinned beside it:

    taskset -c 0 python benchmarks/core.py
    python benchmarks/core.py

Ours runs with everything on: a bounded mailbox with exact capacity checks,
correlation context captured on send and installed on receive, counters, and
structured logging configured to a JSON file. Its actor threads run under
SCHED_BATCH on Linux, the default (`ServiceActor.batch_scheduling`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _bench  # first: the import path (see _bench.py)
import pykka
import structlog

from actors import MailboxFull, ServiceActor, bind_context, configure_logging


class _Sink:
    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = threading.Event()

    def handle(self, message: Any) -> Any:
        if message == "ping":
            return "pong"
        self.count += 1
        if self.count == self.target:
            self.done.set()
        return None


class PlainActor(pykka.ThreadingActor):
    def __init__(self, sink: _Sink) -> None:
        super().__init__()
        self.sink = sink

    def on_receive(self, message: Any) -> Any:
        return self.sink.handle(message)


class OurActor(ServiceActor):
    mailbox_size = 1_000_000

    def __init__(self, sink: _Sink) -> None:
        super().__init__()
        self.sink = sink

    def on_receive(self, message: Any) -> Any:
        return self.sink.handle(message)


def tell_throughput(actor_class: type[pykka.ThreadingActor], messages: int) -> float:
    sink = _Sink()
    sink.target = messages
    ref = actor_class.start(sink)
    try:
        with bind_context(request_id="bench-1", order_id="o-1"):
            start = time.perf_counter()
            tell = ref.tell
            for i in range(messages):
                tell(i)
            if not sink.done.wait(60):
                raise RuntimeError("actor did not process every message within 60 s")
            elapsed = time.perf_counter() - start
    finally:
        ref.stop()
    return messages / elapsed


def ask_latencies(actor_class: type[pykka.ThreadingActor], asks: int) -> list[float]:
    sink = _Sink()
    ref = actor_class.start(sink)
    samples: list[float] = []
    try:
        with bind_context(request_id="bench-2"):
            for _ in range(200):  # warm-up
                ref.ask("ping", timeout=5.0)
            clock = time.perf_counter_ns
            for _ in range(asks):
                t0 = clock()
                ref.ask("ping", timeout=5.0)
                samples.append((clock() - t0) / 1000.0)
    finally:
        ref.stop()
    return samples


class Blocked(ServiceActor):
    mailbox_size = 64

    def __init__(self, gate: threading.Event, entered: threading.Event) -> None:
        super().__init__()
        self.gate = gate
        self.entered = entered

    def on_receive(self, message: Any) -> Any:
        self.entered.set()
        self.gate.wait(30)


def rejection_latencies(samples: int) -> list[float]:
    """How long a sender waits to learn that a full mailbox rejected it (logging on)."""
    gate, entered = threading.Event(), threading.Event()
    ref = Blocked.start(gate, entered)
    latencies: list[float] = []
    try:
        ref.tell("hold")
        entered.wait(5)
        for _ in range(Blocked.mailbox_size):
            ref.tell("fill")
        clock = time.perf_counter_ns
        for _ in range(samples):
            t0 = clock()
            try:
                ref.tell("overflow")
            except MailboxFull:
                latencies.append((clock() - t0) / 1000.0)
    finally:
        gate.set()
        ref.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--asks", type=int, default=5_000)
    args = parser.parse_args()

    log_path = Path(tempfile.mkdtemp()) / "bench.jsonl"
    configure_logging(level="info", json_file=log_path)
    structlog.get_logger().info("benchmark.started", benchmark="core")

    results: dict[str, dict[str, list[float]]] = {
        name: {"tell_per_s": [], "ask_p50_us": [], "ask_p99_us": []} for name in ("ours", "pykka")
    }
    classes = {"ours": OurActor, "pykka": PlainActor}
    for _ in range(args.rounds):
        for name in ("ours", "pykka"):
            results[name]["tell_per_s"].append(tell_throughput(classes[name], args.messages))
            latencies = ask_latencies(classes[name], args.asks)
            results[name]["ask_p50_us"].append(_bench.percentile(latencies, 0.50))
            results[name]["ask_p99_us"].append(_bench.percentile(latencies, 0.99))

    rejections = rejection_latencies(2_000)
    medians = {
        name: {metric: round(statistics.median(values), 2) for metric, values in metrics.items()}
        for name, metrics in results.items()
    }
    report = {
        "benchmark": "core",
        "placement": _bench.placement(),
        "versions": {
            "python": platform.python_version(),
            "pykka": importlib.metadata.version("pykka"),
            "structlog": importlib.metadata.version("structlog"),
        },
        "rounds": args.rounds,
        "messages_per_round": args.messages,
        "asks_per_round": args.asks,
        "median": medians,
        "ratios": {
            "tell_throughput_ours_over_pykka": round(
                medians["ours"]["tell_per_s"] / medians["pykka"]["tell_per_s"], 3),
            "ask_p50_ours_over_pykka": round(
                medians["ours"]["ask_p50_us"] / medians["pykka"]["ask_p50_us"], 3),
            "ask_p99_ours_over_pykka": round(
                medians["ours"]["ask_p99_us"] / medians["pykka"]["ask_p99_us"], 3),
        },
        "mailbox_full_rejection_us": {
            "p50": round(_bench.percentile(rejections, 0.50), 2),
            "p99": round(_bench.percentile(rejections, 0.99), 2),
            "samples": len(rejections),
            "note": "time for tell() to raise MailboxFull, rejection logged to a JSON file",
        },
        "targets": {"tell_throughput_ratio_min": 2.0, "ask_p50_us_max": 12.0,
                    "ask_p50_ratio_max": 1.0, "note": "targets apply to the pinned run"},
        "raw": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
