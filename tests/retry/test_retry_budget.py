"""The retry budget, driven by an injected clock: ratio, floor, sliding window, threads."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, strategies as st

from actors import ConfigError
from actors.retry import RetryBudget, RetryBudgetConfig


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def budget(clock: Clock, **settings) -> RetryBudget:
    return RetryBudget(RetryBudgetConfig(**settings), clock=clock)


def spend(retry_budget: RetryBudget, times: int) -> int:
    return sum(retry_budget.try_spend_retry() for _ in range(times))


def test_retries_are_capped_at_the_ratio_of_first_attempts():
    clock = Clock()
    retry_budget = budget(clock, ratio=0.2, min_retries_per_second=0.0)
    for _ in range(100):
        retry_budget.record_attempt()
    assert spend(retry_budget, 50) == 20
    metrics = retry_budget.metrics()
    assert (metrics.attempts, metrics.retries, metrics.available) == (100, 20, 0)
    assert metrics.denied_total == 30


def test_the_floor_allows_retries_without_traffic():
    clock = Clock()
    retry_budget = budget(clock, ratio=0.2, window=10.0, min_retries_per_second=0.5)
    assert spend(retry_budget, 10) == 5  # 0.5/s over a 10 s window
    clock.now = 10.0  # the spent retries slide out
    assert spend(retry_budget, 10) == 5


def test_the_window_slides_bucket_by_bucket():
    clock = Clock()
    retry_budget = budget(clock, ratio=1.0, window=10.0, buckets=10,
                          min_retries_per_second=0.0)
    for _ in range(10):
        retry_budget.record_attempt()  # in bucket [0, 1)
    clock.now = 5.0
    for _ in range(10):
        retry_budget.record_attempt()  # in bucket [5, 6)
    assert retry_budget.metrics().available == 20
    clock.now = 10.0  # the first bucket has slid out
    assert retry_budget.metrics().attempts == 10
    assert spend(retry_budget, 20) == 10
    clock.now = 20.0  # everything has slid out
    metrics = retry_budget.metrics()
    assert (metrics.attempts, metrics.retries, metrics.available) == (0, 0, 0)
    assert (metrics.attempts_total, metrics.retries_total) == (20, 10)


def test_a_clock_that_jumps_far_ahead_or_back_clears_the_window():
    clock = Clock(100.0)
    retry_budget = budget(clock, ratio=1.0, min_retries_per_second=0.0)
    retry_budget.record_attempt()
    clock.now = 1e9
    assert retry_budget.metrics().attempts == 0
    retry_budget.record_attempt()
    clock.now = 50.0
    assert retry_budget.metrics().attempts == 0


def test_threads_never_overspend():
    clock = Clock()
    retry_budget = budget(clock, ratio=0.25, min_retries_per_second=0.0)
    for _ in range(400):
        retry_budget.record_attempt()
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        got = spend(retry_budget, 100)
        with lock:
            granted.append(got)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(granted) == 100


@given(st.lists(st.tuples(st.sampled_from(["attempt", "retry"]),
                          st.floats(min_value=0, max_value=3)), max_size=200))
def test_a_granted_retry_never_takes_the_window_past_ratio_times_attempts_plus_floor(steps):
    clock = Clock()
    config = RetryBudgetConfig(ratio=0.2, window=10.0, min_retries_per_second=0.3, buckets=10)
    retry_budget = RetryBudget(config, clock=clock)
    for kind, advance in steps:
        clock.now += advance
        if kind == "attempt":
            retry_budget.record_attempt()
        elif retry_budget.try_spend_retry():
            metrics = retry_budget.metrics()
            assert metrics.retries <= config.ratio * metrics.attempts + 0.3 * 10.0 + 1e-9


@pytest.mark.parametrize(("settings", "field"), [
    ({"ratio": -0.1}, "ratio"),
    ({"ratio": float("nan")}, "ratio"),
    ({"window": 0}, "window"),
    ({"min_retries_per_second": -1}, "min_retries_per_second"),
    ({"buckets": 0}, "buckets"),
    ({"buckets": True}, "buckets"),
])
def test_bad_settings_raise_config_errors(settings, field):
    with pytest.raises(ConfigError, match=field):
        RetryBudgetConfig(**settings)


def test_the_config_must_be_a_retry_budget_config():
    with pytest.raises(ConfigError, match="RetryBudgetConfig"):
        RetryBudget({"ratio": 0.2})  # type: ignore[arg-type]
