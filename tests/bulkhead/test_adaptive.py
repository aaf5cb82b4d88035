"""Adaptive concurrency limits: the algorithms, the limit's bounds, ServiceCaller's use of it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from actors import ConfigError, ServiceActor
from actors.bulkhead import (
    AdaptiveLimit,
    AdaptiveLimitConfig,
    AimdLimit,
    FixedLimit,
    GradientLimit,
    LimitReached,
    ServiceCaller,
)
from actors.supervision import ActorSystem, ChildSpec
from tests.conftest import named
from tests.hypothesis_profiles import examples


@pytest.mark.parametrize(("make", "field"), [
    (lambda: AdaptiveLimitConfig(min_limit=0), "min_limit"),
    (lambda: AdaptiveLimitConfig(min_limit=5, max_limit=4), "max_limit"),
    (lambda: AdaptiveLimitConfig(initial_limit=1, min_limit=2), "initial_limit"),
    (lambda: AdaptiveLimitConfig(initial_limit=True), "initial_limit"),
    (lambda: AdaptiveLimitConfig(algorithm="aimd"), "algorithm"),  # type: ignore[arg-type]
    (lambda: AimdLimit(latency_threshold=0), "latency_threshold"),
    (lambda: AimdLimit(backoff_ratio=1.0), "backoff_ratio"),
    (lambda: AimdLimit(backoff_ratio=float("nan")), "backoff_ratio"),
    (lambda: GradientLimit(tolerance=0.5), "tolerance"),
    (lambda: GradientLimit(smoothing=0), "smoothing"),
    (lambda: GradientLimit(short_window=700), "short_window"),
])
def test_bad_settings_name_the_field(make: Any, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make()
    assert caught.value.field == field


def test_aimd_backs_off_on_slowness_and_drops_and_grows_when_used() -> None:
    aimd = AimdLimit(latency_threshold=0.1, backoff_ratio=0.5, increase=1.0)
    assert aimd.update(10.0, 0.2, 10, False) == 5.0
    assert aimd.update(10.0, 0.0, 0, True) == 5.0
    assert aimd.update(10.0, 0.01, 5, False) == 10.1
    assert aimd.update(10.0, 0.01, 4, False) == 10.0  # not using half of it: no evidence


def test_gradient_shrinks_when_latency_jumps_and_recovers_after() -> None:
    gradient, limit = GradientLimit(), 50.0
    for _ in range(200):
        limit = gradient.update(limit, 0.002, int(limit), False)
    high = limit
    for _ in range(100):
        limit = gradient.update(limit, 0.02, int(limit), False)
    assert limit < high / 4
    low = limit
    for _ in range(100):
        limit = gradient.update(limit, 0.002, int(limit), False)
    assert limit > low


def test_the_limit_admits_up_to_it_and_moves_within_floor_and_ceiling(events: Any) -> None:
    limit = AdaptiveLimit("svc", AdaptiveLimitConfig(
        initial_limit=4, min_limit=2, max_limit=6, algorithm=AimdLimit(latency_threshold=0.1,
                                                                         backoff_ratio=0.5)))
    permits = [limit.try_acquire() for _ in range(5)]
    assert permits[-1] is None
    assert limit.metrics().in_flight == 4
    for permit in permits[:4]:
        assert permit is not None
        limit.on_success(permit, 1.0)  # every one slow
    metrics = limit.metrics()
    assert (metrics.limit, metrics.in_flight, metrics.rejected) == (2, 0, 1)
    limit.on_success(permits[0], 1.0)  # handed back twice: ignored
    assert limit.metrics().in_flight == 0
    changed = named(events, "bulkhead.limit_changed")
    assert changed
    assert changed[-1]["limit"] == 2
    for _ in range(500):  # fast answers with the limit in use: it grows to the ceiling
        taken = list(iter(limit.try_acquire, None))
        for permit in taken:
            limit.on_success(permit, 0.001)
    assert limit.metrics().limit == 6


def test_one_config_serves_many_limits_without_sharing_state() -> None:
    config = AdaptiveLimitConfig(algorithm=GradientLimit())
    first, second = AdaptiveLimit("a", config), AdaptiveLimit("b", config)
    assert first.algorithm is not second.algorithm


OUTCOMES = st.lists(st.tuples(st.sampled_from(["acquire", "ok", "slow", "drop", "release"]),
                              st.integers(0, 50)), max_size=200)


@settings(max_examples=examples(60))
@given(ops=OUTCOMES, kind=st.sampled_from(["aimd", "gradient", "fixed"]),
       floor=st.integers(1, 5), extra=st.integers(0, 20))
def test_limit_stays_in_bounds_and_in_flight_never_exceeds_it(
        ops: list[tuple[str, int]], kind: str, floor: int, extra: int) -> None:
    algorithm = {"aimd": AimdLimit(), "gradient": GradientLimit(), "fixed": FixedLimit()}[kind]
    limit = AdaptiveLimit("p", AdaptiveLimitConfig(initial_limit=floor, min_limit=floor,
                                                   max_limit=floor + extra,
                                                   algorithm=algorithm))
    held = []
    for op, arg in ops:
        if op == "acquire":
            before = limit.metrics()
            permit = limit.try_acquire()
            assert (permit is None) == (before.in_flight >= before.limit)
            if permit is not None:
                held.append(permit)
        elif held:
            permit = held.pop(arg % len(held))
            if op == "ok":
                limit.on_success(permit, 0.001 * (arg + 1))
            elif op == "slow":
                limit.on_success(permit, 10.0)
            elif op == "drop":
                limit.on_dropped(permit)
            else:
                limit.release(permit)
        metrics = limit.metrics()
        assert floor <= metrics.limit <= floor + extra
        assert metrics.in_flight == len(held)


class Gate(ServiceActor):
    mailbox_size = 100

    def __init__(self, entered: threading.Semaphore, go: threading.Event) -> None:
        super().__init__()
        self.entered, self.go = entered, go

    def on_receive(self, message: Any) -> Any:
        self.entered.release()
        self.go.wait(10)
        return message


def test_service_caller_refuses_past_the_limit_and_reports_outcomes(events: Any) -> None:
    entered, go = threading.Semaphore(0), threading.Event()
    limit = AdaptiveLimit("gate", AdaptiveLimitConfig(initial_limit=1, min_limit=1,
                                                      max_limit=1))
    with ActorSystem([ChildSpec("gate", Gate, args=(entered, go))]) as system:
        caller: ServiceCaller[Any] = ServiceCaller(
            system.service("gate"), timeout=5.0, fallback=lambda reason, error: (reason, error),
            limit=limit)
        answers: list[Any] = []
        first = threading.Thread(target=lambda: answers.append(caller.call("one")))
        first.start()
        assert entered.acquire(timeout=5)
        reason, error = caller.call("two")
        assert reason == "rejected"
        assert isinstance(error, LimitReached)
        assert error.limit == 1
        go.set()
        first.join(5)
        assert answers == ["one"]
    metrics = caller.metrics()
    assert (metrics.accepted, metrics.rejected) == (1, 1)
    assert limit.metrics().succeeded == 1
    assert limit.metrics().in_flight == 0
    assert named(events, "call.rejected")[0]["service"] == "gate"


@pytest.mark.parametrize("algorithm", [AimdLimit, GradientLimit])
@pytest.mark.parametrize("rtt", [float("nan"), float("inf"), -0.001, True, "0.01", None])
def test_a_bad_rtt_is_refused_and_frees_the_permit(algorithm: Any, rtt: Any) -> None:
    limit = AdaptiveLimit("db", AdaptiveLimitConfig(algorithm=algorithm(), initial_limit=4))
    permit = limit.try_acquire()
    assert permit is not None
    with pytest.raises(ConfigError):
        limit.on_success(permit, rtt)
    assert limit.metrics().in_flight == 0
    for _ in range(20):  # the algorithm still learns from good samples
        ok = limit.try_acquire()
        assert ok is not None
        limit.on_success(ok, 0)
    assert limit.metrics().limit >= 4
