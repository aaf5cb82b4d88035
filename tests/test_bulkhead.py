"""The bulkhead claim, with numbers: while payment hangs, inventory and notification keep
their latency, no caller waits past its timeout, and the excess is refused at once."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from actors import ConfigError, ServiceActor, capture_logs
from actors.bulkhead import ServiceCaller
from actors.ratelimit import TokenBucket
from supervisor import ActorSystem, ChildSpec

PAYMENT_TIMEOUT = 0.2


class Worker(ServiceActor):
    """A service doing about a millisecond of work per call; `hang` blocks it."""

    def __init__(self, hang: threading.Event, released: threading.Event) -> None:
        super().__init__()
        self.hang, self.released = hang, released

    def on_receive(self, message: Any) -> Any:
        if self.hang.is_set():
            self.released.wait(30)
        time.sleep(0.001)
        return message


def _load(caller: ServiceCaller[Any], calls: int, waits: list[float]) -> None:
    for n in range(calls):
        start = time.perf_counter()
        caller.call(n)
        waits.append(time.perf_counter() - start)
        time.sleep(0.002)  # pacing the offered load


def _phase(callers: dict[str, ServiceCaller[Any]], threads_per: dict[str, int],
           calls: int) -> dict[str, list[float]]:
    waits: dict[str, list[float]] = {name: [] for name in callers}
    threads = [threading.Thread(target=_load, args=(callers[name], calls, waits[name]))
               for name, count in threads_per.items() for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return waits


def test_a_hung_payment_service_does_not_drag_the_others_down() -> None:
    hang, released = threading.Event(), threading.Event()
    idle = threading.Event()
    specs = [ChildSpec("payment", Worker, args=(hang, released), pool_size=2, mailbox_size=4),
             ChildSpec("inventory", Worker, args=(idle, released), mailbox_size=100),
             ChildSpec("notification", Worker, args=(idle, released), mailbox_size=100)]
    with ActorSystem(specs) as system:
        callers = {name: ServiceCaller(system.service(name),
                                       timeout=PAYMENT_TIMEOUT if name == "payment" else 2.0,
                                       fallback=lambda reason, error: f"fallback:{reason}")
                   for name in ("payment", "inventory", "notification")}
        load = {"payment": 4, "inventory": 2, "notification": 2}
        _phase(callers, load, calls=150)
        baseline = {name: callers[name].counts().p99_ms for name in callers}
        for caller in callers.values():
            caller.latency.reset()
        hang.set()
        with capture_logs() as logs:
            waits = _phase(callers, load, calls=150)
        during = {name: callers[name].counts().p99_ms for name in callers}
        released.set()
        counts = {name: callers[name].counts() for name in callers}

    print({name: (baseline[name], during[name]) for name in callers},  # the figures, for -s
          {name: counts[name] for name in callers})
    for name in ("inventory", "notification"):
        before, now = baseline[name], during[name]
        assert before is not None
        assert now is not None
        # A shared, noisy 2-vCPU machine: allow 3x the baseline, or 20 ms on top of it.
        allowed = max(3 * before, before + 20)
        assert now <= allowed, f"{name} p99 {now:.2f} ms during the hang, {before:.2f} before"
        assert counts[name].rejected == counts[name].timed_out == 0
    payment = counts["payment"]
    worst = max(waits["payment"])
    assert worst <= PAYMENT_TIMEOUT + 0.1, f"a payment caller waited {worst * 1000:.0f} ms"
    assert payment.rejected > 0, "the full bulkhead should refuse the excess at once"
    assert payment.timed_out > 0
    assert payment.fallbacks == payment.rejected + payment.timed_out
    for count in counts.values():
        assert count.offered == 2 * 150 * load[count.service]
    rejected_at_once = [e for e in logs if e["event"] == "call.rejected"]
    assert len(rejected_at_once) == payment.rejected
    assert max(e["waited_ms"] for e in rejected_at_once) < 50


def test_ingress_rate_limit_refuses_before_the_service_is_touched() -> None:
    clock = [0.0]
    bucket = TokenBucket(1, 2, name="checkout", clock=lambda: clock[0])
    reasons: list[str] = []
    with ActorSystem([ChildSpec("inventory", Worker,
                                args=(threading.Event(), threading.Event()))]) as system:
        ref = system.service("inventory")
        caller = ServiceCaller(ref, timeout=1.0, limiter=bucket,
                               fallback=lambda reason, error: reasons.append(reason))
        answers = [caller.call(n) for n in range(4)]
        processed = ref.stats().processed
    assert answers[:2] == [0, 1]
    assert reasons == ["rate_limited", "rate_limited"]
    assert processed == 2
    assert caller.counts().rate_limited == 2


def test_a_caller_needs_a_timeout_and_a_fallback() -> None:
    with ActorSystem([ChildSpec("inventory", Worker,
                                args=(threading.Event(), threading.Event()))]) as system:
        ref = system.service("inventory")
        with pytest.raises(ConfigError, match="timeout=0 is invalid"):
            ServiceCaller(ref, timeout=0, fallback=lambda reason, error: None)
        with pytest.raises(ConfigError, match="fallback=None is invalid"):
            ServiceCaller(ref, timeout=1, fallback=None)  # type: ignore[arg-type]
