"""Tracing's cost on the hot path: tell throughput and ask p50, tracing off and on.

Prints one JSON object. Each round runs child processes in turn, in this
order: the base tree if `--base` names one (another checkout to compare with,
e.g. one from before tracing existed), this tree with tracing off, and this
tree with tracing on (OpenTelemetry SDK, a
`SimpleSpanProcessor` into an `InMemorySpanExporter`: one `actor.handle`
span per message). In each child, tell throughput is the best of
`--repeats` runs (a fresh actor each; the best, because on a shared machine
interference only ever slows a run down) and the ask p50 is over all its
samples; the report quotes the medians of those over the rounds, and the
ratios of the medians against tracing off (and against the base, if any).
Without `--base` (as `make bench` runs it) only this tree is measured. Tell
throughput is given twice: by
wall-clock time, and by the process's CPU time (sender and actor threads
together), which other processes on a loaded machine disturb far less.

    taskset -c 0 python benchmarks/observability.py     # pinned: off against on
    python benchmarks/observability.py                  # unpinned
    git worktree add --detach /tmp/obs-base 010195e^    # the build before tracing
    taskset -c 0 python benchmarks/observability.py --base /tmp/obs-base
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _child(root: str, mode: str, messages: int, asks: int, repeats: int) -> None:
    sys.path[:] = [root, *(p for p in sys.path if Path(p or ".").resolve() != HERE)]
    import actors  # noqa: PLC0415 - from the tree under test
    from actors import ServiceActor, bind_context  # noqa: PLC0415

    exporter = None
    if mode == "on":
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
            InMemorySpanExporter,
        )

        from actors.observability import enable_tracing  # noqa: PLC0415

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        enable_tracing(provider)

    done = threading.Event()
    state = {"count": 0, "target": messages}

    class Sink(ServiceActor):
        mailbox_size = 1_000_000

        def on_receive(self, message: Any) -> Any:
            if message == "ping":
                return "pong"
            state["count"] += 1
            if state["count"] == state["target"]:
                done.set()
            return None

    throughputs = []
    cpu_throughputs = []
    spans = 0
    for _ in range(repeats):
        done.clear()
        state["count"] = 0
        ref = Sink.start()
        try:
            with bind_context(request_id="bench-1"):
                start = time.perf_counter()
                cpu_start = time.process_time()
                tell = ref.tell
                for i in range(messages):
                    tell(i)
                if not done.wait(120):
                    raise RuntimeError("not every message was processed within 120 s")
                throughputs.append(messages / (time.perf_counter() - start))
                cpu_throughputs.append(messages / (time.process_time() - cpu_start))
        finally:
            ref.stop()
        if exporter is not None:
            spans = len(exporter.get_finished_spans())
            exporter.clear()
    ref = Sink.start()
    try:
        with bind_context(request_id="bench-2"):
            for _ in range(200):
                ref.ask("ping", timeout=5.0)
            clock = time.perf_counter_ns
            samples = []
            for _ in range(asks):
                t0 = clock()
                ref.ask("ping", timeout=5.0)
                samples.append((clock() - t0) / 1000.0)
    finally:
        ref.stop()
    result = {"tell_msgs_per_s": max(throughputs), "tell_cpu_msgs_per_s": max(cpu_throughputs),
              "ask_p50_us": statistics.median(samples),
              "actors": actors.__file__}
    if exporter is not None:
        result["spans_per_tell_run"] = spans
    print(json.dumps(result))


def _run(root: Path, mode: str, messages: int, asks: int, repeats: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--root", str(root),
         "--messages", str(messages), "--asks", str(asks), "--repeats", str(repeats)],
        capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["actors"].startswith(str(root)):
        raise RuntimeError(f"the child imported {result['actors']}, not {root}")
    return result


def _ratios(figures: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    return {"tell_throughput": figures["tell_msgs_per_s"] / reference["tell_msgs_per_s"],
            "tell_throughput_cpu": figures["tell_cpu_msgs_per_s"]
            / reference["tell_cpu_msgs_per_s"],
            "ask_p50": figures["ask_p50_us"] / reference["ask_p50_us"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default=None,
                        help="another checkout to measure beside this one (tracing off)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--asks", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--traced-messages", type=int, default=20_000,
                        help="tells per run with tracing on (each one is an SDK span)")
    parser.add_argument("--child", choices=("off", "on"))
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.child:
        _child(args.root, args.child, args.messages, args.asks, args.repeats)
        return
    variants = {"off": (ROOT, "off"), "on": (ROOT, "on")}
    if args.base is not None:
        base = Path(args.base).resolve()
        if not (base / "actors" / "__init__.py").is_file():
            parser.error(f"--base {args.base}: not a stanchion checkout (no actors/__init__.py)")
        variants = {"base": (base, "off"), **variants}
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (root, mode) in variants.items():
            messages = args.traced_messages if mode == "on" else args.messages
            rounds[name].append(_run(root, mode, messages, args.asks, args.repeats))
    medians = {name: {key: statistics.median(r[key] for r in results)
                      for key in ("tell_msgs_per_s", "tell_cpu_msgs_per_s", "ask_p50_us")}
               for name, results in rounds.items()}
    cpus = sorted(os.sched_getaffinity(0))
    report = {
        "benchmark": "observability",
        "placement": (f"pinned to cpu {cpus[0]} of {os.cpu_count()}" if len(cpus) == 1
                      else f"unpinned ({len(cpus)} cpus)"),
        "rounds": args.rounds, "messages": args.messages,
        "traced_messages": args.traced_messages, "asks": args.asks, "repeats": args.repeats,
        "medians": medians,
        "tracing_on_vs_off": _ratios(medians["on"], medians["off"]),
        **({"tracing_off_vs_base": _ratios(medians["off"], medians["base"]),
            "tracing_on_vs_base": _ratios(medians["on"], medians["base"])}
           if "base" in medians else {"base": "none given (--base)"}),
        "per_round": {name: [(round(r["tell_msgs_per_s"]), round(r["tell_cpu_msgs_per_s"]),
                              round(r["ask_p50_us"], 1))
                             for r in results] for name, results in rounds.items()},
        "python": sys.version.split()[0],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
