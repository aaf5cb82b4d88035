"""The token bucket: refill arithmetic, burst cap, refusals, and no over-granting under threads."""

from __future__ import annotations

import threading

import pytest

from actors import ConfigError
from actors.ratelimit import RateLimitConfig, RateLimited, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tokens_refill_at_the_rate_and_never_beyond_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(5, 3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.2  # one token back
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    clock.now += 60  # a long quiet spell saves at most `burst`
    assert bucket.available() == 3
    assert bucket.try_acquire(3)
    assert (bucket.granted, bucket.refused) == (5, 2)


def test_wait_time_says_when_to_come_back_and_a_clock_going_back_grants_nothing() -> None:
    clock = Clock()
    bucket = TokenBucket(4, 2, clock=clock)
    assert bucket.wait_time(2) == 0
    assert bucket.try_acquire(2)
    assert bucket.wait_time() == pytest.approx(0.25)
    assert bucket.wait_time(2) == pytest.approx(0.5)
    clock.now -= 10
    assert not bucket.try_acquire()


def test_acquire_or_raise_says_which_limiter_and_when() -> None:
    clock = Clock()
    bucket = TokenBucket(2, 1, name="checkout", clock=clock)
    bucket.acquire_or_raise()
    with pytest.raises(RateLimited, match=r"'checkout' reached: retry after 0.500s") as caught:
        bucket.acquire_or_raise()
    assert caught.value.retry_after == pytest.approx(0.5)
    assert caught.value.limiter == "checkout"
    assert (bucket.granted, bucket.refused) == (1, 1)
    clock.now += 0.5
    bucket.acquire_or_raise()  # exactly when it said


@pytest.mark.parametrize(("rate", "burst", "field"), [
    (0, 1, "rate_per_second"), (-1, 1, "rate_per_second"), (float("inf"), 1, "rate_per_second"),
    (1, 0, "burst"), (1, 2.5, "burst"), (True, 1, "rate_per_second")])
def test_bad_settings_are_refused(rate: float, burst: int, field: str) -> None:
    with pytest.raises(ConfigError, match=f"{field}="):
        TokenBucket(rate, burst)


@pytest.mark.parametrize("name", ["", "  ", None])
def test_a_limiter_needs_a_name(name: str) -> None:
    with pytest.raises(ConfigError, match=r"name=.* is invalid: expected a non-empty string"):
        TokenBucket(1, 1, name=name)


def test_the_settings_are_a_frozen_config() -> None:
    clock = Clock()
    config = RateLimitConfig(2.5, 4, name="sms")
    bucket = TokenBucket.from_config(config, clock=clock)
    assert (bucket.rate, bucket.burst, bucket.name, bucket.config) == (2.5, 4, "sms", config)
    with pytest.raises(AttributeError):
        config.burst = 5  # type: ignore[misc]


def test_asking_for_more_than_the_burst_is_refused_clearly() -> None:
    bucket = TokenBucket(1, 2)
    with pytest.raises(ConfigError, match=r"n=3 is invalid: expected an integer from 1 to burst"):
        bucket.try_acquire(3)
    for bad in (0, True, 1.0):
        with pytest.raises(ConfigError, match=r"n=.* is invalid"):
            bucket.wait_time(bad)  # type: ignore[arg-type]


def test_concurrent_callers_never_get_more_than_the_tokens_there() -> None:
    clock = Clock()  # frozen: no refill during the race
    bucket = TokenBucket(1, 50, clock=clock)
    grants: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def caller() -> None:
        start.wait()
        mine = [bucket.try_acquire() for _ in range(20)]
        with lock:
            grants.extend(mine)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(grants) == 320
    assert sum(grants) == 50, f"{sum(grants)} grants from a bucket of 50"
    assert (bucket.granted, bucket.refused) == (50, 270)


def test_fractional_refill_adds_up_without_drift() -> None:
    clock = Clock()
    bucket = TokenBucket(3, 3, clock=clock)
    assert bucket.try_acquire(3)
    for _ in range(9):  # nine steps of 1/27 s: a third of a second, one token back
        clock.now += 1 / 27
    assert bucket.available() == pytest.approx(1.0)
    assert bucket.try_acquire()
    assert bucket.available() == pytest.approx(0.0, abs=1e-9)
