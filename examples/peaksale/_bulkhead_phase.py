"""Normal traffic, then payment slows down and hangs: bulkheads keep the others healthy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from actors.bulkhead import ServiceCaller
from actors.core import ServiceActor
from actors.ratelimit import TokenBucket
from actors.supervision import ActorSystem, ChildSpec
from actors.taskqueue import QueueSpec, Task, TaskQueueService
from examples.peaksale._story import Story

PAYMENT = "payment-gateway"
HEALTHY = ("stock-lookup", "notification")
PAYMENT_RETRY = "payment-retry"


class Backend(ServiceActor):
    """A service doing about a millisecond of work; the story can slow it down or hang it."""

    def __init__(self, slow: threading.Event, hung: threading.Event,
                 resumed: threading.Event) -> None:
        super().__init__()
        self.slow, self.hung, self.resumed = slow, hung, resumed

    def on_receive(self, message: Any) -> Any:
        if self.hung.is_set():
            self.resumed.wait(60)  # the dependency behind it stopped answering
        time.sleep(0.05 if self.slow.is_set() else 0.001)
        return {"ok": message}


def run_payment_slowdown(system: ActorSystem, story: Story, seconds: float) -> dict[str, Any]:
    """Orders at a steady rate; payment slows, then hangs, then recovers; figures per service."""
    slow, hung, resumed, calm = (threading.Event() for _ in range(4))
    system.start_child(ChildSpec(PAYMENT, Backend, args=(slow, hung, resumed), pool_size=3,
                                 mailbox_size=6))
    for name in HEALTHY:
        system.start_child(ChildSpec(name, Backend, args=(calm, calm, resumed), pool_size=2,
                                     mailbox_size=200))
    payment_ref = system.service(PAYMENT)

    def retry_payment(task: Task) -> None:
        payment_ref.ask(task.payload, timeout=2.0)  # fails (and is retried) until it recovers

    retries = TaskQueueService.start(system, story.task_store("payment-retry"),
                                     [QueueSpec(PAYMENT_RETRY, retry_payment, workers=2,
                                                poll_interval=0.05)],
                                     name="payment-retry-queue",
                                     rng=story.rng_for("payment-retry-queue"))

    def payment_pending(reason: str, error: BaseException) -> dict[str, Any]:
        return {"status": "payment_pending", "reason": reason}

    callers: dict[str, ServiceCaller[Any]] = {
        PAYMENT: ServiceCaller(payment_ref, timeout=0.25, fallback=payment_pending),
        **{name: ServiceCaller(system.service(name), timeout=1.0,
                               fallback=lambda reason, error: {"status": "degraded"})
           for name in HEALTHY}}
    story.counters["callers"] = callers
    ingress = TokenBucket(300, 30, name="orders-ingress")
    counts = {"orders": 0, "ingress_rejected": 0, "payment_pending": 0}
    lock = threading.Lock()

    def place_order(n: int) -> None:
        if not ingress.try_acquire():
            with lock:
                counts["ingress_rejected"] += 1
            return
        order = {"order_id": f"o-{story.config.seed}-{n}", "amount": 10 + n % 90}
        callers["stock-lookup"].call(order["order_id"])
        answer = callers[PAYMENT].call(order)
        if answer.get("status") == "payment_pending":
            retries.enqueue(PAYMENT_RETRY, order)  # accepted now, charged when payment is back
        callers["notification"].call(order["order_id"])
        with lock:
            counts["orders"] += 1
            counts["payment_pending"] += answer.get("status") == "payment_pending"

    story.enter("normal traffic")
    _shoppers(place_order, time.monotonic() + seconds * 0.35, 0)
    before = {name: callers[name].metrics().p99_ms for name in HEALTHY}
    for caller in callers.values():
        caller.latency.reset()
    story.enter("payment slows down, then hangs: its bulkhead refuses the excess")
    slow.set()
    threading.Timer(seconds * 0.15, hung.set).start()
    _shoppers(place_order, time.monotonic() + seconds * 0.45, 1_000_000)
    during = {name: callers[name].metrics().p99_ms for name in HEALTHY}
    story.enter("payment recovers: pending payments are retried through the task queue")
    slow.clear()
    hung.clear()
    resumed.set()
    drained = retries.wait_until_drained(PAYMENT_RETRY, timeout=max(10.0, seconds))
    settled = retries.metrics(PAYMENT_RETRY).delivered
    services = {}
    for name, caller in callers.items():
        c = caller.metrics()
        services[name] = {"accepted": c.accepted, "rejected": c.rejected,
                          "timed_out": c.timed_out, "fallbacks": c.fallbacks}
    return {
        "services": services,
        "bulkhead": {
            "orders": counts["orders"], "ingress_rejected": counts["ingress_rejected"],
            "payment_pending": counts["payment_pending"],
            "payment_pending_settled": settled, "payment_retry_drained": drained,
            "healthy_p99_ms_before": _rounded(before), "healthy_p99_ms_during": _rounded(during),
        },
    }


def _shoppers(place_order: Callable[[int], None], until: float, first: int) -> None:
    """Four shoppers, about 100 orders/s each, until `until`."""
    def shop(offset: int) -> None:
        n = first + offset
        while time.monotonic() < until:
            place_order(n)
            n += 4
            time.sleep(0.01)  # pacing the offered load

    threads = [threading.Thread(target=shop, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v, 3) for k, v in values.items()}
