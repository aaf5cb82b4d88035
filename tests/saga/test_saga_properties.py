"""Property: whatever fails (steps, timeouts, compensations), every saga ends
`completed`, `compensated` or `compensation_failed` (flagged), stock is conserved,
and money charged minus refunded equals the total of completed orders.

The coordinator and the four checkout services really run; hypothesis picks the
fault schedule of each saga in a batch that runs concurrently.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from actors.backends import MemorySagaLog
from actors.retry import RetryPolicy
from actors.saga import ENDS, SagaDefinition, SagaStatus
from examples.shop import CHECKOUT, check_books, checkout_definition
from tests.hypothesis_profiles import examples
from tests.saga.saga_helpers import order, running_shop

STEP_NAMES = [step.name for step in CHECKOUT.steps]

forward_fault = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.builds(lambda n: {"kind": "error", "times": n}, st.integers(1, 4)),
    st.just({"kind": "reject"}),
    st.builds(lambda applied: {"kind": "timeout", "seconds": 0.05, "applied": applied},
              st.booleans()),
)
undo_fault = st.one_of(
    st.none(),
    st.none(),
    st.builds(lambda n: {"kind": "error", "times": n}, st.integers(1, 5)),
)


@st.composite
def saga_data(draw: st.DrawFn) -> dict[str, Any]:
    faults: dict[str, Any] = {}
    for name in STEP_NAMES:
        do, undo = draw(forward_fault), draw(undo_fault)
        script = {k: v for k, v in (("do", do), ("undo", undo)) if v is not None}
        if script:
            faults[name] = script
    return order(amount=draw(st.integers(1, 500)), quantity=draw(st.integers(1, 3)), **faults)


def _definition() -> SagaDefinition:
    step_retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.004, jitter="full")
    undo_retry = RetryPolicy(max_attempts=3, base_delay=0.002, max_delay=0.01, jitter="full")
    return checkout_definition(timeout=0.03, retry=step_retry, compensation_retry=undo_retry)


def test_every_saga_ends_and_the_books_balance_under_random_failures() -> None:
    log = MemorySagaLog()
    ended: dict[str, Any] = {}  # every saga so far, as it ended (ends are final)
    outcomes: Counter[str] = Counter()
    with running_shop(log, definitions=[_definition()]) as shop:

        @settings(max_examples=examples(200), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(saga_data(), min_size=1, max_size=4))
        def check(batch: list[dict[str, Any]]) -> None:
            futures = [shop.sagas.start_saga_async("checkout", data) for data in batch]
            ids = [future.get(timeout=10) for future in futures]
            final = shop.sagas.wait_all(ids, timeout=30)
            assert all(saga.status in ENDS for saga in final)
            for saga in final:
                assert saga.stuck == (saga.status is SagaStatus.COMPENSATION_FAILED)
            ended.update((saga.id, saga) for saga in final)
            outcomes.update(str(saga.status) for saga in final)
            books = check_books(shop.ledger, ended.values())
            assert books.ok, books.problems
            # An operator retries the stuck ones: the scripted failures run out,
            # and every one of them ends compensated.
            for saga in final:
                for _ in range(5):
                    if shop.sagas.status(saga.id).status is not (  # type: ignore[union-attr]
                            SagaStatus.COMPENSATION_FAILED):
                        break
                    assert shop.sagas.retry(saga.id)
                    shop.sagas.wait(saga.id, timeout=30)
                ended[saga.id] = shop.sagas.status(saga.id)
                assert ended[saga.id].status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED)
            books = check_books(shop.ledger, ended.values())
            assert books.ok, books.problems
            assert books.outstanding_amount == books.outstanding_quantity == 0
            assert shop.ledger.stock() == shop.ledger.initial_stock - books.completed_quantity

        check()
    # The schedules reached every end, so each branch above was exercised.
    assert set(outcomes) == {"completed", "compensated", "compensation_failed"}, outcomes
