"""The saga state machine against simulated idempotent services, under random failure schedules."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings, strategies as st

from actors.retry import RetryPolicy
from actors.saga import (
    FailureReason,
    Finished,
    RetryLater,
    Saga,
    SagaDefinition,
    SagaMachine,
    SagaStatus,
    SagaStep,
    SendCommand,
    StepStatus,
    Stuck,
)
from tests.hypothesis_profiles import examples

FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, jitter="none")
UNDO = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, jitter="none")
CHECKOUT = SagaDefinition("checkout", [
    SagaStep("create_order", "orders", "create", "cancel", retry=FAST, compensation_retry=UNDO),
    SagaStep("reserve", "inventory", "reserve", "release", retry=FAST, compensation_retry=UNDO),
    SagaStep("charge", "payments", "charge", "refund", retry=FAST, compensation_retry=UNDO),
    SagaStep("ship", "shipping", "schedule", "cancel_shipment", retry=FAST,
             compensation_retry=UNDO),
    SagaStep("notify", "notifications", "send", None, retry=FAST),
])

OUTCOMES = ("ok", "error", "timeout_done", "timeout_lost", "mailbox_full", "rejected")


@dataclass
class World:
    """The services, idempotent by key, with a scripted outcome per (saga, step, attempt)."""

    stock: int = 1000
    reserved: Counter[str] = field(default_factory=Counter)
    charged: Counter[str] = field(default_factory=Counter)
    orders: set[str] = field(default_factory=set)
    shipments: set[str] = field(default_factory=set)
    seen: dict[str, Any] = field(default_factory=dict)  # idempotency key -> reply

    def apply(self, send: SendCommand) -> dict[str, Any]:
        """Do the command once per idempotency key; a repeat gets the first reply."""
        if send.idempotency_key in self.seen:
            return self.seen[send.idempotency_key]
        saga, amount = send.saga_id, send.data["amount"]
        reply: dict[str, Any] = {}
        match send.command:
            case "create":
                self.orders.add(saga)
            case "cancel":
                self.orders.discard(saga)
            case "reserve":
                self.stock -= 1
                self.reserved[saga] += 1
            case "release":  # safe for a reservation that never happened
                if self.reserved[saga]:
                    self.stock += 1
                    self.reserved[saga] -= 1
            case "charge":
                self.charged[saga] += amount
                reply = {"payment_id": f"p-{saga}"}
            case "refund":
                self.charged[saga] -= min(amount, self.charged[saga])
            case "schedule":
                self.shipments.add(saga)
            case "cancel_shipment":
                self.shipments.discard(saga)
        self.seen[send.idempotency_key] = reply
        return reply


def run(machine: SagaMachine, world: World, saga_id: str, amount: int,
        forward: list[str], backward: list[bool]) -> Saga:
    """Drive one saga to an end; outcomes are drawn from the scripts, then "ok"."""
    saga, actions = machine.start(saga_id, {"amount": amount})
    forward, backward = list(forward), list(backward)
    for _ in range(200):
        if not actions:
            break
        action = actions.pop(0)
        if isinstance(action, Finished | Stuck):
            continue
        if isinstance(action, RetryLater):
            actions += machine.retry_due(saga, action.step)
            continue
        assert isinstance(action, SendCommand)
        if action.compensate:
            if backward and not backward.pop(0):
                actions += machine.compensation_failed(saga, action.step, "refund API down")
            else:
                world.apply(action)
                actions += machine.compensation_succeeded(saga, action.step)
            continue
        outcome = forward.pop(0) if forward else "ok"
        if outcome == "ok":
            actions += machine.step_succeeded(saga, action.step, world.apply(action))
        elif outcome == "timeout_done":
            world.apply(action)  # it happened, but the reply was lost
            actions += machine.step_failed(saga, action.step, FailureReason.TIMEOUT, "timeout")
        elif outcome == "timeout_lost":
            actions += machine.step_failed(saga, action.step, FailureReason.TIMEOUT, "timeout")
        else:
            actions += machine.step_failed(saga, action.step, FailureReason(outcome), outcome)
    return saga


@settings(max_examples=examples(250), deadline=None)
@given(
    sagas=st.lists(
        st.tuples(st.integers(min_value=1, max_value=500),
                  st.lists(st.sampled_from(OUTCOMES), max_size=12),
                  st.lists(st.booleans(), max_size=8)),
        min_size=1, max_size=15),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_every_saga_ends_and_the_books_balance(sagas, seed):
    world = World()
    machine = SagaMachine(CHECKOUT, rng=random.Random(seed), clock=lambda: 0.0)
    results = []
    for n, (amount, forward, backward) in enumerate(sagas):
        saga = run(machine, world, f"s{n}", amount, forward, backward)
        assert saga.status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED,
                               SagaStatus.COMPENSATION_FAILED)
        assert saga.stuck == (saga.status is SagaStatus.COMPENSATION_FAILED)
        results.append((saga, amount))

    # An operator retries the stuck ones once the failing service is back.
    for saga, _ in results:
        if saga.stuck:
            actions = machine.operator_retry(saga)
            while actions:
                action = actions.pop(0)
                if isinstance(action, SendCommand):
                    world.apply(action)
                    actions += machine.compensation_succeeded(saga, action.step)
            assert saga.status is SagaStatus.COMPENSATED

    completed = {saga.id: amount for saga, amount in results
                 if saga.status is SagaStatus.COMPLETED}
    # Stock is conserved: only completed orders hold a unit.
    assert world.stock + sum(world.reserved.values()) == 1000
    assert {s for s, units in world.reserved.items() if units} == set(completed)
    # Money charged minus refunded equals the total of completed orders.
    assert sum(world.charged.values()) == sum(completed.values())
    assert world.orders == set(completed)
    assert world.shipments == set(completed)


def test_a_timed_out_step_is_compensated_too():
    world = World()
    machine = SagaMachine(CHECKOUT, clock=lambda: 0.0)
    saga = run(machine, world, "s1", 10, ["ok", "ok", "timeout_done", "timeout_done",
                                          "timeout_done"], [])
    assert saga.status is SagaStatus.COMPENSATED
    assert saga.record("charge").status is StepStatus.COMPENSATED  # it may have happened
    assert world.charged["s1"] == 0


def test_rejected_is_not_retried_and_mailbox_full_is():
    machine = SagaMachine(CHECKOUT, clock=lambda: 0.0)
    saga, _ = machine.start("s1", {"amount": 1})
    assert isinstance(machine.step_failed(saga, "create_order", FailureReason.MAILBOX_FULL,
                                          "full")[0], RetryLater)
    machine.retry_due(saga, "create_order")
    actions = machine.step_failed(saga, "create_order", FailureReason.REJECTED, "no")
    assert actions == [Finished("s1", SagaStatus.COMPENSATED)]  # nothing had happened
    assert saga.record("create_order").status is StepStatus.FAILED


def test_late_and_duplicate_replies_are_ignored():
    machine = SagaMachine(CHECKOUT, clock=lambda: 0.0)
    saga, _ = machine.start("s1", {"amount": 1})
    machine.step_succeeded(saga, "create_order", None)
    assert machine.step_succeeded(saga, "create_order", None) == []
    assert machine.compensation_succeeded(saga, "create_order") == []


def test_recovery_resends_the_unanswered_step_with_the_same_key():
    machine = SagaMachine(CHECKOUT, clock=lambda: 0.0)
    saga, [first] = machine.start("s1", {"amount": 5})
    machine.step_succeeded(saga, "create_order", None)
    restored = Saga.from_json(saga.to_json())  # as loaded from the log after a crash
    [again] = machine.recover(restored)
    assert (again.step, again.idempotency_key) == ("reserve", "s1:reserve:do")
    assert first.idempotency_key == "s1:create_order:do"


def test_saga_state_round_trips_through_json():
    machine = SagaMachine(CHECKOUT, clock=lambda: 3.5)
    saga, _ = machine.start("s1", {"amount": 5, "sku": "a"})
    machine.step_failed(saga, "create_order", FailureReason.TIMEOUT, "slow")
    assert Saga.from_json(saga.to_json()) == saga
