"""Checkouts as sagas, some failing and compensating; lifecycle events on the bus.

Every other checkout is orchestrated (a `Sagas` coordinator sends the
commands), the others choreographed (`Choreography`: the services react to
each other's events on the bus); both run on the same services and are
checked against the same books. The services announce each effect through
their transactional outbox; a relay publishes it to the bus, where a consumer
dedupes it by event id (`OutboxAudit`).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from actors.bus import EventBus, EventBusConfig
from actors.outbox import Deduplicator, OutboxRelay, to_bus
from actors.retry import RetryPolicy
from actors.saga import Choreography, Saga, Sagas, SagaStatus
from actors.supervision import ActorSystem
from examples.peaksale._story import Story
from examples.shop import CHECKOUT, CheckoutLedger, check_books, checkout_definition

#: The demo's checkout: short timeouts and few compensation attempts, so a
#: compensation that keeps failing is flagged (and retried by the operator) within the story.
DEMO_CHECKOUT = checkout_definition(
    timeout=1.0, retry=RetryPolicy(max_attempts=3, base_delay=0.02, max_delay=0.2),
    compensation_retry=RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.2))

#: Event prefix of the choreographed checkout: `choreo.checkout.started`,
#: `choreo.checkout.process_payment.done`... (apart from the outbox's `checkout.*.*`).
CHOREOGRAPHY_PREFIX = "choreo.checkout"


def start_bus(system: ActorSystem, story: Story) -> EventBus:
    """The bus with the demo's subscribers: analytics, email, and a flaky loyalty service."""
    bus = EventBus.start(system, EventBusConfig(
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)),
        rng=story.rng_for("bus"))
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
    # A checkout completes with `saga.completed` when orchestrated, with its last
    # step's `.done` when choreographed: email and loyalty hear both.
    for completed, suffix in (("saga.completed", ""), (
            f"{CHOREOGRAPHY_PREFIX}.{CHECKOUT.steps[-1].name}.done", "-choreographed")):
        bus.subscribe(completed, counter("email"), name=f"email{suffix}")
        bus.subscribe(completed, loyalty, name=f"loyalty{suffix}")
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


def choreographed(n: int) -> bool:
    """Whether checkout `n` runs as a choreography (every other one) rather than orchestrated."""
    return n % 2 == 1


class OutboxAudit:
    """The checkout services' announcements as one bus consumer saw them, each event id once.

    `start_outbox` starts the relay and subscribes `handle` (wrapped in a
    `Deduplicator`); `settle` waits until every committed effect has been
    announced and compares the two sets.
    """

    def __init__(self, ledger: CheckoutLedger, relay: OutboxRelay) -> None:
        self.ledger = ledger
        self.relay = relay
        self.dedupe = Deduplicator()
        self._cond = threading.Condition()
        self._announced: set[str] = set()

    def handle(self, envelope: Any) -> None:
        with self._cond:
            self._announced.add(str(envelope.get("event_id")))
            self._cond.notify_all()

    def settle(self, timeout: float = 20.0) -> dict[str, Any]:
        """Committed effects vs announced events, once the relay and the consumer caught up."""
        committed = {effect.key for effect in self.ledger.effects()}
        self.relay.wait_until_empty(timeout)
        with self._cond:
            self._cond.wait_for(lambda: committed <= self._announced, timeout)
            announced = set(self._announced)
        return {"committed": len(committed), "announced": len(announced),
                "duplicates_dropped": self.dedupe.duplicates,
                "missing": len(committed - announced),
                "not_committed": len(announced - committed),
                "relay_published": self.relay.metrics().published}


def start_outbox(system: ActorSystem, story: Story, ledger: CheckoutLedger,
                 bus: EventBus) -> OutboxAudit | None:
    """Relay the ledger's outbox to the bus and audit what arrives (None: no outbox)."""
    if ledger.outbox is None:
        return None
    relay = OutboxRelay.start(system, ledger.outbox, to_bus(bus), rng=story.rng_for("outbox"))
    audit = OutboxAudit(ledger, relay)
    bus.subscribe("checkout.*.*", audit.dedupe.wrap(audit.handle), name="outbox-audit")
    story.counters["outbox_audit"] = audit
    return audit


class SagaOutcomes:
    """Each saga's latest outcome, by id: a retried saga moves, it is not counted twice.

    Choreographed sagas are counted from their tracker (`choreography`), as it
    assembles them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, str] = {}
        self.started = 0
        self.choreography: Choreography | None = None

    def record(self, saga_id: str, status: str) -> None:
        with self._lock:
            self._latest[saga_id] = status

    def counts(self) -> dict[str, int]:
        """`started`, and how many sagas are in each final status now."""
        with self._lock:
            statuses = list(self._latest.values())
            started = self.started
        found = {status: statuses.count(status) for status in set(statuses)}
        if self.choreography is not None:
            metrics = self.choreography.metrics()
            for status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED,
                           SagaStatus.COMPENSATION_FAILED):
                found[str(status)] = found.get(str(status), 0) + getattr(metrics, str(status))
        return {"started": started} | found


def run_checkouts(system: ActorSystem, story: Story, ledger: CheckoutLedger,
                  bus: EventBus | None, *, seconds: float, rate: float) -> dict[str, Any]:
    """Start `rate * seconds` checkouts, paced at `rate` per second; settle them; check the books.

    With a bus, every other checkout is choreographed over it (`choreographed`);
    without one, all are orchestrated. The checkouts (ids, amounts, faults,
    style) depend only on the seed, so the same seed ends the same sagas the
    same way; the pacing only spreads them in time.
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
    story.expose(sagas)
    choreography = None
    if bus is not None:
        choreography = Choreography.start(system, bus, DEMO_CHECKOUT, prefix=CHOREOGRAPHY_PREFIX,
                                          rng=story.rng_for("choreography"))
        outcomes.choreography = choreography
    ids: list[str] = []
    choreographed_ids: list[str] = []
    interval = 1.0 / rate
    start = time.monotonic()
    for n in range(max(1, round(rate * seconds))):
        saga_id, data = checkout_order(story, n)
        if choreography is not None and choreographed(n):
            choreographed_ids.append(choreography.start_saga(data, saga_id=saga_id))
        else:
            ids.append(sagas.start_saga("checkout", data, saga_id=saga_id))
        outcomes.started = len(ids) + len(choreographed_ids)
        # Pacing the offered load (not waiting for anything): checkout n starts at n/rate.
        time.sleep(max(0.0, start + (n + 1) * interval - time.monotonic()))
    final = sagas.wait_all(ids, timeout=60)
    final_choreographed = (choreography.wait_all(choreographed_ids, timeout=60)
                           if choreography is not None else [])
    outcome = {str(status): 0 for status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED,
                                             SagaStatus.COMPENSATION_FAILED)}
    for saga in final + final_choreographed:  # before the operator's retries move them
        outcome[str(saga.status)] += 1
    settled = settle_stuck(sagas, choreography, final, final_choreographed)
    books = check_books(ledger, settled.values())
    stuck = outcome[str(SagaStatus.COMPENSATION_FAILED)]
    return {**outcome, "started": len(ids) + len(choreographed_ids),
            "orchestrated": len(ids), "choreographed": len(choreographed_ids),
            "stuck_retried_by_operator": stuck,
            "invariants_ok": books.ok, "problems": books.problems[:5],
            "charged": books.charged, "refunded": books.refunded,
            "completed_amount": books.completed_amount}


def settle_stuck(sagas: Sagas, choreography: Choreography | None, final: list[Saga],
                 final_choreographed: list[Saga]) -> dict[str, Saga]:
    """The operator's turn: retry every stuck saga (its scripted refund failures have run out).

    Returns every saga by id, as it ended after the retries.
    """
    stuck = [s.id for s in final if s.status is SagaStatus.COMPENSATION_FAILED]
    # Listed before any retry: a choreographed saga's status moves when it is retried.
    stuck_choreographed = [s.id for s in final_choreographed
                           if s.status is SagaStatus.COMPENSATION_FAILED]
    settled = {s.id: s for s in final + final_choreographed}
    for saga_id in stuck:
        sagas.retry(saga_id)
    settled.update((s.id, s) for s in sagas.wait_all(stuck, timeout=60))
    if choreography is not None:
        for saga_id in stuck_choreographed:
            choreography.retry(saga_id)
        settled.update((s.id, s) for s in choreography.wait_all(stuck_choreographed,
                                                               timeout=60))
    return settled
