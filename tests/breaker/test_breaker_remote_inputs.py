"""Hostile inputs to the entry points another process drives: record_remote, open_for, probe_now."""

from __future__ import annotations

import math

import pytest

from actors import ConfigError
from actors.breaker import BreakerConfig, CircuitBreaker


def _breaker(**config: object) -> CircuitBreaker:
    return CircuitBreaker("sms", BreakerConfig(**config))  # type: ignore[arg-type]


@pytest.mark.parametrize(("calls", "failures", "slow"), [
    (-1, 0, 0), (5, -1, 0), (5, 0, -1), (True, 0, 0), (5, True, 0), (math.nan, 0, 0),
    (5.0, 0, 0), ("5", 0, 0), (None, 0, 0), (10**12, 0, 0), (5, math.inf, 0),
])
def test_record_remote_refuses_counts_that_are_not_small_non_negative_ints(
        calls: object, failures: object, slow: object) -> None:
    breaker = _breaker(window_type="time", window_size=10)
    with pytest.raises(ConfigError):
        breaker.record_remote(calls, failures, slow, "peer")  # type: ignore[arg-type]
    assert breaker.state.value == "closed"


@pytest.mark.parametrize("reason", [None, 5, "\ud800", "x" * 501])
def test_record_remote_refuses_a_bad_reason(reason: object) -> None:
    with pytest.raises(ConfigError):
        _breaker().record_remote(10, 10, 0, reason)  # type: ignore[arg-type]


def test_record_remote_still_judges_and_ignores_zero_calls() -> None:
    breaker = _breaker(window_size=10, minimum_calls=10)
    assert breaker.record_remote(0, 0, 0, "peer") is False
    assert breaker.record_remote(10, 20, 0, "peer") is True  # failures past calls are capped
    assert breaker.state.value == "open"


@pytest.mark.parametrize("wait", [math.nan, math.inf, -math.inf, -1.0, True, "1", None, 1e12])
def test_open_for_refuses_a_wait_that_is_not_a_finite_duration(wait: object) -> None:
    breaker = _breaker()
    with pytest.raises(ConfigError):
        breaker.open_for(wait, "peer")  # type: ignore[arg-type]
    assert breaker.state.value == "closed"


@pytest.mark.parametrize("reason", [None, "\udfff", "x" * 501])
def test_open_for_and_probe_now_refuse_a_bad_reason(reason: object) -> None:
    breaker = _breaker()
    with pytest.raises(ConfigError):
        breaker.open_for(1.0, reason)  # type: ignore[arg-type]
    assert breaker.open_for(1.0, "peer") is True
    with pytest.raises(ConfigError):
        breaker.probe_now(reason)  # type: ignore[arg-type]
    assert breaker.state.value == "open"


def test_probe_now_only_from_open_and_after_forced_open_does_nothing() -> None:
    breaker = _breaker()
    assert breaker.probe_now("peer") is False  # closed
    breaker.force_open()
    assert breaker.open_for(1.0, "peer") is False
    assert breaker.probe_now("peer") is False
    assert breaker.state.value == "forced_open"
    breaker.reset()
    assert breaker.open_for(0.0, "peer") is True
    assert breaker.probe_now("peer") is True
    assert breaker.state.value == "half_open"
