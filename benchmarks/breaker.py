"""Circuit breaker overhead: ours beside pybreaker, and the gate beside a direct ask.

Prints one JSON object. Rounds alternate (ours, pybreaker, ours, ...) in one
process and medians of the rounds are quoted:

1. closed-state cost per call: our `acquire` + `on_success` around a no-op
   (and `breaker.call`, which also times the call) against pybreaker's
   `call(noop)`, each minus the bare no-op call;
2. fail-fast latency while open, p50 and p99 of single refusals (raise and
   catch included), ours against pybreaker's;
3. the full path through `BreakerGate.ask` to an echo `ServiceActor`, p50 and
   p99, beside a direct `ServiceRef.ask` to the same actor.

    taskset -c 0 .venv/bin/python benchmarks/breaker.py
    .venv/bin/python benchmarks/breaker.py
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import _bench  # first: the import path (see _bench.py)
import pybreaker

from actors import CircuitOpen, ServiceActor, configure_logging
from actors.breaker import BreakerConfig, BreakerGate, BreakerState, CircuitBreaker
from actors.supervision import ActorSystem, ChildSpec

NEVER_HALF_OPEN = BreakerConfig(wait_in_open=1e6, max_wait_in_open=1e6)


def noop() -> None:
    return None


# -- 1. closed-state cost ------------------------------------------------------------------


def per_call_ns(loop: Callable[[int], None], calls: int) -> float:
    start = time.perf_counter_ns()
    loop(calls)
    return (time.perf_counter_ns() - start) / calls


def bare_loop(calls: int) -> None:
    fn = noop
    for _ in range(calls):
        fn()


def ours_closed_loop(breaker: CircuitBreaker) -> Callable[[int], None]:
    def loop(calls: int) -> None:
        acquire, on_success, fn = breaker.acquire, breaker.on_success, noop
        for _ in range(calls):
            permit = acquire()
            fn()
            on_success(permit, 0.0)
    return loop


def ours_call_loop(breaker: CircuitBreaker) -> Callable[[int], None]:
    def loop(calls: int) -> None:
        call, fn = breaker.call, noop
        for _ in range(calls):
            call(fn)
    return loop


def pybreaker_loop(breaker: pybreaker.CircuitBreaker) -> Callable[[int], None]:
    def loop(calls: int) -> None:
        call, fn = breaker.call, noop
        for _ in range(calls):
            call(fn)
    return loop


# -- 2. fail fast ----------------------------------------------------------------------------


def refusal_samples(attempt: Callable[[], None], error: type[Exception],
                    samples: int) -> list[int]:
    clock = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        start = clock()
        try:
            attempt()
        except error:
            out[i] = clock() - start
        else:
            raise RuntimeError("an open breaker let a call through")
    return out


# -- 3. through the gate -------------------------------------------------------------------


class Echo(ServiceActor):
    mailbox_size = 1000

    def on_receive(self, message: Any) -> Any:
        return message


def ask_samples(ask: Callable[[Any], Any], samples: int) -> list[int]:
    clock = time.perf_counter_ns
    out = [0] * samples
    for i in range(samples):
        start = clock()
        ask(i)
        out[i] = clock() - start
    return out


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200_000, help="closed-state calls a round")
    parser.add_argument("--samples", type=int, default=20_000, help="refusals timed a round")
    parser.add_argument("--asks", type=int, default=5_000, help="asks timed a round")
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error("--rounds must be at least 5")
    configure_logging(level="warning", json_file=Path(tempfile.mkdtemp()) / "breaker.jsonl")

    ours = CircuitBreaker("bench")
    theirs = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60)
    ours_open = CircuitBreaker("bench-open", NEVER_HALF_OPEN)
    while ours_open.state is BreakerState.CLOSED:  # opened by failures, as in production
        ours_open.on_error(ours_open.acquire(), 0.0, ConnectionError("down"))
    theirs_open = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=1e6)
    theirs_open.open()

    def ours_refuse() -> None:
        ours_open.acquire()

    def theirs_refuse() -> None:
        theirs_open.call(noop)

    closed: dict[str, list[float]] = {"ours": [], "ours_call": [], "pybreaker": []}
    refusals: dict[str, list[float]] = {"ours_p50": [], "ours_p99": [], "pybreaker_p50": [],
                                        "pybreaker_p99": []}
    gate_rounds: dict[str, list[float]] = {"gate_p50": [], "gate_p99": [], "direct_p50": [],
                                           "direct_p99": []}
    with ActorSystem([ChildSpec("echo", Echo)]) as system:
        gate = BreakerGate.start(system, "echo-breaker", target="echo")
        echo = system.service("echo")

        def gate_ask(message: Any) -> Any:
            return gate.ask(message, timeout=5.0)

        def direct_ask(message: Any) -> Any:
            return echo.ask(message, timeout=5.0)

        # warm-up: first calls pay for imports, caches and thread start-up
        ours_closed_loop(ours)(10_000)
        pybreaker_loop(theirs)(10_000)
        refusal_samples(ours_refuse, CircuitOpen, 1000)
        refusal_samples(theirs_refuse, pybreaker.CircuitBreakerError, 1000)
        ask_samples(gate_ask, 500)
        ask_samples(direct_ask, 500)

        for _ in range(args.rounds):
            bare = per_call_ns(bare_loop, args.calls)
            closed["ours"].append(per_call_ns(ours_closed_loop(ours), args.calls) - bare)
            closed["pybreaker"].append(per_call_ns(pybreaker_loop(theirs), args.calls) - bare)
            closed["ours_call"].append(per_call_ns(ours_call_loop(ours), args.calls) - bare)

            samples = refusal_samples(ours_refuse, CircuitOpen, args.samples)
            refusals["ours_p50"].append(_bench.percentile(samples, 0.50))
            refusals["ours_p99"].append(_bench.percentile(samples, 0.99))
            samples = refusal_samples(theirs_refuse, pybreaker.CircuitBreakerError, args.samples)
            refusals["pybreaker_p50"].append(_bench.percentile(samples, 0.50))
            refusals["pybreaker_p99"].append(_bench.percentile(samples, 0.99))

            samples = ask_samples(gate_ask, args.asks)
            gate_rounds["gate_p50"].append(_bench.percentile(samples, 0.50))
            gate_rounds["gate_p99"].append(_bench.percentile(samples, 0.99))
            samples = ask_samples(direct_ask, args.asks)
            gate_rounds["direct_p50"].append(_bench.percentile(samples, 0.50))
            gate_rounds["direct_p99"].append(_bench.percentile(samples, 0.99))
        gate_state = gate.metrics()
        if gate_state.state is not BreakerState.CLOSED or gate_state.failed_total:
            raise RuntimeError(f"the gate should have stayed closed: {gate_state}")

    us = 1000.0
    closed_us = {k: median([v / us for v in vs]) for k, vs in closed.items()}
    refusal_us = {k: median([v / us for v in vs]) for k, vs in refusals.items()}
    gate_us = {k: median([v / us for v in vs]) for k, vs in gate_rounds.items()}
    result = {
        "benchmark": "breaker",
        "placement": _bench.placement(),
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "refusals_per_round": args.samples,
        "asks_per_round": args.asks,
        "versions": {
            "python": platform.python_version(),
            "pykka": version("pykka"),
            "pybreaker": version("pybreaker"),
            "structlog": version("structlog"),
        },
        "closed_cost_us": {
            "ours_acquire_on_success": closed_us["ours"],
            "ours_call": closed_us["ours_call"],
            "pybreaker_call": closed_us["pybreaker"],
            "ratio_ours_to_pybreaker": round(closed_us["ours"] / closed_us["pybreaker"], 2),
            "ratio_ours_call_to_pybreaker": round(
                closed_us["ours_call"] / closed_us["pybreaker"], 2),
            "target": "ours <= 2x pybreaker",
        },
        "fail_fast_us": {
            **refusal_us,
            "ratio_p50_ours_to_pybreaker": round(
                refusal_us["ours_p50"] / refusal_us["pybreaker_p50"], 2),
            "ratio_p99_ours_to_pybreaker": round(
                refusal_us["ours_p99"] / refusal_us["pybreaker_p99"], 2),
            "target": "ours p50 <= pybreaker p50",
        },
        "gate_ask_us": {
            **gate_us,
            "ratio_p50_gate_to_direct": round(gate_us["gate_p50"] / gate_us["direct_p50"], 2),
            "ratio_p99_gate_to_direct": round(gate_us["gate_p99"] / gate_us["direct_p99"], 2),
        },
        "per_round_us": {
            "closed_ours": [round(v / us, 3) for v in closed["ours"]],
            "closed_pybreaker": [round(v / us, 3) for v in closed["pybreaker"]],
            "fail_fast_ours_p50": [round(v / us, 3) for v in refusals["ours_p50"]],
            "fail_fast_pybreaker_p50": [round(v / us, 3) for v in refusals["pybreaker_p50"]],
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
