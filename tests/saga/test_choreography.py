"""Choreographed sagas: the checkout run by events on the bus, no coordinator.

The property test draws fault schedules with the orchestrated saga's strategy
(tests/saga/test_saga_properties.py) and runs every drawn batch against BOTH
styles, each on its own services and ledger: every saga ends, the stuck ones
end compensated after an operator's retry, and the books balance in both.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from actors import ConfigError, StanchionError
from actors.backends import MemorySagaLog
from actors.bus import EventBus
from actors.saga import ENDS, Choreography, Saga, Sagas, SagaStatus
from actors.supervision import ActorSystem
from examples.shop import CheckoutLedger, check_books, checkout_services
from tests.conftest import named
from tests.hypothesis_profiles import examples
from tests.saga.saga_helpers import order
from tests.saga.test_saga_properties import _definition, saga_data


@contextlib.contextmanager
def choreographed() -> Iterator[tuple[Choreography, CheckoutLedger]]:
    ledger = CheckoutLedger()
    with ActorSystem(checkout_services(ledger), rng=random.Random(7)) as system:
        bus = EventBus.start(system)
        yield Choreography.start(system, bus, _definition(), rng=random.Random(3)), ledger


@contextlib.contextmanager
def orchestrated() -> Iterator[tuple[Sagas, CheckoutLedger]]:
    ledger = CheckoutLedger()
    with ActorSystem(checkout_services(ledger), rng=random.Random(7)) as system:
        yield Sagas.start(system, [_definition()], MemorySagaLog()), ledger


def settle_choreographed(flow: Choreography, ids: list[str]) -> list[Saga]:
    final = flow.wait_all(ids, timeout=30)
    for saga in final:
        for _ in range(5):
            current = flow.status(saga.id)
            assert current is not None
            if current.status is not SagaStatus.COMPENSATION_FAILED:
                break
            assert flow.retry(saga.id)
            reopened = flow.wait(saga.id, timeout=30)
            assert reopened is not None
    return [flow.status(saga_id) for saga_id in ids]  # type: ignore[misc]


def settle_orchestrated(sagas: Sagas, ids: list[str]) -> list[Saga]:
    sagas.wait_all(ids, timeout=30)
    for saga_id in ids:
        for _ in range(5):
            if sagas.status(saga_id).status is not SagaStatus.COMPENSATION_FAILED:  # type: ignore[union-attr]
                break
            assert sagas.retry(saga_id)
            sagas.wait(saga_id, timeout=30)
    return [sagas.status(saga_id) for saga_id in ids]  # type: ignore[misc]


def test_the_same_failure_schedules_balance_the_books_in_both_styles() -> None:
    ended: dict[str, dict[str, Saga]] = {"orchestrated": {}, "choreographed": {}}
    outcomes: dict[str, Counter[str]] = {"orchestrated": Counter(), "choreographed": Counter()}
    with orchestrated() as (sagas, orch_ledger), choreographed() as (flow, chor_ledger):

        @settings(max_examples=examples(60), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(saga_data(), min_size=1, max_size=4))
        def check(batch: list[dict[str, Any]]) -> None:
            orch_ids = [sagas.start_saga_async("checkout", data).get(timeout=10)
                        for data in batch]
            chor_ids = [flow.start_saga(data) for data in batch]
            orch_first = sagas.wait_all(orch_ids, timeout=30)
            chor_first = flow.wait_all(chor_ids, timeout=30)
            for style, first in (("orchestrated", orch_first), ("choreographed", chor_first)):
                assert all(saga.status in ENDS for saga in first)
                outcomes[style].update(str(saga.status) for saga in first)
            for style, final, ledger in (
                    ("orchestrated", settle_orchestrated(sagas, orch_ids), orch_ledger),
                    ("choreographed", settle_choreographed(flow, chor_ids), chor_ledger)):
                assert all(saga.status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED)
                           for saga in final), style
                ended[style].update((saga.id, saga) for saga in final)
                books = check_books(ledger, ended[style].values())
                assert books.ok, (style, books.problems)
                assert books.outstanding_amount == books.outstanding_quantity == 0
                assert ledger.stock() == ledger.initial_stock - books.completed_quantity

        check()
    for style, seen in outcomes.items():
        assert set(seen) == {"completed", "compensated", "compensation_failed"}, (style, seen)


def test_a_timeline_is_assembled_from_the_correlation_id(events: Any) -> None:
    with choreographed() as (flow, ledger):
        saga_id = flow.start_saga(order(amount=30, process_payment={"do": {"kind": "reject"}}),
                                  saga_id="o-42")
        saga = flow.wait(saga_id, timeout=10)
        timeline = flow.timeline(saga_id)
        metrics = flow.metrics()
    assert saga is not None
    assert saga.status is SagaStatus.COMPENSATED
    assert [entry.event for entry in timeline] == [
        "checkout.started", "checkout.create_order.done", "checkout.reserve_inventory.done",
        "checkout.process_payment.failed", "checkout.reserve_inventory.undone",
        "checkout.create_order.undone"]
    assert check_books(ledger, [saga]).ok
    assert (metrics.started, metrics.compensated) == (1, 1)
    failed = named(events, "choreography.step_failed")
    assert failed[-1]["saga_id"] == "o-42"
    assert named(events, "choreography.compensated")[0]["saga_id"] == "o-42"


def test_start_refuses_bad_arguments() -> None:
    with ActorSystem(checkout_services(CheckoutLedger())) as system:
        bus = EventBus.start(system)
        with pytest.raises(ConfigError):
            Choreography.start(system, bus, "checkout")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            Choreography.start(system, bus, _definition(), prefix="not a prefix")
        flow = Choreography.start(system, bus, _definition())
        with pytest.raises(ConfigError):
            flow.start_saga(["not", "a", "mapping"])  # type: ignore[arg-type]
        assert flow.retry("unknown") is False


def test_start_saga_after_the_system_stopped_raises_a_typed_error() -> None:
    with choreographed() as (flow, _):
        pass
    with pytest.raises(StanchionError):
        flow.start_saga(order())
