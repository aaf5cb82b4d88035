"""Half-open on a ratio (`half_open_successes_to_close`): examples and property tests.

The property test drives the pure state machine with random schedules of
acquires, outcomes, releases and clock steps, and checks it against a model
of the rule: close once X of N probes succeed, open once that cannot happen,
never more than N probes in flight.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from actors import CircuitOpen, ConfigError
from actors.breaker import BreakerConfig, BreakerState, BreakerTransition, CircuitBreaker, Permit
from tests.hypothesis_profiles import examples


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ClientError(Exception):
    status_code = 400


def make(probes: int, successes: int, **config: Any,
         ) -> tuple[CircuitBreaker, Clock, list[BreakerTransition]]:
    clock = Clock()
    breaker = CircuitBreaker("ratio", BreakerConfig(
        window_size=4, minimum_calls=2, wait_in_open=5.0, max_wait_in_open=5.0,
        wait_jitter=0.0, permitted_calls_in_half_open=probes,
        half_open_successes_to_close=successes, **config), clock=clock)
    seen: list[BreakerTransition] = []
    breaker.add_listener(seen.append)
    return breaker, clock, seen


def to_half_open(breaker: CircuitBreaker, clock: Clock) -> None:
    breaker.force_open()
    breaker.reset()
    for _ in range(2):
        breaker.on_error(breaker.acquire(), 0.1, ConnectionError("refused"))
    assert breaker.state is BreakerState.OPEN
    clock.now += 5.0
    assert breaker.state is BreakerState.HALF_OPEN


@pytest.mark.parametrize(("field", "value"), [
    ("half_open_successes_to_close", 0),
    ("half_open_successes_to_close", 4),
    ("half_open_successes_to_close", True),
    ("half_open_successes_to_close", 2.0),
    ("half_open_successes_to_close", "2"),
])
def test_bad_ratio_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        BreakerConfig(permitted_calls_in_half_open=3, **{field: value})
    assert caught.value.field == field
    assert "permitted_calls_in_half_open (3)" in str(caught.value)


def test_closes_as_soon_as_enough_probes_succeed() -> None:
    breaker, clock, seen = make(5, 3)
    to_half_open(breaker, clock)
    permits = [breaker.acquire() for _ in range(5)]
    for permit in permits[:3]:
        breaker.on_success(permit, 0.1)
    assert breaker.state is BreakerState.CLOSED
    assert seen[-1].event == "breaker.closed"
    assert seen[-1].reason == "3 of 5 probes succeeded"
    breaker.on_error(permits[3], 0.1, ConnectionError())  # stale: belongs to half-open
    assert breaker.state is BreakerState.CLOSED


def test_opens_as_soon_as_the_ratio_is_out_of_reach() -> None:
    breaker, clock, seen = make(5, 3)
    to_half_open(breaker, clock)
    permits = [breaker.acquire() for _ in range(5)]
    breaker.on_success(permits[0], 0.1)
    breaker.on_error(permits[1], 0.1, ConnectionError())
    breaker.on_error(permits[2], 0.1, ConnectionError())
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.on_success(permits[3], 5.0)  # slow: counts as a failed probe
    assert breaker.state is BreakerState.OPEN
    assert seen[-1].reason == "3 of 5 probes failed (needed 3 successes)"


def test_probes_limited_in_flight_and_a_finished_probe_frees_its_slot() -> None:
    breaker, clock, _ = make(2, 2)
    to_half_open(breaker, clock)
    first, second = breaker.acquire(), breaker.acquire()
    with pytest.raises(CircuitOpen) as refused:
        breaker.acquire()
    assert refused.value.state == "half_open"
    assert breaker.metrics().probes_in_flight == 2
    breaker.on_error(first, 0.1, ClientError())  # not the provider's fault: slot back
    third = breaker.acquire()
    assert breaker.metrics().probes_in_flight == 2
    breaker.on_success(second, 0.1)
    assert breaker.metrics().probes_in_flight == 1
    breaker.on_success(third, 0.1)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.metrics().probes_in_flight == 0


def test_rate_rule_unchanged_when_unset() -> None:
    breaker = CircuitBreaker("rate", BreakerConfig(permitted_calls_in_half_open=3))
    assert breaker.config.half_open_successes_to_close is None


def test_overrun_probes_still_reopen() -> None:
    breaker, clock, seen = make(3, 1, max_wait_in_half_open=2.0)
    to_half_open(breaker, clock)
    breaker.acquire()
    clock.now += 2.0
    assert breaker.state is BreakerState.OPEN
    assert "max_wait_in_half_open" in seen[-1].reason


OPS = st.lists(st.one_of(
    st.just(("acquire", 0)),
    st.tuples(st.sampled_from(["success", "failure", "slow", "ignored", "release"]),
              st.integers(0, 20)),
    st.tuples(st.just("tick"), st.integers(1, 6)),
), max_size=60)


@settings(max_examples=examples(150))
@given(probes=st.integers(1, 6), data=st.data(), ops=OPS)
def test_ratio_rule_matches_its_model(probes: int, data: st.DataObject,
                                      ops: list[tuple[str, int]]) -> None:
    successes = data.draw(st.integers(1, probes), label="successes")
    breaker, clock, seen = make(probes, successes, max_wait_in_half_open=12.0)
    to_half_open(breaker, clock)
    held: list[Permit] = []
    # The model, per half-open stay (a stay is its phase object): [good, bad, in flight].
    model: dict[Permit, list[int]] = {}
    for op, arg in ops:
        if op == "tick":
            clock.now += arg
            continue
        if op == "acquire":
            try:
                permit = breaker.acquire()
            except CircuitOpen as refused:
                if refused.state == "half_open":
                    assert model[breaker._phase][2] == probes, "refused with a slot free"
            else:
                held.append(permit)
                if permit.state is BreakerState.HALF_OPEN:
                    counts = model.setdefault(permit, [0, 0, 0])
                    counts[2] += 1
                    assert counts[2] <= probes
            continue
        if not held:
            continue
        permit = held.pop(arg % len(held))
        breaker.poll()
        current = permit.state is BreakerState.HALF_OPEN and permit is breaker._phase
        before = len(seen)
        if op == "success":
            breaker.on_success(permit, 0.1)
        elif op == "slow":
            breaker.on_success(permit, 10.0)
        elif op == "failure":
            breaker.on_error(permit, 0.1, ConnectionError())
        elif op == "ignored":
            breaker.on_error(permit, 0.1, ClientError())
        else:
            breaker.release(permit)
        if not current:
            if permit.state is BreakerState.HALF_OPEN:
                assert len(seen) == before, "a stale probe's outcome moved the breaker"
            continue
        counts = model[permit]
        counts[2] -= 1
        if op == "success":
            counts[0] += 1
        elif op in ("failure", "slow"):
            counts[1] += 1
        good, bad, in_flight = counts
        assert good + bad <= probes
        if good >= successes:
            assert breaker.state is BreakerState.CLOSED
            assert seen[-1].event == "breaker.closed"
        elif bad > probes - successes:
            assert breaker._phase.state is BreakerState.OPEN
            assert seen[-1].reason.endswith(f"(needed {successes} successes)")
        else:
            assert len(seen) == before
            assert breaker.metrics().probes_in_flight == in_flight
