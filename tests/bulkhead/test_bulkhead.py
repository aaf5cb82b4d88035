"""The bulkhead claim, with numbers: while payment hangs, inventory and notification keep
their latency, no caller waits past its timeout, and the excess is refused at once.

Run with `-s` to see the figures; every assertion message carries them too.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from actors import ServiceActor, capture_logs
from actors.bulkhead import CallerMetrics, LatencySnapshot, ServiceCaller
from actors.ratelimit import TokenBucket
from actors.supervision import ActorSystem, ChildSpec

PAYMENT_TIMEOUT = 0.2
OTHER_TIMEOUT = 2.0
# A caller may overrun its timeout only by scheduling noise: the wake-up after the
# deadline and the fallback itself. 100 ms is generous on a shared 2-vCPU VM.
MARGIN = 0.1
CALLS_PER_THREAD = 150
LOAD = {"payment": 4, "inventory": 2, "notification": 2}  # caller threads per service


class Worker(ServiceActor):
    """A service doing about a millisecond of work per call; `hang` blocks it until released."""

    def __init__(self, hang: threading.Event, released: threading.Event) -> None:
        super().__init__()
        self.hang, self.released = hang, released

    def on_receive(self, message: Any) -> Any:
        if self.hang.is_set():
            self.released.wait(30)  # the dependency behind payment stopped answering
        time.sleep(0.001)  # the work itself (a lookup, a write)
        return message


def _load(caller: ServiceCaller[Any], waits: list[float]) -> None:
    for n in range(CALLS_PER_THREAD):
        start = time.perf_counter()
        caller.call(n, correlation_id=f"{caller.service}-{n}")
        waits.append(time.perf_counter() - start)
        time.sleep(0.002)  # pacing the offered load, not waiting for anything


def _phase(callers: dict[str, ServiceCaller[Any]]) -> dict[str, list[float]]:
    """Every caller thread makes its calls; returns each call's wait, per service."""
    waits: dict[str, list[float]] = {name: [] for name in callers}
    threads = [threading.Thread(target=_load, args=(callers[name], waits[name]))
               for name, count in LOAD.items() for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads), "a caller thread is stuck: it has no deadline"
    return waits


def _figures(baseline: dict[str, LatencySnapshot], during: dict[str, LatencySnapshot],
             counts: dict[str, CallerMetrics], worst_payment_wait: float) -> str:
    lines = [f"{name}: p99 {baseline[name].p99_ms} ms before, {during[name].p99_ms} ms during "
             f"the hang; accepted={c.accepted} rejected={c.rejected} timed_out={c.timed_out} "
             f"fallbacks={c.fallbacks} offered={c.offered}"
             for name, c in counts.items()]
    lines.append(f"worst payment wait {worst_payment_wait * 1000:.1f} ms "
                 f"(timeout {PAYMENT_TIMEOUT * 1000:.0f} ms)")
    return "\n".join(lines)


def test_a_hung_payment_service_does_not_drag_the_others_down() -> None:
    hang, released, idle = threading.Event(), threading.Event(), threading.Event()
    specs = [ChildSpec("payment", Worker, args=(hang, released), pool_size=2, mailbox_size=4),
             ChildSpec("inventory", Worker, args=(idle, released), mailbox_size=100),
             ChildSpec("notification", Worker, args=(idle, released), mailbox_size=100)]
    fallbacks_run: dict[str, int] = dict.fromkeys(LOAD, 0)
    lock = threading.Lock()

    def fallback_for(name: str) -> Any:
        def fallback(reason: str, error: BaseException) -> str:
            with lock:
                fallbacks_run[name] += 1
            return f"fallback:{reason}"
        return fallback

    with ActorSystem(specs) as system:
        try:
            callers = {name: ServiceCaller(
                system.service(name),
                timeout=PAYMENT_TIMEOUT if name == "payment" else OTHER_TIMEOUT,
                fallback=fallback_for(name)) for name in LOAD}
            baseline_waits = _phase(callers)
            baseline = {name: caller.latency.reset() for name, caller in callers.items()}
            hang.set()
            with capture_logs() as logs:
                waits = _phase(callers)
            during = {name: caller.latency_snapshot() for name, caller in callers.items()}
        finally:
            released.set()  # the hung payment actors finish, so the system stops cleanly
        counts = {name: caller.metrics() for name, caller in callers.items()}

    worst = max(waits["payment"])
    figures = _figures(baseline, during, counts, worst)
    print(figures)
    for name in ("inventory", "notification"):
        before, now = baseline[name].p99_ms, during[name].p99_ms
        assert before is not None, figures
        assert now is not None, figures
        # The claim is "unaffected", but these are 1 ms calls on a shared, noisy 2-vCPU VM
        # where 4 more caller threads are busy in the hang phase: one descheduling costs a
        # few ms. 3x the baseline or 20 ms above it, whichever is larger, still fails
        # clearly if the hang leaked (the others would wait 200 ms timeouts or more).
        allowed = max(3 * before, before + 20)
        assert now <= allowed, f"{name} p99 {now:.2f} ms > allowed {allowed:.2f}\n{figures}"
        assert counts[name].rejected == counts[name].timed_out == 0, figures
        assert max(waits[name]) < OTHER_TIMEOUT, figures
    assert max(baseline_waits["payment"]) < PAYMENT_TIMEOUT + MARGIN, figures
    assert worst <= PAYMENT_TIMEOUT + MARGIN, f"a payment caller waited too long\n{figures}"
    payment = counts["payment"]
    assert payment.rejected > 0, f"the full bulkhead should refuse the excess\n{figures}"
    assert payment.timed_out > 0, figures
    assert payment.fallbacks == payment.rejected + payment.timed_out, figures
    assert fallbacks_run == {name: counts[name].fallbacks for name in LOAD}, figures
    for name, count in counts.items():
        offered = 2 * CALLS_PER_THREAD * LOAD[name]
        assert count.accepted + count.rejected + count.timed_out == offered == count.offered, (
            f"{name}: the counters do not add up to {offered}\n{figures}")
    rejected_events = [e for e in logs if e["event"] == "call.rejected"]
    assert len(rejected_events) == payment.rejected, figures
    assert {e["service"] for e in rejected_events} == {"payment"}
    assert all(e["reason"] == "rejected" and e["correlation_id"].startswith("payment-")
               for e in rejected_events)
    slowest_refusal = max(e["waited_ms"] for e in rejected_events)
    assert slowest_refusal < 50, f"a refusal waited {slowest_refusal} ms\n{figures}"


def test_ingress_rate_limit_refuses_before_the_service_is_touched() -> None:
    clock = [0.0]
    bucket = TokenBucket(1, 2, name="checkout", clock=lambda: clock[0])
    reasons: list[str] = []
    idle = threading.Event()
    with ActorSystem([ChildSpec("inventory", Worker, args=(idle, idle))]) as system:
        ref = system.service("inventory")
        caller = ServiceCaller(ref, timeout=1.0, limiter=bucket,
                               fallback=lambda reason, error: reasons.append(reason))
        answers = [caller.call(n) for n in range(4)]
        processed = ref.stats().processed
    assert answers[:2] == [0, 1]
    assert reasons == ["rate_limited", "rate_limited"]
    assert processed == 2
    assert caller.metrics().rate_limited == 2

