"""Hostile input to the runtime core and supervision: a typed error or documented behaviour.

Rule for every public call here: it works as documented or raises a
`StanchionError` subclass; never a raw `TypeError`/`ValueError`/`OverflowError`,
and never a dead runtime thread (the timer thread and actor threads are checked
after each property).
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from actors import (
    ConfigError,
    DeadLetterStore,
    ReplyFuture,
    Scheduler,
    ServiceActor,
    StanchionError,
    SystemNotRunning,
)
from actors.core._validate import is_finite_number
from actors.retry import RetryPolicy
from actors.supervision import ActorSystem, ChildSpec, RestartIntensity, SupervisorSpec
from tests.hypothesis_profiles import examples

BOUNDED = settings(max_examples=examples(75), deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])


class Echo(ServiceActor):
    mailbox_size = 64

    def on_receive(self, message: Any) -> Any:
        return message


class Unhashable:
    __hash__ = None  # type: ignore[assignment]


class HostileRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr refuses")


NASTY_TEXT = st.sampled_from([
    "", " ", "name\n", "\tname", "a\x00b", "bell\a", "\ud800", "x\udfff", "\u2028", "\u200b",
    "x" * 201, "x" * 10_000, "é", "名前", "a b",
])

hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63), 0, -1, 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 5e-324, -0.0]),
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=20),
    NASTY_TEXT,
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.integers()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),
    st.sets(st.integers(), max_size=2),
    st.builds(object),
    st.builds(Unhashable),
    st.builds(HostileRepr),
    st.just(Echo), st.just(object), st.just(print),
    st.just(RetryPolicy()), st.just(random.Random(1)),
)


def accepts_or_refuses(call: Callable[[], Any]) -> Any:
    """Run `call`; a StanchionError is a refusal, anything else escaping fails the test."""
    try:
        return call()
    except StanchionError:
        return None


CHILD_FIELDS = ["name", "actor_class", "args", "kwargs", "restart", "pool_size",
                "mailbox_size", "ask_timeout", "shutdown_timeout"]


@BOUNDED
@given(field=st.sampled_from(CHILD_FIELDS), value=hostile)
def test_child_spec_takes_any_value_for_any_field(field, value):
    settings_: dict[str, Any] = {"name": "echo", "actor_class": Echo, field: value}
    spec = accepts_or_refuses(lambda: ChildSpec(**settings_))
    if spec is not None:
        assert isinstance(spec.pool_size, int)
        assert 1 <= spec.pool_size <= 1024
        assert 1 <= spec.effective_mailbox_size <= 10_000_000
        assert 0 < spec.effective_ask_timeout < math.inf
        assert 0 < spec.shutdown_timeout < math.inf
        assert isinstance(spec.args, tuple)
        assert all(isinstance(key, str) for key in spec.kwargs)


SUPERVISOR_FIELDS = ["name", "children", "strategy", "max_restarts", "within_seconds",
                     "restart_backoff", "restart", "shutdown_timeout"]


@BOUNDED
@given(field=st.sampled_from(SUPERVISOR_FIELDS), value=hostile)
def test_supervisor_spec_takes_any_value_for_any_field(field, value):
    settings_: dict[str, Any] = {"name": "shop", "children": [], field: value}
    spec = accepts_or_refuses(lambda: SupervisorSpec(**settings_))
    if spec is not None:
        assert isinstance(spec.children, tuple)
        assert isinstance(spec.restart_backoff, RetryPolicy)
        assert 0 < spec.within_seconds < math.inf


SYSTEM_FIELDS = ["children", "name", "strategy", "max_restarts", "within_seconds",
                 "restart_backoff", "dead_letter_capacity", "shutdown_timeout",
                 "start_timeout", "rng", "clock"]


@BOUNDED
@given(field=st.sampled_from(SYSTEM_FIELDS), value=hostile)
def test_actor_system_takes_any_value_for_any_setting(field, value):
    system = accepts_or_refuses(lambda: ActorSystem(**{field: value}))
    if system is not None:
        assert 0 < system.shutdown_timeout < math.inf
        assert not system.running  # constructing starts nothing


@BOUNDED
@given(max_restarts=hostile, within=hostile)
def test_restart_intensity_takes_any_values(max_restarts, within):
    intensity = accepts_or_refuses(lambda: RestartIntensity(max_restarts, within))
    if intensity is not None:
        assert isinstance(intensity.allow(0.0), bool)


@BOUNDED
@given(capacity=hostile)
def test_dead_letter_store_takes_any_capacity(capacity):
    store = accepts_or_refuses(lambda: DeadLetterStore(capacity))
    if store is not None:
        assert store.capacity >= 1


@BOUNDED
@given(timeout=hostile)
def test_reply_future_takes_any_default_timeout(timeout):
    future = accepts_or_refuses(lambda: ReplyFuture(timeout, "svc"))
    if future is not None:
        future.set("done")
        assert future.get() == "done"


def still_runs_timers(scheduler: Scheduler) -> bool:
    done = threading.Event()
    scheduler.call_later(0.0, done.set)
    return done.wait(5)


class Odd(BaseException):
    pass


def raising(error: BaseException) -> Callable[[], None]:
    def callback() -> None:
        raise error

    return callback


callbacks = st.one_of(
    st.just(lambda: None),
    st.sampled_from([RuntimeError("x"), Odd(), GeneratorExit(), RecursionError(),
                     OverflowError(), MemoryError()]).map(raising),
    hostile,  # mostly not callable at all
)


def test_scheduler_survives_any_delay_and_any_callback():
    scheduler = Scheduler(name="hostile-scheduler")
    try:
        @BOUNDED
        @given(delay=hostile, callback=callbacks)
        def check(delay: Any, callback: Any) -> None:
            handle = accepts_or_refuses(lambda: scheduler.call_later(delay, callback))
            if handle is not None:
                handle.cancel()  # far-off timers must not pile up callbacks for later
                if callable(callback):
                    accepts_or_refuses(lambda: scheduler.call_later(0.0, callback))

        check()
        assert still_runs_timers(scheduler)
        assert scheduler.restarts == 0
    finally:
        scheduler.stop()
    with pytest.raises(SystemNotRunning):
        scheduler.call_later(0.0, lambda: None)


def test_refs_take_any_timeout_and_any_message(no_thread_leaks):
    with ActorSystem([ChildSpec("echo", Echo)], rng=random.Random(1)) as system:
        echo = system.service("echo")

        @BOUNDED
        @given(timeout=hostile, message=hostile)
        def check(timeout: Any, message: Any) -> None:
            accepts_or_refuses(lambda: echo.tell(message))
            accepts_or_refuses(lambda: echo.ask(message, timeout=timeout))
            future = accepts_or_refuses(lambda: echo.ask(message, block=False, timeout=timeout))
            if future is not None:
                accepts_or_refuses(lambda: future.get(timeout=timeout))
            accepts_or_refuses(lambda: asyncio.run(echo.ask_async(message, timeout=timeout)))

        check()
        assert echo.ask("still answering", timeout=5) == "still answering"
        assert echo.restarts == 0
        assert system.running


def test_system_entry_points_take_any_name_and_spec(no_thread_leaks):
    with ActorSystem([ChildSpec("echo", Echo)], rng=random.Random(1)) as system:

        @BOUNDED
        @given(value=hostile)
        def check(value: Any) -> None:
            accepts_or_refuses(lambda: system.service(value))
            accepts_or_refuses(lambda: system.tell(value, "hello"))
            accepts_or_refuses(lambda: system.which_children(value))
            accepts_or_refuses(lambda: system.start_child(value))
            accepts_or_refuses(lambda: system.start_child(ChildSpec("late", Echo),
                                                          parent=value, timeout=5))
            # None or a real number of seconds waits, as documented; the rest is refused.
            if value is not None and not (is_finite_number(value) and value > 0.01):
                accepts_or_refuses(lambda: system.wait_failed(value))

        check()
        assert system.service("echo").ask("fine", timeout=5) == "fine"
        assert system.running


def test_calls_after_stop_raise_typed_errors(no_thread_leaks):
    system = ActorSystem([ChildSpec("echo", Echo)])
    with system:
        echo = system.service("echo")
    for call in (lambda: echo.tell("x"), lambda: echo.ask("x", timeout=1),
                 lambda: asyncio.run(echo.ask_async("x", timeout=1)),
                 lambda: system.service("echo"), lambda: system.tell("echo", "x"),
                 lambda: system.start_child(ChildSpec("late", Echo)),
                 system.which_children, system.start):
        with pytest.raises(StanchionError):
            call()
    assert system.shutdown() is True  # a second shutdown is a no-op
    with pytest.raises(ConfigError):
        system.shutdown(math.nan)
