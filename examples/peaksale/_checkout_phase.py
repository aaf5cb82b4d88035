"""Checkouts as sagas, some failing and compensating; lifecycle events on the bus."""

from __future__ import annotations

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
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)))
    story.expose(bus)
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


def scripted_faults(story: Story) -> dict[str, Any]:
    """A seeded share of checkouts fail: declined cards, flaky steps, a stuck refund."""
    rng = story.rng
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


def run_checkouts(system: ActorSystem, story: Story, ledger: CheckoutLedger,
                  bus: EventBus | None, *, seconds: float, rate: float) -> dict[str, Any]:
    """Start checkouts at `rate` per second for `seconds`; settle them; check the books."""
    log = story.saga_log()
    outcomes: dict[str, int] = {}
    story.counters["saga_outcomes"] = outcomes

    def finished(saga_id: str) -> None:
        saga = log.get(saga_id)
        if saga is not None:
            outcomes[str(saga.status)] = outcomes.get(str(saga.status), 0) + 1

    sagas = Sagas.start(system, [DEMO_CHECKOUT], log, bus=bus, on_finished=finished)
    story.expose(sagas)
    ids: list[str] = []
    interval = 1.0 / rate
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        data: dict[str, Any] = {"amount": story.rng.randint(5, 300),
                                "quantity": story.rng.randint(1, 3)}
        faults = scripted_faults(story)
        if faults:
            data["faults"] = faults
        ids.append(sagas.start_saga("checkout", data, saga_id=f"order-{story.config.seed}-{n}"))
        n += 1
        time.sleep(interval)  # pacing the offered load, not waiting for anything
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
