"""Checkouts as sagas, some failing and compensating; lifecycle events on the bus."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from actors.bus import EventBus, EventBusConfig
from actors.retry import RetryPolicy
from actors.saga import Sagas, SagaStatus
from actors.supervision import ActorSystem
from examples.peaksale._story import Story
from examples.shop import CHECKOUT, CheckoutLedger, check_books, checkout_definition

#: The demo's checkout: short timeouts and few compensation attempts, so a
#: compensation that keeps failing is flagged (and retried by the operator) within the story.
DEMO_CHECKOUT = checkout_definition(
    timeout=1.0, retry=RetryPolicy(max_attempts=3, base_delay=0.02, max_delay=0.2),
    compensation_retry=RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.2))


def start_bus(system: ActorSystem, story: Story) -> EventBus:
    """The bus with the demo's subscribers: analytics, email, and a flaky loyalty service."""
    bus = EventBus.start(system, EventBusConfig(
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)),
        rng=story.rng_for("bus"))
    seen: dict[str, int] = {"analytics": 0, "email": 0, "loyalty": 0}
    lock = threading.Lock()

    def counter(name: str) -> Any:
        def handle(_payload: Any) -> None:
            with lock:
                seen[name] += 1
        return handle

    def loyalty(payload: Any) -> None:
        # A subscriber with a bug for some orders: their events end in the dead-letter queue.
        if str(payload.get("saga_id", "")).endswith("7"):
            raise ValueError(f"loyalty cannot score order {payload.get('saga_id')}")
        with lock:
            seen["loyalty"] += 1

    bus.subscribe("saga.#", counter("analytics"), name="analytics")
    bus.subscribe("saga.completed", counter("email"), name="email")
    bus.subscribe("saga.completed", loyalty, name="loyalty")
    story.counters["bus_figures"] = lambda: bus_summary(bus)
    return bus


def bus_summary(bus: EventBus) -> dict[str, Any]:
    metrics = bus.metrics()
    return {
        "published": bus.published,
        "delivered": sum(m.delivered for m in metrics.values()),
        "dead_lettered": sum(m.dead_lettered for m in metrics.values()),
        "retried": sum(m.retried for m in metrics.values()),
        "backlog": sum(m.backlog for m in metrics.values()),
    }


def scripted_faults(rng: random.Random) -> dict[str, Any]:
    """One checkout's faults, drawn from its own rng: declined cards, flaky steps, a stuck refund.

    About a tenth have a declined card (compensated), 6% a step that fails once
    or twice (retried, then completed), 3% a shipping refusal whose refund keeps
    failing (compensation failed, until the operator retries it).
    """
    roll = rng.random()
    if roll < 0.10:
        return {"process_payment": {"do": {"kind": "reject"}}}
    if roll < 0.16:
        step = rng.choice([s.name for s in CHECKOUT.steps])
        return {step: {"do": {"kind": "error", "times": rng.randint(1, 2)}}}
    if roll < 0.19:
        return {"schedule_shipping": {"do": {"kind": "reject"}},
                "process_payment": {"undo": {"kind": "error", "times": 5}}}
    return {}


def checkout_order(story: Story, n: int) -> tuple[str, dict[str, Any]]:
    """Checkout `n` of the story: its saga id and data, a function of the seed and `n` alone."""
    rng = story.rng_for(f"order:{n}")
    data: dict[str, Any] = {"amount": rng.randint(5, 300), "quantity": rng.randint(1, 3)}
    faults = scripted_faults(rng)
    if faults:
        data["faults"] = faults
    return f"order-{story.config.seed}-{n}", data


class SagaOutcomes:
    """Each saga's latest outcome, by id: a retried saga moves, it is not counted twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, str] = {}
        self.started = 0

    def record(self, saga_id: str, status: str) -> None:
        with self._lock:
            self._latest[saga_id] = status

    def counts(self) -> dict[str, int]:
        """`started`, and how many sagas are in each final status now."""
        with self._lock:
            statuses = list(self._latest.values())
            started = self.started
        found = {status: statuses.count(status) for status in set(statuses)}
        return {"started": started} | found


def run_checkouts(system: ActorSystem, story: Story, ledger: CheckoutLedger,
                  bus: EventBus | None, *, seconds: float, rate: float) -> dict[str, Any]:
    """Start `rate * seconds` checkouts, paced at `rate` per second; settle them; check the books.

    The checkouts (ids, amounts, faults) depend only on the seed, so the same
    seed ends the same sagas the same way; the pacing only spreads them in time.
    """
    log = story.saga_log()
    outcomes = SagaOutcomes()
    story.counters["saga_outcomes"] = outcomes

    def finished(saga_id: str) -> None:
        saga = log.get(saga_id)
        if saga is not None:
            outcomes.record(saga_id, str(saga.status))

    sagas = Sagas.start(system, [DEMO_CHECKOUT], log, bus=bus, on_finished=finished,
                        rng=story.rng_for("sagas"))
    ids: list[str] = []
    interval = 1.0 / rate
    start = time.monotonic()
    for n in range(max(1, round(rate * seconds))):
        saga_id, data = checkout_order(story, n)
        ids.append(sagas.start_saga("checkout", data, saga_id=saga_id))
        outcomes.started = len(ids)
        # Pacing the offered load (not waiting for anything): checkout n starts at n/rate.
        time.sleep(max(0.0, start + (n + 1) * interval - time.monotonic()))
    final = sagas.wait_all(ids, timeout=60)
    stuck = [s.id for s in final if s.status is SagaStatus.COMPENSATION_FAILED]
    for saga_id in stuck:  # the operator's turn: the scripted refund failures have run out
        sagas.retry(saga_id)
    settled = {s.id: s for s in final}
    settled.update((s.id, s) for s in sagas.wait_all(stuck, timeout=60))
    books = check_books(ledger, settled.values())
    outcome = {str(status): 0 for status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED,
                                             SagaStatus.COMPENSATION_FAILED)}
    for saga in final:
        outcome[str(saga.status)] += 1
    return {**outcome, "started": len(ids), "stuck_retried_by_operator": len(stuck),
            "invariants_ok": books.ok, "problems": books.problems[:5],
            "charged": books.charged, "refunded": books.refunded,
            "completed_amount": books.completed_amount}
