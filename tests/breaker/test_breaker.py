"""The circuit breaker's state machine, driven by an injected clock and rng (no sleeps)."""

from __future__ import annotations

import contextlib
import pickle
import random
import threading
from typing import Any

import pytest

from actors import CircuitOpen, ConfigError, StanchionError
from actors.breaker import (
    BreakerConfig,
    BreakerMetrics,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    CountWindow,
    TimeWindow,
)
from tests.conftest import named


class Clock:
    """A settable monotonic clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FixedRandom(random.Random):
    """An rng whose `random()` always returns `value`, to make jitter exact."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


class HttpError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def make(clock: Clock | None = None, rng: random.Random | None = None,
         **config: Any) -> tuple[CircuitBreaker, Clock, list[BreakerTransition]]:
    config.setdefault("window_size", 10)
    config.setdefault("minimum_calls", 4)
    config.setdefault("wait_jitter", 0.0)
    clock = clock or Clock()
    breaker = CircuitBreaker("sms", BreakerConfig(**config), clock=clock,
                             rng=rng or random.Random(7))
    seen: list[BreakerTransition] = []
    breaker.add_listener(seen.append)
    return breaker, clock, seen


def succeed(breaker: CircuitBreaker, times: int = 1, duration: float = 0.01) -> None:
    for _ in range(times):
        breaker.on_success(breaker.acquire(), duration)


def fail(breaker: CircuitBreaker, times: int = 1, exc: BaseException | None = None) -> None:
    for _ in range(times):
        breaker.on_error(breaker.acquire(), 0.01, exc or ConnectionError("refused"))


def trip(breaker: CircuitBreaker) -> None:
    while breaker.state is BreakerState.CLOSED:
        fail(breaker)


def refused(breaker: CircuitBreaker) -> CircuitOpen:
    with pytest.raises(CircuitOpen) as info:
        breaker.acquire()
    return info.value


# -- closed -> open -------------------------------------------------------------------------


def test_opens_when_the_failure_rate_reaches_the_threshold():
    breaker, _, seen = make(failure_rate_threshold=50)
    succeed(breaker, 2)
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED  # 3 calls: below minimum_calls
    fail(breaker)  # 2 of 4 failed: 50% >= 50%
    assert breaker.state is BreakerState.OPEN
    [event] = seen
    assert (event.event, event.from_state, event.to_state) == ("breaker.opened", "closed", "open")
    assert (event.failure_rate, event.slow_rate, event.calls) == (50.0, 0.0, 4)
    assert event.wait == 5.0
    assert "failure rate 50.0% >= 50%" in event.reason


def test_stays_closed_just_under_the_failure_threshold():
    breaker, _, _ = make(failure_rate_threshold=50, minimum_calls=5)
    succeed(breaker, 3)
    fail(breaker, 2)  # 40%
    assert breaker.state is BreakerState.CLOSED


def test_opens_when_the_slow_call_rate_reaches_the_threshold():
    breaker, _, seen = make(slow_call_duration=1.0, slow_call_rate_threshold=75)
    succeed(breaker, 1, duration=0.5)
    succeed(breaker, 1, duration=1.0)  # exactly the threshold: not slow
    succeed(breaker, 2, duration=1.5)
    assert breaker.state is BreakerState.CLOSED  # 2 slow of 4: 50%
    succeed(breaker, 1, duration=3.0)  # 3 of 5: 60%
    succeed(breaker, 1, duration=3.0)  # 4 of 6: 66%
    assert breaker.state is BreakerState.CLOSED
    succeed(breaker, 2, duration=3.0)  # 6 of 8: 75%
    assert breaker.state is BreakerState.OPEN
    assert seen[-1].slow_rate == 75.0
    assert seen[-1].failure_rate == 0.0
    assert "slow-call rate 75.0% >= 75%" in seen[-1].reason


def test_a_slow_failure_counts_as_failed_and_slow():
    breaker, _, _ = make(slow_call_duration=1.0, minimum_calls=10)
    breaker.on_error(breaker.acquire(), 5.0, TimeoutError())
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failed, metrics.slow) == (1, 1, 1)


def test_minimum_calls_are_respected_before_judging():
    breaker, _, _ = make(minimum_calls=6, window_size=10)
    fail(breaker, 5)  # 100% failed, but only 5 calls
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert breaker.state is BreakerState.OPEN


def test_a_success_that_reaches_minimum_calls_can_open_the_breaker():
    breaker, _, _ = make(minimum_calls=4, failure_rate_threshold=50)
    fail(breaker, 3)
    succeed(breaker)  # the 4th call: 75% failed
    assert breaker.state is BreakerState.OPEN


def test_count_window_evicts_the_oldest_calls():
    breaker, _, _ = make(window_size=4, minimum_calls=4, failure_rate_threshold=75)
    fail(breaker, 2)
    succeed(breaker, 2)
    assert breaker.metrics().failed == 2
    succeed(breaker)  # evicts the first failure
    fail(breaker)  # evicts the second: the window is S S S F
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failed) == (4, 1)
    fail(breaker, 2)  # S F F F: 75%
    assert breaker.state is BreakerState.OPEN


def test_time_window_evicts_calls_older_than_the_window():
    breaker, clock, _ = make(window_type="time", window_size=10, minimum_calls=4,
                             failure_rate_threshold=50)
    fail(breaker, 3)
    clock.advance(10.0)  # those three failures leave the window
    assert breaker.metrics().calls == 0
    succeed(breaker, 2)
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED  # 1 of 3 calls in the window
    clock.advance(5.0)
    fail(breaker)  # 2 of 4 within the last 10 s
    assert breaker.state is BreakerState.OPEN


def test_time_window_keeps_calls_inside_the_window():
    breaker, clock, _ = make(window_type="time", window_size=10, minimum_calls=4)
    fail(breaker, 2)
    clock.advance(9.0)
    fail(breaker, 2)
    assert breaker.state is BreakerState.OPEN


def test_windows_agree_with_a_naive_model():
    rng = random.Random(3)
    count, timed = CountWindow(7), TimeWindow(5)
    history: list[tuple[float, bool, bool]] = []
    now = 0.0
    for _ in range(2000):
        now += rng.choice((0.0, 0.3, 0.9, 2.5, 7.0))
        failed, slow = rng.random() < 0.4, rng.random() < 0.3
        count.record(failed=failed, slow=slow, now=now)
        timed.record(failed=failed, slow=slow, now=now)
        history.append((now, failed, slow))
        last = history[-7:]
        assert count.totals(now).calls == len(last)
        assert count.totals(now).failures == sum(f for _, f, _ in last)
        assert count.totals(now).slow == sum(s for _, _, s in last)
        recent = [h for h in history if int(h[0]) > int(now) - 5]
        assert timed.totals(now).calls == len(recent)
        assert timed.totals(now).failures == sum(f for _, f, _ in recent)
        assert timed.totals(now).slow == sum(s for _, _, s in recent)


# -- open -> half-open -> closed / open -------------------------------------------------------


def test_open_refuses_with_retry_after_until_the_wait_is_over():
    breaker, clock, _ = make(wait_in_open=5.0)
    trip(breaker)
    assert refused(breaker).retry_after == pytest.approx(5.0)
    clock.advance(3.5)
    error = refused(breaker)
    assert error.retry_after == pytest.approx(1.5)
    assert error.breaker == "sms"
    assert error.state == "open"
    assert "retry after 1.5s" in str(error)
    assert "fallback" in str(error)
    assert breaker.metrics().not_permitted == 2


def test_half_opens_after_the_wait():
    breaker, clock, seen = make(wait_in_open=5.0)
    trip(breaker)
    clock.advance(5.0)
    permit = breaker.acquire()
    assert breaker.state is BreakerState.HALF_OPEN
    assert (seen[-1].event, seen[-1].from_state, seen[-1].to_state) == (
        "breaker.half_opened", "open", "half_open")
    breaker.on_success(permit, 0.01)


def test_half_open_closes_after_the_permitted_successes():
    breaker, clock, seen = make(permitted_calls_in_half_open=3)
    trip(breaker)
    clock.advance(5.0)
    succeed(breaker, 2)
    assert breaker.state is BreakerState.HALF_OPEN
    succeed(breaker)
    assert breaker.state is BreakerState.CLOSED
    assert (seen[-1].event, seen[-1].from_state, seen[-1].calls) == (
        "breaker.closed", "half_open", 3)
    assert breaker.metrics().calls == 0  # a fresh window after closing


def test_half_open_reopens_on_a_failed_probe():
    breaker, clock, seen = make(permitted_calls_in_half_open=1)
    trip(breaker)
    clock.advance(5.0)
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert (seen[-1].event, seen[-1].from_state) == ("breaker.opened", "half_open")


def test_half_open_reopens_as_soon_as_the_probes_cannot_pass():
    breaker, clock, _ = make(permitted_calls_in_half_open=4, failure_rate_threshold=50)
    trip(breaker)
    clock.advance(5.0)
    permits = [breaker.acquire() for _ in range(4)]
    breaker.on_success(permits[0], 0.01)
    breaker.on_error(permits[1], 0.01, ConnectionError())
    assert breaker.state is BreakerState.HALF_OPEN  # 1 failure of 4 could still pass
    breaker.on_error(permits[2], 0.01, ConnectionError())  # 2 of 4: 50% whatever comes next
    assert breaker.state is BreakerState.OPEN
    breaker.on_success(permits[3], 0.01)  # a stale permit changes nothing
    assert breaker.state is BreakerState.OPEN


def test_half_open_closes_with_failures_under_the_threshold():
    breaker, clock, _ = make(permitted_calls_in_half_open=3, failure_rate_threshold=50)
    trip(breaker)
    clock.advance(5.0)
    fail(breaker)
    succeed(breaker, 2)  # 1 of 3 failed: 33% < 50%
    assert breaker.state is BreakerState.CLOSED


def test_half_open_admits_only_the_permitted_probes():
    breaker, clock, _ = make(permitted_calls_in_half_open=2, slow_call_duration=1.5)
    trip(breaker)
    clock.advance(5.0)
    first, second = breaker.acquire(), breaker.acquire()
    error = refused(breaker)
    assert error.state == "half_open"
    assert error.retry_after == pytest.approx(1.5)
    assert "half-open" in str(error)
    breaker.on_error(first, 0.01, HttpError(404))  # ignored: its probe slot is free again
    third = breaker.acquire()
    breaker.on_success(second, 0.01)
    breaker.on_success(third, 0.01)
    assert breaker.state is BreakerState.CLOSED


def test_released_probe_frees_its_slot():
    breaker, clock, _ = make(permitted_calls_in_half_open=1)
    trip(breaker)
    clock.advance(5.0)
    breaker.release(breaker.acquire())
    succeed(breaker)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.metrics().released == 1


def test_half_open_reopens_when_probes_overrun_max_wait_in_half_open():
    breaker, clock, seen = make(permitted_calls_in_half_open=1, max_wait_in_half_open=3.0)
    trip(breaker)
    clock.advance(5.0)
    stuck = breaker.acquire()
    clock.advance(2.9)
    assert refused(breaker).retry_after == pytest.approx(0.1)
    clock.advance(0.2)
    assert breaker.state is BreakerState.OPEN  # reading the state applies the deadline
    assert seen[-1].from_state == "half_open"
    assert "max_wait_in_half_open" in seen[-1].reason
    breaker.on_success(stuck, 3.0)  # the late outcome belongs to the old phase
    assert breaker.state is BreakerState.OPEN


def test_max_wait_in_half_open_zero_waits_for_the_probes():
    breaker, clock, _ = make(permitted_calls_in_half_open=1, max_wait_in_half_open=0)
    trip(breaker)
    clock.advance(5.0)
    permit = breaker.acquire()
    clock.advance(3600.0)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.on_success(permit, 0.01)
    assert breaker.state is BreakerState.CLOSED


# -- the open wait: growth with jitter, cap, shrink ------------------------------------------


def reopen(breaker: CircuitBreaker, clock: Clock) -> float:
    """Let the wait pass, fail the probe, return the new wait."""
    clock.advance(breaker.metrics().retry_after + 1e-6)
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    return breaker.metrics().wait


def test_open_wait_grows_exponentially_with_jitter_up_to_the_cap():
    breaker, clock, _ = make(rng=FixedRandom(0.5), wait_jitter=0.2, wait_in_open=5.0,
                             wait_multiplier=2.0, max_wait_in_open=60.0,
                             permitted_calls_in_half_open=1)
    trip(breaker)
    waits = [breaker.metrics().wait] + [reopen(breaker, clock) for _ in range(5)]
    # ceilings 5, 10, 20, 40, 60, 60, each shortened by 0.2 * 0.5 = 10%
    assert waits == pytest.approx([4.5, 9.0, 18.0, 36.0, 54.0, 54.0])
    assert breaker.metrics().consecutive_trips == 6


def test_jitter_stays_within_its_fraction():
    breaker, clock, _ = make(rng=random.Random(11), wait_jitter=0.25, wait_in_open=8.0,
                             max_wait_in_open=8.0, permitted_calls_in_half_open=1)
    trip(breaker)
    waits = [breaker.metrics().wait] + [reopen(breaker, clock) for _ in range(50)]
    assert all(6.0 <= w <= 8.0 for w in waits)
    assert len(set(waits)) > 40  # actually random


def test_open_wait_shrinks_back_after_a_clean_close():
    breaker, clock, _ = make(wait_in_open=5.0, permitted_calls_in_half_open=1)
    trip(breaker)
    reopen(breaker, clock)
    assert reopen(breaker, clock) == 20.0
    clock.advance(20.0)
    succeed(breaker)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.metrics().consecutive_trips == 0
    trip(breaker)
    assert breaker.metrics().wait == 5.0


def test_huge_trip_counts_do_not_overflow():
    breaker, clock, _ = make(wait_in_open=1.0, max_wait_in_open=30.0, wait_multiplier=1e10,
                             permitted_calls_in_half_open=1)
    trip(breaker)
    for _ in range(400):
        wait = reopen(breaker, clock)
    assert wait == 30.0


# -- which errors count ----------------------------------------------------------------------


def test_caller_faults_like_http_4xx_are_ignored():
    breaker, _, seen = make(minimum_calls=4)
    for status in (400, 401, 404, 422, 400, 400):
        fail(breaker, exc=HttpError(status))
    metrics = breaker.metrics()
    assert breaker.state is BreakerState.CLOSED
    assert not seen
    assert (metrics.calls, metrics.failed, metrics.ignored) == (0, 0, 6)


def test_http_429_and_5xx_count_as_failures():
    breaker, _, _ = make(minimum_calls=4)
    fail(breaker, 2, exc=HttpError(429))
    fail(breaker, 2, exc=HttpError(503))
    assert breaker.state is BreakerState.OPEN


def test_status_on_a_wrapped_response_is_read_too():
    class Response:
        status_code = 400

    class StatusError(Exception):
        response = Response()

    config = BreakerConfig()
    assert not config.counts_as_failure(StatusError())


def test_counts_as_failure_attribute_decides():
    class Rejected(Exception):
        counts_as_failure = False

    class Throttled(HttpError):
        counts_as_failure = True  # a 400 the provider uses to mean "slow down"

    config = BreakerConfig()
    assert not config.counts_as_failure(Rejected())
    assert config.counts_as_failure(Throttled(400))


def test_record_and_ignore_exception_types_and_predicate():
    config = BreakerConfig(record_exceptions=(OSError,), ignore_exceptions=(TimeoutError,),
                           failure_predicate=lambda exc: "fatal" in str(exc))
    assert config.counts_as_failure(ConnectionError("fatal: reset"))
    assert not config.counts_as_failure(ConnectionError("transient"))
    assert not config.counts_as_failure(TimeoutError("fatal"))  # ignore wins, and OSError
    assert not config.counts_as_failure(ValueError("fatal"))  # not a recorded type
    everything = BreakerConfig(failure_predicate=None)
    assert everything.counts_as_failure(HttpError(400))


def test_call_records_outcomes_and_skips_the_function_when_open():
    breaker, clock, _ = make(minimum_calls=2, slow_call_duration=1.0)
    calls: list[int] = []

    def send(n: int) -> int:
        calls.append(n)
        clock.advance(2.0)
        return n * 2

    def broken() -> None:
        raise ConnectionError("refused")

    assert breaker.call(send, 21) == 42
    assert breaker.metrics().slow == 1  # timed with the injected clock
    with pytest.raises(ConnectionError):
        breaker.call(broken)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        breaker.call(send, 1)
    assert calls == [21]


def test_call_ignores_base_exceptions_that_are_not_errors():
    breaker, _, _ = make()

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)
    assert breaker.metrics().ignored == 1
    assert breaker.metrics().calls == 0


# -- operators -------------------------------------------------------------------------------


def test_forced_open_refuses_everything_until_reset():
    breaker, clock, seen = make(wait_in_open=5.0)
    breaker.force_open("provider maintenance")
    error = refused(breaker)
    assert error.state == "forced_open"
    assert error.retry_after == 5.0
    assert "operator" in str(error)
    clock.advance(3600.0)
    assert breaker.state is BreakerState.FORCED_OPEN
    refused(breaker)
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED
    assert [e.event for e in seen] == ["breaker.forced_open", "breaker.reset"]
    assert seen[0].reason == "provider maintenance"


def test_disabled_lets_every_call_through_unjudged():
    breaker, _, seen = make()
    breaker.disable()
    fail(breaker, 50)
    assert breaker.state is BreakerState.DISABLED
    metrics = breaker.metrics()
    assert (metrics.calls, metrics.failed_total) == (0, 50)
    breaker.disable()  # already disabled: no second event
    assert [e.event for e in seen] == ["breaker.disabled"]


def test_reset_closes_with_an_empty_window_and_the_first_wait():
    breaker, clock, _ = make(wait_in_open=5.0, permitted_calls_in_half_open=1)
    trip(breaker)
    reopen(breaker, clock)
    fail_count = breaker.metrics().failed_total
    breaker.reset()
    metrics = breaker.metrics()
    assert metrics.state is BreakerState.CLOSED
    assert metrics.calls == 0
    assert metrics.consecutive_trips == 0
    assert metrics.failed_total == fail_count
    trip(breaker)
    assert breaker.metrics().wait == 5.0


def test_outcome_of_a_call_admitted_before_a_transition_is_not_counted():
    breaker, _, _ = make()
    permit = breaker.acquire()
    breaker.force_open()
    breaker.reset()
    breaker.on_error(permit, 0.01, ConnectionError())
    assert breaker.metrics().calls == 0


# -- metrics, errors, events -----------------------------------------------------------------


def test_metrics_snapshot_contents():
    breaker, clock, _ = make(wait_in_open=5.0, slow_call_duration=1.0, minimum_calls=5)
    succeed(breaker, 2)
    succeed(breaker, 1, duration=1.5)
    fail(breaker, exc=HttpError(400))
    fail(breaker, 2)
    metrics = breaker.metrics()
    # 2 failures of 5 is under 50%: still closed; one more failure opens it.
    assert metrics.state is BreakerState.CLOSED
    assert metrics.retry_after == 0.0
    assert (metrics.calls, metrics.failed, metrics.slow) == (5, 2, 1)
    assert (metrics.failure_rate, metrics.slow_rate) == (40.0, 20.0)
    assert (metrics.succeeded, metrics.failed_total, metrics.ignored) == (3, 2, 1)
    fail(breaker)
    clock.advance(1.0)
    refused(breaker)
    metrics = breaker.metrics()
    assert metrics == BreakerMetrics(
        breaker="sms", state=BreakerState.OPEN, calls=6, failed=3, slow=1, failure_rate=50.0,
        slow_rate=pytest.approx(100 / 6), not_permitted=1, succeeded=3, failed_total=3,
        ignored=1, released=0, trips=1, consecutive_trips=1, wait=5.0, retry_after=4.0)


def test_metrics_in_half_open_count_the_probes():
    breaker, clock, _ = make(permitted_calls_in_half_open=3)
    trip(breaker)
    clock.advance(5.0)
    succeed(breaker)
    metrics = breaker.metrics()
    assert (metrics.state, metrics.calls, metrics.failed) == (BreakerState.HALF_OPEN, 1, 0)


@pytest.mark.parametrize(("field", "value"), [
    ("window_type", "sliding"),
    ("window_size", 0),
    ("window_size", 2.5),
    ("failure_rate_threshold", 0),
    ("failure_rate_threshold", 101),
    ("slow_call_rate_threshold", -5),
    ("slow_call_duration", 0),
    ("slow_call_duration", float("nan")),
    ("minimum_calls", 0),
    ("minimum_calls", 21),  # more than a count window of 20 holds
    ("wait_in_open", 0),
    ("wait_in_open", float("inf")),
    ("max_wait_in_open", 1.0),  # below wait_in_open
    ("wait_multiplier", 0.5),
    ("wait_jitter", 1.0),
    ("permitted_calls_in_half_open", 0),
    ("permitted_calls_in_half_open", True),
    ("max_wait_in_half_open", -1),
    ("record_exceptions", (ValueError, "boom")),
    ("ignore_exceptions", [KeyError]),
    ("failure_predicate", "yes"),
])
def test_bad_configs_raise_config_error_naming_the_field(field, value):
    with pytest.raises(ConfigError) as info:
        BreakerConfig(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}=")


def test_time_window_allows_minimum_calls_above_window_size():
    assert BreakerConfig(window_type="time", window_size=5, minimum_calls=50).minimum_calls == 50


def test_bad_breaker_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="name"):
        CircuitBreaker("")
    with pytest.raises(ConfigError, match="config"):
        CircuitBreaker("sms", {"window_size": 5})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="listener"):
        CircuitBreaker("sms").add_listener("not callable")  # type: ignore[arg-type]


def test_circuit_open_is_a_stanchion_error_that_pickles():
    error = pickle.loads(pickle.dumps(CircuitOpen("sms", 2.5, "half_open")))
    assert isinstance(error, StanchionError)
    assert (error.breaker, error.retry_after, error.state) == ("sms", 2.5, "half_open")


def test_transitions_are_structured_log_events(events):
    breaker, clock, _ = make(permitted_calls_in_half_open=1)
    trip(breaker)
    clock.advance(5.0)
    succeed(breaker)
    breaker.force_open()
    breaker.disable()
    breaker.reset()
    names = [e["event"] for e in events if str(e["event"]).startswith("breaker.")]
    assert names == ["breaker.opened", "breaker.half_opened", "breaker.closed",
                     "breaker.forced_open", "breaker.disabled", "breaker.reset"]
    [opened] = named(events, "breaker.opened")
    assert opened["level"] == "warning"
    assert {k: opened[k] for k in ("breaker", "from_state", "to_state", "failure_rate",
                                   "slow_rate", "calls", "wait", "trips")} == {
        "breaker": "sms", "from_state": "closed", "to_state": "open", "failure_rate": 100.0,
        "slow_rate": 0.0, "calls": 4, "wait": 5.0, "trips": 1}
    assert named(events, "breaker.closed")[0]["level"] == "info"
    assert [e["seq"] for e in events if str(e["event"]).startswith("breaker.")] == [
        1, 2, 3, 4, 5, 6]


def test_a_failing_listener_is_logged_and_does_not_fail_the_caller(events):
    breaker, _, seen = make()

    def broken(_: BreakerTransition) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken)
    trip(breaker)
    assert seen
    assert named(events, "breaker.listener_failed")
    breaker.remove_listener(broken)
    breaker.reset()
    assert len(named(events, "breaker.listener_failed")) == 1


# -- thread safety ----------------------------------------------------------------------------


def test_concurrent_callers_keep_counts_consistent():
    # Threshold 100%: only an all-failed window trips, which alternating outcomes never make.
    breaker = CircuitBreaker("sms", BreakerConfig(
        window_size=1000, minimum_calls=1000, failure_rate_threshold=100,
        slow_call_rate_threshold=100))
    threads, per_thread = 8, 5000
    start = threading.Barrier(threads)

    def work(seed: int) -> None:
        start.wait()
        for n in range(per_thread):
            permit = breaker.acquire()
            if (n + seed) % 2:
                breaker.on_error(permit, 0.0, ConnectionError())
            else:
                breaker.on_success(permit, 0.0)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    metrics = breaker.metrics()
    assert metrics.state is BreakerState.CLOSED
    assert metrics.succeeded == metrics.failed_total == threads * per_thread // 2
    assert metrics.calls == 1000
    ring = breaker._window._ring  # type: ignore[union-attr]
    assert metrics.failed == sum(b & 1 for b in ring)


def test_concurrent_probes_never_exceed_the_permitted_calls():
    clock = Clock()
    breaker = CircuitBreaker("sms", BreakerConfig(window_size=4, minimum_calls=4,
                                                  permitted_calls_in_half_open=3),
                             clock=clock)
    trip(breaker)
    clock.advance(60.0)
    admitted: list[Any] = []
    refusals: list[CircuitOpen] = []
    start = threading.Barrier(16)

    def probe() -> None:
        start.wait()
        for _ in range(100):
            try:
                admitted.append(breaker.acquire())
            except CircuitOpen as error:
                refusals.append(error)

    workers = [threading.Thread(target=probe) for _ in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert len(admitted) == 3
    assert len(refusals) == 1597
    assert breaker.metrics().not_permitted == 1597


def test_concurrent_trips_emit_one_opened_event():
    breaker, _, seen = make(window_size=100, minimum_calls=10)
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        for _ in range(200):
            with contextlib.suppress(CircuitOpen):
                breaker.on_error(breaker.acquire(), 0.0, ConnectionError())

    workers = [threading.Thread(target=hammer) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [e.event for e in seen] == ["breaker.opened"]
    metrics = breaker.metrics()
    assert metrics.not_permitted + metrics.failed_total == 1600


def test_a_half_open_trip_gives_its_reason_from_the_figures_it_carries():
    breaker, clock, seen = make(permitted_calls_in_half_open=3, failure_rate_threshold=50)
    trip(breaker)
    clock.advance(5.0)
    permits = [breaker.acquire() for _ in range(3)]
    breaker.on_error(permits[0], 0.01, ConnectionError())
    breaker.on_error(permits[1], 0.01, ConnectionError())  # 2 of 3 failed: cannot pass
    opened = seen[-1]
    assert (opened.event, opened.from_state) == ("breaker.opened", "half_open")
    assert (opened.calls, opened.failure_rate) == (2, 100.0)
    assert opened.reason.startswith("failure rate 100.0% >= 50% over 2 calls; 2 of 3 probes")


@pytest.mark.parametrize("outcomes", ["FF", "SS", "sFF", "SsS", "FSsF"])
def test_every_half_open_trip_reason_states_the_rate_and_calls_of_its_fields(outcomes):
    # F failed, S slow, s fine; 4 probes permitted, both thresholds 50%.
    breaker, clock, seen = make(permitted_calls_in_half_open=4, failure_rate_threshold=50,
                                slow_call_rate_threshold=50, slow_call_duration=1.0)
    trip(breaker)
    clock.advance(5.0)
    for outcome in outcomes:
        permit = breaker.acquire()
        if outcome == "F":
            breaker.on_error(permit, 0.01, ConnectionError())
        else:
            breaker.on_success(permit, 2.0 if outcome == "S" else 0.01)
    assert breaker.state is BreakerState.OPEN
    opened = seen[-1]
    assert opened.from_state == "half_open"
    assert opened.calls == len(outcomes)
    rate = opened.failure_rate if opened.reason.startswith("failure") else opened.slow_rate
    assert f" {rate:.1f}% " in opened.reason, opened
    assert f"over {opened.calls} calls" in opened.reason, opened
