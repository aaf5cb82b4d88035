"""The timer thread survives every callback and every delay, and never dies unnoticed."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest

from actors import ConfigError, Scheduler, SystemNotRunning
from actors.core._scheduler import MAX_THREAD_RESTARTS
from tests.conftest import named


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    timers = Scheduler(name="test-scheduler")
    yield timers
    timers.stop()


def still_runs_timers(scheduler: Scheduler) -> bool:
    done = threading.Event()
    scheduler.call_later(0.0, done.set)
    return done.wait(5)


@pytest.mark.parametrize("delay", [math.inf, 10**400])  # an int beyond float range is inf
def test_an_infinite_delay_means_never_and_does_not_kill_the_thread(scheduler, delay):
    fired = threading.Event()
    handle = scheduler.call_later(delay, fired.set)
    assert handle.due == math.inf
    assert scheduler.pending() == 0  # nothing kept for a timer that never fires
    assert still_runs_timers(scheduler)
    assert not fired.is_set()


@pytest.mark.parametrize("delay", [1e300, float(threading.TIMEOUT_MAX) * 2, 1e12])
def test_a_huge_delay_is_waited_for_in_steps_without_killing_the_thread(delay):
    waiting = threading.Event()

    def clock() -> float:
        # The timer thread reads the clock (holding the lock) just before it waits
        # for the first timer, so once this is set it is waiting for the far one.
        if threading.current_thread().name == "far":
            waiting.set()
        return time.monotonic()

    scheduler = Scheduler(name="far", clock=clock)
    try:
        scheduler.call_later(delay, lambda: None)
        assert waiting.wait(5)
        assert still_runs_timers(scheduler)
    finally:
        scheduler.stop()


@pytest.mark.parametrize("delay", [-1.0, -math.inf, 0, -(10**400)])
def test_zero_or_negative_delays_run_as_soon_as_possible(scheduler, delay):
    done = threading.Event()
    scheduler.call_later(delay, done.set)
    assert done.wait(5)


@pytest.mark.parametrize("delay", [math.nan, "1", None, True, [1], object()])
def test_a_delay_that_is_not_a_number_is_refused_at_the_call(scheduler, delay):
    with pytest.raises(ConfigError, match="delay="):
        scheduler.call_later(delay, lambda: None)
    assert still_runs_timers(scheduler)


def test_a_callback_that_is_not_callable_is_refused_at_the_call(scheduler):
    with pytest.raises(ConfigError, match="callback="):
        scheduler.call_later(0.0, "not callable")  # type: ignore[arg-type]


class Unusual(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


@pytest.mark.parametrize("error", [RuntimeError("boom"), Unusual("odd"), GeneratorExit()])
def test_a_failing_callback_is_logged_and_the_next_timer_runs(scheduler, events, error):
    def fail() -> None:
        raise error

    scheduler.call_later(0.0, fail)
    assert still_runs_timers(scheduler)
    assert len(named(events, "timer.failed")) == 1
    assert scheduler.restarts == 0


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt()])
def test_a_dead_timer_thread_is_logged_and_replaced(scheduler, events, error):
    def die() -> None:
        raise error

    scheduler.call_later(0.0, die)
    assert still_runs_timers(scheduler)
    fault = named(events, "runtime.fault")
    assert len(fault) == 1
    assert (fault[0]["service"], fault[0]["where"]) == ("test-scheduler", "scheduler")
    assert scheduler.restarts == 1


def test_after_too_many_deaths_call_later_says_so_instead_of_queueing(scheduler, events):
    for _ in range(MAX_THREAD_RESTARTS + 1):
        died = threading.Event()

        def die(died: threading.Event = died) -> None:
            died.set()
            raise SystemExit

        thread = scheduler._thread
        scheduler.call_later(0.0, die)
        assert died.wait(5)
        thread.join(5)
    with pytest.raises(SystemNotRunning, match="timer thread died"):
        scheduler.call_later(0.0, lambda: None)
    assert len(named(events, "runtime.fault")) == MAX_THREAD_RESTARTS + 1


def broken_clock() -> float:
    raise OSError("clock unavailable")


@pytest.mark.parametrize("clock", [broken_clock, lambda: math.nan, lambda: "now"])
def test_a_clock_that_fails_is_a_config_error_at_the_call(clock):
    scheduler = Scheduler(name="bad-clock", clock=clock)
    try:
        with pytest.raises(ConfigError, match="clock"):
            scheduler.call_later(1.0, lambda: None)
    finally:
        scheduler.stop()


def test_calls_after_stop_are_refused(scheduler):
    scheduler.stop()
    with pytest.raises(SystemNotRunning):
        scheduler.call_later(0.0, lambda: None)
